//! The benchmarks `verimath eval --dataset NAME` knows, compiled into the binary from
//! the repository's `data/` folder (see `data/README.md` for sources and licenses), and
//! the choice of which problems of a dataset to run.

use store::Problem;

/// What a dataset asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Problems with a short final answer, checked against the gold answer.
    Answer,
    /// Problems that ask for a proof, graded by the verifier (and a judge).
    Proof,
}

/// A built-in dataset.
#[derive(Debug, Clone, Copy)]
pub struct Dataset {
    /// The name given to `--dataset`.
    pub name: &'static str,
    pub kind: Kind,
    /// Upstream source and license, as `data/README.md` gives them.
    pub source: &'static str,
    /// The JSONL records.
    pub text: &'static str,
}

macro_rules! data {
    ($file:literal) => {
        include_str!(concat!("../../../data/", $file))
    };
}

/// Every built-in dataset.
pub const DATASETS: &[Dataset] = &[
    Dataset {
        name: "gsm8k",
        kind: Kind::Answer,
        source: "GSM8K test split, openai/grade-school-math (MIT)",
        text: data!("gsm8k_test.jsonl"),
    },
    Dataset {
        name: "math500",
        kind: Kind::Answer,
        source: "MATH-500, openai/prm800k via hkust-nlp/simpleRL-reason (MIT)",
        text: data!("math500.jsonl"),
    },
    Dataset {
        name: "aime2024",
        kind: Kind::Answer,
        source: "AIME 2024 I+II, Qwen2.5-Math evaluation data (MIT)",
        text: data!("aime2024.jsonl"),
    },
    Dataset {
        name: "aime2025",
        kind: Kind::Answer,
        source: "AIME 2025 I+II, inclusionAI/AReaL evaluation data (Apache-2.0)",
        text: data!("aime2025.jsonl"),
    },
    Dataset {
        name: "imo-answerbench",
        kind: Kind::Answer,
        source: "IMO-AnswerBench, google-deepmind/superhuman (CC-BY-4.0)",
        text: data!("imo_answerbench.jsonl"),
    },
    Dataset {
        name: "olympiadbench",
        kind: Kind::Answer,
        source: "OlympiadBench OE maths EN comp, OpenBMB/OlympiadBench via Qwen2.5-Math (MIT)",
        text: data!("olympiadbench_oe_maths_en_comp.jsonl"),
    },
    Dataset {
        name: "imo-proofbench",
        kind: Kind::Proof,
        source: "IMO-ProofBench v2, google-deepmind/superhuman (CC-BY-4.0)",
        text: data!("imo_proofbench.jsonl"),
    },
    Dataset {
        name: "deepseek-math-v2",
        kind: Kind::Proof,
        source: "DeepSeekMath-V2 inputs: IMO 2025, CMO 2024/2025, Putnam 2024 (Apache-2.0)",
        text: data!("deepseek_math_v2_inputs.jsonl"),
    },
    Dataset {
        name: "putnambench",
        kind: Kind::Proof,
        source: "PutnamBench informal statements, trishullab/PutnamBench (Apache-2.0 / MIT)",
        text: data!("putnambench_informal.jsonl"),
    },
    Dataset {
        name: "minif2f",
        kind: Kind::Proof,
        source: "miniF2F informal statements, facebookresearch/miniF2F (MIT)",
        text: data!("minif2f_informal.jsonl"),
    },
];

/// DeepSeekMath-V2's 84 released proofs with verifier and human grades
/// (`verimath calibrate`'s default input).
pub const DEEPSEEK_MATH_V2_OUTPUTS: &str = data!("deepseek_math_v2_outputs.jsonl");

/// Errors choosing a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("unknown dataset {name:?}: use one of {known}, or a .jsonl file")]
    Unknown { name: String, known: String },
    #[error(transparent)]
    Input(#[from] store::InputError),
}

/// The dataset of a name.
pub fn by_name(name: &str) -> Option<&'static Dataset> {
    DATASETS.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

/// The problems a run is about: a built-in dataset or a JSONL/JSON file.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The dataset's name, or the file's path.
    pub name: String,
    pub kind: Kind,
    pub problems: Vec<Problem>,
}

/// Load `name_or_path`: a built-in name, else a file. A file is an answer dataset when
/// most of its problems carry an `answer`, unless `kind` says otherwise.
pub fn load(name_or_path: &str, kind: Option<Kind>) -> Result<Loaded, DatasetError> {
    if let Some(d) = by_name(name_or_path) {
        let problems = store::parse_problems(d.text, d.name)?;
        return Ok(Loaded {
            name: d.name.to_string(),
            kind: kind.unwrap_or(d.kind),
            problems,
        });
    }
    let path = std::path::Path::new(name_or_path);
    if !path.exists() {
        return Err(DatasetError::Unknown {
            name: name_or_path.to_string(),
            known: DATASETS
                .iter()
                .map(|d| d.name)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let problems = store::load_problems(path)?;
    let with_answer = problems.iter().filter(|p| p.answer.is_some()).count();
    let guessed = if with_answer * 2 > problems.len() {
        Kind::Answer
    } else {
        Kind::Proof
    };
    Ok(Loaded {
        name: name_or_path.to_string(),
        kind: kind.unwrap_or(guessed),
        problems,
    })
}

/// Which problems of a dataset to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection {
    /// Skip this many problems first.
    pub offset: usize,
    /// At most this many problems.
    pub limit: Option<usize>,
    /// With a limit: take problems from every subject (or level) in proportion to its
    /// size instead of the first ones, so a small run covers the whole dataset.
    pub stratified: bool,
}

/// Apply a selection. Stratified selection groups by `subject` (then `level`), gives
/// each group its proportional share of the limit (largest remainders first) and takes
/// the first problems of each group in file order, so it is deterministic.
pub fn select(problems: Vec<Problem>, sel: Selection) -> Vec<Problem> {
    let rest: Vec<Problem> = problems.into_iter().skip(sel.offset).collect();
    let Some(limit) = sel.limit else { return rest };
    if !sel.stratified || limit >= rest.len() {
        return rest.into_iter().take(limit).collect();
    }
    let stratum = |p: &Problem| {
        format!(
            "{}|{}",
            p.info_str("subject").unwrap_or_default(),
            p.info_str("level").unwrap_or_default()
        )
    };
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, p) in rest.iter().enumerate() {
        let s = stratum(p);
        match groups.iter_mut().find(|g| g.0 == s) {
            Some(g) => g.1.push(i),
            None => groups.push((s, vec![i])),
        }
    }
    let total = rest.len() as f64;
    let mut quota: Vec<(usize, f64)> = groups
        .iter()
        .map(|g| {
            let exact = limit as f64 * g.1.len() as f64 / total;
            (exact.floor() as usize, exact - exact.floor())
        })
        .collect();
    let mut left = limit - quota.iter().map(|q| q.0).sum::<usize>();
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| quota[b].1.total_cmp(&quota[a].1));
    for &g in &order {
        if left == 0 {
            break;
        }
        if quota[g].0 < groups[g].1.len() {
            quota[g].0 += 1;
            left -= 1;
        }
    }
    let mut chosen: Vec<usize> = groups
        .iter()
        .zip(&quota)
        .flat_map(|(g, q)| g.1.iter().take(q.0).copied())
        .collect();
    chosen.sort_unstable();
    let mut rest: Vec<Option<Problem>> = rest.into_iter().map(Some).collect();
    chosen.into_iter().filter_map(|i| rest[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dataset_loads_with_its_kind() {
        for d in DATASETS {
            let l = load(d.name, None).unwrap_or_else(|e| panic!("{}: {e}", d.name));
            assert!(!l.problems.is_empty(), "{}", d.name);
            if d.kind == Kind::Answer {
                let missing = l.problems.iter().filter(|p| p.answer.is_none()).count();
                assert_eq!(missing, 0, "{}: problems without a gold answer", d.name);
            }
        }
        assert_eq!(load("gsm8k", None).unwrap().problems.len(), 1319);
        assert_eq!(load("math500", None).unwrap().problems.len(), 500);
        assert!(matches!(
            load("no-such-set", None),
            Err(DatasetError::Unknown { .. })
        ));
    }

    #[test]
    fn stratified_selection_covers_every_subject_in_proportion() {
        let all = load("math500", None).unwrap().problems;
        let pick = select(
            all.clone(),
            Selection {
                limit: Some(100),
                stratified: true,
                ..Selection::default()
            },
        );
        assert_eq!(pick.len(), 100);
        let count = |v: &[Problem], s: &str| {
            v.iter()
                .filter(|p| p.info_str("subject").as_deref() == Some(s))
                .count()
        };
        // 124 of 500 are Algebra: about 25 of 100.
        assert!((23..=27).contains(&count(&pick, "Algebra")));
        assert!(count(&pick, "Geometry") >= 7);
        let again = select(
            all,
            Selection {
                limit: Some(100),
                stratified: true,
                ..Selection::default()
            },
        );
        let keys = |v: &[Problem]| v.iter().map(|p| p.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&pick), keys(&again), "deterministic");
    }

    #[test]
    fn offset_and_limit() {
        let all = load("gsm8k", None).unwrap().problems;
        let pick = select(
            all.clone(),
            Selection {
                offset: 10,
                limit: Some(5),
                stratified: false,
            },
        );
        assert_eq!(pick.len(), 5);
        assert_eq!(pick[0].key, all[10].key);
    }
}
