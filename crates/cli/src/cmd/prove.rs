//! `verimath prove`: the self-verifying proof search on one problem or a file of them.
//!
//! Settings start from a preset (`heavy`, the paper's setting, by default with a
//! server; `quick` with the local engine) and every knob can be set by a flag. Every
//! sample goes to the run database as it arrives; running the same command with the
//! same `--run` resumes and requests only the samples not stored yet.

use crate::backend::{self, BackendArgs};
use anyhow::Context;
use eval::checker::Checker;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use search::solve::{answers_disagree, Disagreement};
use search::{Outcome, Preset, Search, SearchConfig, SearchEvent, SearchParts, Templates};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use store::{Problem, Store};

/// Flags of `verimath prove`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The problem statement (or use --problem-file).
    #[arg(value_name = "PROBLEM")]
    pub problem: Option<String>,
    /// JSON or JSONL problems: `question` (or `problem`), optional `problem_idx`.
    #[arg(
        long,
        visible_alias = "input",
        value_name = "F",
        conflicts_with = "problem"
    )]
    pub problem_file: Option<PathBuf>,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub key: crate::backend::KeyArgs,
    /// Starting settings: heavy (64×64, 16 rounds) or quick (4×4, 1 round). Default:
    /// quick on the local engine, heavy with --backend.
    #[arg(long, value_enum)]
    pub preset: Option<PresetArg>,
    #[command(flatten)]
    pub search: search::SearchFlags,
    /// Directory of prompt templates replacing the built-in ones of the same name.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Run database; the same path resumes (default: a new file under ./runs/).
    #[arg(long, value_name = "PATH")]
    pub run: Option<PathBuf>,
    /// Print one JSON object per problem on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum PresetArg {
    Heavy,
    Quick,
}

impl PresetArg {
    /// The preset chosen, or the default: quick on the local engine, heavy on a server.
    pub fn resolve(choice: Option<PresetArg>, local: bool) -> Preset {
        match choice {
            Some(PresetArg::Heavy) => Preset::Heavy,
            Some(PresetArg::Quick) => Preset::Quick,
            None if local => Preset::Quick,
            None => Preset::Heavy,
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let problems = load_problems(&args)?;
    let cfg = search_config(&args);
    let templates = match &args.templates {
        Some(dir) => Templates::load_dir(dir)?,
        None => Templates::default(),
    };
    let run_path = args.run.clone().unwrap_or_else(default_run_path);
    let store = Arc::new(
        Store::open(&run_path).with_context(|| format!("opening {}", run_path.display()))?,
    );
    let backends = backend::build(&args.key.with(&args.backend))?;
    eprintln!(
        "run database: {} (run the same command again to resume)",
        run_path.display()
    );
    let runtime = tokio::runtime::Runtime::new()?;
    let outcomes = runtime.block_on(async move {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let progress = tokio::spawn(show_progress(rx));
        let search = Search::new(SearchParts {
            generator: backends.generator,
            verifier: backends.verifier,
            generator_model: backends.generator_model,
            verifier_model: backends.verifier_model,
            store,
            templates,
            cfg,
            events: Some(tx),
        })?;
        let outcomes = search.prove_all(&problems).await;
        drop(search); // closes the event channel, ending the progress task
        let _ = progress.await;
        anyhow::Ok(outcomes)
    })?;
    let mut errors = 0;
    let checker = Checker::new();
    for outcome in outcomes {
        match outcome {
            Ok(o) => {
                let disagreement = top_answers_disagree(&o, &checker);
                if args.json {
                    let mut value = serde_json::to_value(&o)?;
                    value["answer_disagreement"] = serde_json::to_value(&disagreement)?;
                    println!("{value}");
                } else {
                    print_summary(&o);
                    if let Some(d) = &disagreement {
                        print_disagreement(d);
                    }
                }
            }
            Err(e) => {
                errors += 1;
                eprintln!("error: {e}");
            }
        }
    }
    Ok(if errors > 0 { 1 } else { 0 })
}

fn load_problems(args: &Args) -> anyhow::Result<Vec<Problem>> {
    match (&args.problem, &args.problem_file) {
        (Some(q), None) if !q.trim().is_empty() => Ok(vec![Problem::statement("1", q)]),
        (None, Some(path)) => Ok(store::load_problems(path)?),
        _ => anyhow::bail!("give a problem statement, or a file of problems with --problem-file"),
    }
}

/// The preset, then every flag that was given.
fn search_config(args: &Args) -> SearchConfig {
    let preset = PresetArg::resolve(args.preset, args.backend.is_local());
    args.search.apply(preset.config())
}

/// `runs/YYYYMMDD-HHMMSS-PID.sqlite`: new for every invocation.
pub fn default_run_path() -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    PathBuf::from(format!(
        "runs/{year:04}{month:02}{day:02}-{:02}{:02}{:02}-{}.sqlite",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        std::process::id()
    ))
}

/// Progress bars on a terminal: one line per problem with its round, samples done of
/// samples queued, tokens and best mean score. Hidden when stderr is not a terminal.
async fn show_progress(mut rx: tokio::sync::mpsc::UnboundedReceiver<SearchEvent>) {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let multi = MultiProgress::with_draw_target(target);
    let style = ProgressStyle::with_template(
        "{prefix:>12} [{bar:30}] {pos}/{len} samples {msg} ({elapsed})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    #[derive(Default)]
    struct Line {
        round: u32,
        tokens: u64,
        best: Option<f64>,
    }
    let mut bars: HashMap<String, (ProgressBar, Line)> = HashMap::new();
    while let Some(event) = rx.recv().await {
        let problem = match &event {
            SearchEvent::RoundStarted { problem, .. }
            | SearchEvent::Queued { problem, .. }
            | SearchEvent::SampleDone { problem, .. }
            | SearchEvent::Resumed { problem, .. }
            | SearchEvent::BestSoFar { problem, .. }
            | SearchEvent::RequestFailed { problem, .. }
            | SearchEvent::ProblemDone { problem, .. } => problem.clone(),
        };
        let (bar, line) = bars.entry(problem.clone()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(0).with_style(style.clone()));
            bar.set_prefix(problem.clone());
            (bar, Line::default())
        });
        match event {
            SearchEvent::RoundStarted { round, .. } => line.round = round,
            SearchEvent::Queued { samples, .. } => bar.inc_length(u64::from(samples)),
            SearchEvent::SampleDone { tokens, .. } => {
                line.tokens += tokens;
                bar.inc(1);
            }
            SearchEvent::BestSoFar { mean_score, .. } => line.best = Some(mean_score),
            SearchEvent::RequestFailed { error, .. } => {
                multi.suspend(|| eprintln!("{problem}: request failed: {error}"));
            }
            SearchEvent::ProblemDone { solved, .. } => {
                bar.finish_with_message(if solved { "solved" } else { "done" });
                continue;
            }
            SearchEvent::Resumed { .. } => {}
        }
        let best = line.best.map_or("-".to_string(), |b| format!("{b:.3}"));
        bar.set_message(format!(
            "round {} | {} tokens | best {best}",
            line.round, line.tokens
        ));
    }
}

/// Whether the best-ranked proofs state different final answers. When they do, at
/// least one of them is wrong however well it was verified, so the result deserves a
/// second look.
fn top_answers_disagree(o: &Outcome, checker: &Checker) -> Option<Disagreement> {
    let texts: Vec<&str> = o.top_proofs.iter().map(String::as_str).collect();
    answers_disagree(&texts, checker)
}

fn print_disagreement(d: &Disagreement) {
    let answers: Vec<String> = d
        .groups
        .iter()
        .map(|g| format!("{} ({} proofs)", g.answer, g.members.len()))
        .collect();
    println!(
        "  warning: the best proofs reach different final answers: {}\n",
        answers.join(", ")
    );
}

/// Why the reported best proof did not pass although no verification found fault in
/// it, or `None` when it passed or a verification scored it below 1.
fn why_not_passed(solved: bool, b: &search::BestProof) -> Option<&'static str> {
    let all_one = !b.verifications.is_empty()
        && b.verifications
            .iter()
            .all(|v| v.score == Some(1.0) || !v.counted);
    if solved || !all_one {
        return None;
    }
    if !b.parsed {
        return Some(
            "it does not follow the output protocol (no self-evaluation was found), \
             and only such proofs can pass",
        );
    }
    Some("not every planned verification of it is stored (an interrupted run resumes them)")
}

fn print_summary(o: &Outcome) {
    let status = if o.solved { "SOLVED" } else { "not solved" };
    println!(
        "Problem {}: {status} (stopped: {:?}, last round {})",
        o.problem_idx, o.stop, o.rounds
    );
    println!(
        "  samples: {} proofs, {} verifications, {} meta-verifications ({} unparsable)",
        o.samples.proofs, o.samples.verifications, o.samples.metas, o.samples.unparsable
    );
    println!(
        "  tokens: {} prompt ({} from the prompt cache) + {} completion in {} requests",
        o.usage.prompt_tokens,
        o.usage.cached_prompt_tokens,
        o.usage.completion_tokens,
        o.usage.requests
    );
    match &o.best {
        Some(b) => {
            let mean = b
                .mean_score
                .map_or("unverified".into(), |m| format!("{m:.3}"));
            let passed = b
                .verifications
                .iter()
                .filter(|v| v.score == Some(1.0))
                .count();
            println!(
                "  best proof {} (round {}): mean score {mean}, {passed}/{} verifications scored 1",
                b.proof_id,
                b.round,
                b.verifications.len()
            );
            if let Some(why) = why_not_passed(o.solved, b) {
                println!("  it did not pass: {why}");
            }
            println!();
            println!("{}\n", b.proof.trim());
        }
        None => println!("  no proof followed the output protocol\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::why_not_passed;
    use search::outcome::VerificationSummary;
    use search::BestProof;

    fn best(parsed: bool, scores: &[Option<f64>]) -> BestProof {
        BestProof {
            proof_id: "p0".into(),
            proof: "proof".into(),
            mean_score: Some(1.0),
            self_score: parsed.then_some(1.0),
            parsed,
            verifications: scores
                .iter()
                .enumerate()
                .map(|(i, &score)| VerificationSummary {
                    id: format!("v{i}"),
                    score,
                    parsed: score.is_some(),
                    counted: true,
                    text: String::new(),
                })
                .collect(),
            round: 0,
        }
    }

    #[test]
    fn an_unparsable_proof_scored_one_everywhere_says_why_it_failed() {
        let all_one = [Some(1.0); 4];
        let why = why_not_passed(false, &best(false, &all_one)).unwrap();
        assert!(why.contains("output protocol"), "{why}");
        let why = why_not_passed(false, &best(true, &all_one)).unwrap();
        assert!(why.contains("planned verification"), "{why}");
        assert_eq!(why_not_passed(true, &best(true, &all_one)), None);
        // A verification below 1 explains itself.
        let doubted = [Some(1.0), Some(0.5)];
        assert_eq!(why_not_passed(false, &best(false, &doubted)), None);
    }
}
