//! `verimath check`: are two final answers equivalent?
//!
//! `verimath check GOLD PRED` extracts the answer from each text and prints the
//! verdict (`equivalent`, `different`, `no_answer` when the prediction holds no answer,
//! `undecided`) with its reason; the exit code is 0 when equivalent, 1 when different
//! or no answer, 2 when undecided. Answers may begin with `-` (`check -3 -3`).
//! `verimath check --input FILE.jsonl` checks one `{"gold", "pred"}` object per line
//! and writes one JSON line per input line, in order, each with `equivalent`, `status`
//! and `reason`.

use answer::{batch, Options, Status};
use anyhow::Context;
use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

/// Flags of `verimath check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The reference answer (any text containing it: `$\frac12$`, `\boxed{3}`, `42`,
    /// `-3`).
    #[arg(
        required_unless_present = "input",
        conflicts_with = "input",
        allow_hyphen_values = true
    )]
    gold: Option<String>,
    /// The answer to judge.
    #[arg(required_unless_present = "input", allow_hyphen_values = true)]
    pred: Option<String>,
    /// JSON Lines file (`-` for standard input): one object with `gold` and `pred` per
    /// line; lines may override the options below.
    #[arg(long, value_name = "FILE.jsonl")]
    input: Option<PathBuf>,
    /// Print the verdict as a JSON object.
    #[arg(long)]
    json: bool,
    /// Decimal places compared when either answer contains a decimal number.
    #[arg(long, value_name = "N", default_value_t = 6)]
    precision: u32,
    /// Variables must match by name (the default).
    #[arg(long, overrides_with = "no_strict")]
    strict: bool,
    /// Accept answers that are equal after renaming variables (`f(x)` vs `f(y)`).
    #[arg(long, overrides_with = "strict")]
    no_strict: bool,
    /// Let a relation in the prediction (`x > 1`) match an interval in the gold answer.
    #[arg(long)]
    allow_set_relation_comp: bool,
    /// Where answers are looked for: `latex` (math spans and boxes), `expr` (plain
    /// numbers and arithmetic in prose), `choice` (letters A-E after an answer phrase).
    #[arg(long, value_delimiter = ',', default_value = "latex,expr")]
    match_types: Vec<String>,
    /// Rank of `\boxed{}` among answer patterns: 0 = with "final answer is ... I hope"
    /// (first), 50 = with "final answer ... is", 300 = with bare math spans.
    #[arg(long, value_name = "N", default_value_t = 0)]
    boxed_priority: u32,
}

impl Args {
    fn options(&self) -> anyhow::Result<Options> {
        batch::validate_match_types(&self.match_types).map_err(anyhow::Error::msg)?;
        Ok(Options {
            precision: self.precision.min(30),
            strict: !self.no_strict,
            allow_set_relation_comp: self.allow_set_relation_comp,
            match_types: self.match_types.clone(),
            boxed_priority: self.boxed_priority,
        })
    }
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let opts = args.options()?;
    if let Some(path) = &args.input {
        return run_file(path, &opts);
    }
    let (Some(gold), Some(pred)) = (&args.gold, &args.pred) else {
        anyhow::bail!("give GOLD and PRED, or --input FILE.jsonl");
    };
    let v = answer::check(gold, pred, &opts);
    if args.json {
        let out = serde_json::json!({
            "gold": gold,
            "pred": pred,
            "equivalent": v.equivalent,
            "status": v.status,
            "reason": v.reason,
        });
        println!("{out}");
    } else {
        let word = match v.status {
            Status::Equivalent => "equivalent",
            Status::Different => "not equivalent",
            Status::NoAnswer => "not equivalent (no answer found)",
            Status::Undecided => "undecided",
        };
        println!("{word}: {}", v.reason);
    }
    Ok(match v.equivalent {
        Some(true) => 0,
        Some(false) => 1,
        None => 2,
    })
}

/// One output line per input line; blank lines are skipped.
fn run_file(path: &PathBuf, opts: &Options) -> anyhow::Result<i32> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Box::new(std::io::BufReader::new(f))
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for (n, line) in reader.split(b'\n').enumerate() {
        let bytes =
            line.with_context(|| format!("reading line {} of {}", n + 1, path.display()))?;
        // Invalid UTF-8 is a malformed line, not an abort.
        let line = String::from_utf8_lossy(&bytes);
        if line.trim().is_empty() {
            continue;
        }
        let v = batch::check_line(&line, opts);
        writeln!(out, "{v}")?;
    }
    out.flush()?;
    Ok(0)
}
