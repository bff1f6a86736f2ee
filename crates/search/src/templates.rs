//! Prompt templates (the search's four and `solve.md`): plain files with `{question}`, `{statement}`, `{proof}`,
//! `{rating}` and `{proofs_to_refine}` placeholders.
//!
//! The defaults are compiled in from `crates/search/templates/*.md`. A directory given
//! with `--templates DIR` overrides them file by file, so a user can load the exact
//! prompts a model was trained with while keeping our defaults for the rest.
//!
//! Substitution is a single left-to-right pass that only touches the five known
//! placeholder names: LaTeX braces in a template are left alone, and a problem whose
//! text happens to contain `{proof}` is never substituted a second time.

use std::path::{Path, PathBuf};

/// Errors loading templates.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("could not read template {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template directory {0} does not exist")]
    NoDir(PathBuf),
}

/// The four prompts of the search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    /// `generation.md`: asks for `## Solution` then `## Self Evaluation`; `{question}`.
    pub generation: String,
    /// `verification.md`: grades a proof; `{statement}`, `{proof}`.
    pub verification: String,
    /// `meta_verification.md`: judges a verification; `{statement}`, `{proof}`, `{rating}`.
    pub meta_verification: String,
    /// `refinement.md`: appended to the rendered generation prompt; `{proofs_to_refine}`.
    pub refinement: String,
    /// `solve.md`: final-answer mode, asks for a boxed answer and a self-evaluation;
    /// `{question}`.
    pub solve: String,
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            generation: include_str!("../templates/generation.md").to_string(),
            verification: include_str!("../templates/verification.md").to_string(),
            meta_verification: include_str!("../templates/meta_verification.md").to_string(),
            refinement: include_str!("../templates/refinement.md").to_string(),
            solve: include_str!("../templates/solve.md").to_string(),
        }
    }
}

impl Templates {
    /// The defaults, with every file present in `dir` replacing the one of its name.
    pub fn load_dir(dir: &Path) -> Result<Templates, TemplateError> {
        if !dir.is_dir() {
            return Err(TemplateError::NoDir(dir.to_path_buf()));
        }
        let mut t = Templates::default();
        for (name, slot) in [
            ("generation.md", &mut t.generation),
            ("verification.md", &mut t.verification),
            ("meta_verification.md", &mut t.meta_verification),
            ("refinement.md", &mut t.refinement),
            ("solve.md", &mut t.solve),
        ] {
            let path = dir.join(name);
            if path.is_file() {
                *slot = std::fs::read_to_string(&path)
                    .map_err(|source| TemplateError::Read { path, source })?;
            }
        }
        Ok(t)
    }

    /// The prompt asking for a first proof.
    pub fn generation_prompt(&self, question: &str) -> String {
        render(&self.generation, &[("question", question)])
    }

    /// The final-answer prompt of `solve` and `eval`.
    pub fn solve_prompt(&self, question: &str) -> String {
        render(&self.solve, &[("question", question)])
    }

    /// The prompt asking a verifier to grade `proof`.
    pub fn verification_prompt(&self, statement: &str, proof: &str) -> String {
        render(
            &self.verification,
            &[("statement", statement), ("proof", proof)],
        )
    }

    /// The prompt asking a meta-verifier to judge the verification `rating` of `proof`.
    pub fn meta_prompt(&self, statement: &str, proof: &str, rating: &str) -> String {
        render(
            &self.meta_verification,
            &[
                ("statement", statement),
                ("proof", proof),
                ("rating", rating),
            ],
        )
    }

    /// The refinement prompt: the generation prompt followed by the candidates, each
    /// with its selected critiques.
    pub fn refinement_prompt(&self, question: &str, candidates: &[(&str, Vec<&str>)]) -> String {
        let listed = format_candidates(candidates);
        let mut prompt = self.generation_prompt(question);
        prompt.push_str(&render(
            &self.refinement,
            &[("question", question), ("proofs_to_refine", &listed)],
        ));
        prompt
    }
}

/// Lay out candidate proofs, each followed by its critiques, for `{proofs_to_refine}`.
fn format_candidates(candidates: &[(&str, Vec<&str>)]) -> String {
    let mut out = String::new();
    for (i, (proof, critiques)) in candidates.iter().enumerate() {
        out.push_str(&format!("### Attempt {}\n\n{}\n\n", i + 1, proof.trim()));
        for (j, c) in critiques.iter().enumerate() {
            out.push_str(&format!(
                "#### Review {} of attempt {}\n\n{}\n\n",
                j + 1,
                i + 1,
                c.trim()
            ));
        }
    }
    out.trim_end().to_string()
}

/// Replace `{name}` for each given name in one pass; everything else is copied as is.
pub fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let hit = values
            .iter()
            .find(|(name, _)| after.starts_with(name) && after[name.len()..].starts_with('}'));
        match hit {
            Some((name, value)) => {
                out.push_str(value);
                rest = &after[name.len() + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_is_single_pass_and_keeps_latex() {
        let t = "Q: {question}\n$\\frac{a}{b}$ {unknown} {proof}";
        let got = render(t, &[("question", "has {proof} inside"), ("proof", "P")]);
        assert_eq!(got, "Q: has {proof} inside\n$\\frac{a}{b}$ {unknown} P");
    }

    #[test]
    fn defaults_keep_the_protocol_and_placeholders() {
        let t = Templates::default();
        let g = t.generation_prompt("Show 1+1=2.");
        assert!(g.contains("Show 1+1=2.") && g.contains("## Solution"));
        assert!(g.contains("## Self Evaluation") && g.contains("\\boxed{"));
        let v = t.verification_prompt("S", "the proof");
        assert!(v.contains("the proof") && !v.contains("{proof}"));
        let m = t.meta_prompt("S", "P", "the review");
        assert!(m.contains("the review") && !m.contains("{rating}"));
        let r = t.refinement_prompt("Show 1+1=2.", &[("proof one", vec!["crit a", "crit b"])]);
        assert!(
            r.starts_with(&g),
            "refinement starts with the generation prompt"
        );
        let a = r.find("proof one").unwrap();
        assert!(
            a < r.find("crit a").unwrap() && r.find("crit a").unwrap() < r.find("crit b").unwrap()
        );
    }

    #[test]
    fn a_directory_overrides_only_the_files_it_has() {
        let dir = std::env::temp_dir().join(format!("vm-templates-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("verification.md"), "V {statement} / {proof}").unwrap();
        let t = Templates::load_dir(&dir).unwrap();
        assert_eq!(t.verification_prompt("s", "p"), "V s / p");
        assert_eq!(t.generation, Templates::default().generation);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            Templates::load_dir(&dir),
            Err(TemplateError::NoDir(_))
        ));
    }
}
