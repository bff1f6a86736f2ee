//! `verimath bench check`: answer-checker throughput and latency on the 270 labelled
//! pairs, against Math-Verify run on the same pairs in the same run.
//!
//! Our checker runs the pair set `--rounds` times and reports pairs/s and the p50/p99
//! latency of one pair. With `--reference PYTHON` (a Python with Math-Verify, see
//! `scripts/install-math-verify.sh`), the same pairs go through Math-Verify with the
//! same per-pair options; the report adds its figures, the speed ratio and how often
//! the two checkers agree.

use answer::{batch, check, Options};
use anyhow::Context;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// The labelled pairs (Apache-2.0, from Math-Verify's tests; see the answer crate's
/// `tests/data/LICENSE.md`).
const CASES: &str = include_str!("../../../answer/tests/data/equivalence_cases.jsonl");

/// Runs Math-Verify on the pairs: argv = cases path, rounds; prints one JSON object
/// with the first round's verdicts and every latency in seconds.
const REFERENCE_SCRIPT: &str = r#"
import json, sys, time
from math_verify import parse, verify, LatexExtractionConfig, ExprExtractionConfig

path, rounds = sys.argv[1], int(sys.argv[2])
cases = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]

def targets(cfg):
    out = []
    for m in cfg.get("match_types") or ["latex", "expr"]:
        if m == "latex":
            out.append(LatexExtractionConfig(boxed_match_priority=0))
        elif m == "expr":
            out.append(ExprExtractionConfig())
    return out

def judge(case):
    cfg = case.get("config") or {}
    if cfg.get("kind") == "default":
        return verify(parse(case["gold"]), parse(case["pred"]))
    t = targets(cfg)
    gold, pred = parse(case["gold"], t), parse(case["pred"], t)
    return verify(gold, pred,
                  float_rounding=cfg.get("precision") or 6,
                  strict=cfg.get("strict", True),
                  allow_set_relation_comp=cfg.get("allow_set_relation_comp", False))

verdicts, latencies = [], []
for r in range(rounds):
    for case in cases:
        t0 = time.perf_counter()
        try:
            v = bool(judge(case))
        except Exception:
            v = None
        latencies.append(time.perf_counter() - t0)
        if r == 0:
            verdicts.append(v)
print(json.dumps({"verdicts": verdicts, "latencies": latencies}))
"#;

/// Flags of `verimath bench check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Times our checker runs over the pair set.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// A Python interpreter with Math-Verify installed; runs it on the same pairs.
    #[arg(long, value_name = "PYTHON")]
    reference: Option<PathBuf>,
    /// Times Math-Verify runs over the pair set (it is slow).
    #[arg(long, default_value_t = 1)]
    reference_rounds: usize,
    /// Pair file to use instead of the built-in labelled set (same layout).
    #[arg(long, value_name = "FILE.jsonl")]
    cases: Option<PathBuf>,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

struct Case {
    gold: String,
    pred: String,
    expected: Option<bool>,
    opts: Options,
}

fn load(text: &str) -> anyhow::Result<Vec<Case>> {
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Value =
            serde_json::from_str(line).with_context(|| format!("case line {}", n + 1))?;
        let obj = v
            .as_object()
            .with_context(|| format!("case line {} is not an object", n + 1))?;
        let field = |k: &str| {
            obj.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        out.push(Case {
            gold: field("gold"),
            pred: field("pred"),
            expected: obj.get("expected").and_then(Value::as_bool),
            opts: batch::line_options(obj, &Options::default()).map_err(anyhow::Error::msg)?,
        });
    }
    Ok(out)
}

/// Throughput and latency percentiles of one checker.
struct Figures {
    pairs_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

fn figures(mut lat_s: Vec<f64>, total_s: f64) -> Figures {
    lat_s.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if lat_s.is_empty() {
            return 0.0;
        }
        let k = ((lat_s.len() as f64 - 1.0) * p).round() as usize;
        lat_s[k.min(lat_s.len() - 1)] * 1e6
    };
    Figures {
        pairs_per_s: lat_s.len() as f64 / total_s.max(1e-12),
        p50_us: pct(0.50),
        p99_us: pct(0.99),
    }
}

fn agreement(a: &[Option<bool>], b: &[Option<bool>]) -> (usize, usize) {
    let n = a.len().min(b.len());
    let same = (0..n)
        .filter(|&i| a[i].unwrap_or(false) == b[i].unwrap_or(false))
        .count();
    (same, n)
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let (text, path) = match &args.cases {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
            p.clone(),
        ),
        None => {
            // Math-Verify reads the pairs from a file.
            let p =
                std::env::temp_dir().join(format!("verimath-cases-{}.jsonl", std::process::id()));
            std::fs::write(&p, CASES).context("writing the pair file for the reference")?;
            (CASES.to_string(), p)
        }
    };
    let cases = load(&text)?;
    anyhow::ensure!(!cases.is_empty(), "no pairs to check");
    let rounds = args.rounds.max(1);

    let mut ours: Vec<Option<bool>> = Vec::with_capacity(cases.len());
    let mut lat = Vec::with_capacity(cases.len() * rounds);
    let start = Instant::now();
    for r in 0..rounds {
        for c in &cases {
            let t = Instant::now();
            let v = check(&c.gold, &c.pred, &c.opts);
            lat.push(t.elapsed().as_secs_f64());
            if r == 0 {
                ours.push(v.equivalent);
            }
        }
    }
    let ours_fig = figures(lat, start.elapsed().as_secs_f64());
    let labels: Vec<Option<bool>> = cases.iter().map(|c| c.expected).collect();
    let labelled = labels.iter().all(Option::is_some);
    let (ours_ok, n) = agreement(&ours, &labels);

    let mut report = serde_json::json!({
        "pairs": cases.len(),
        "rounds": rounds,
        "ours": {
            "pairs_per_s": ours_fig.pairs_per_s,
            "p50_us": ours_fig.p50_us,
            "p99_us": ours_fig.p99_us,
            "label_agreement": if labelled { Value::from(ours_ok as f64 / n as f64) } else { Value::Null },
        },
    });
    if !args.json {
        println!("pairs: {} x {rounds} rounds", cases.len());
        println!(
            "verimath:    {:>10.0} pairs/s   p50 {:>9.1} us   p99 {:>9.1} us",
            ours_fig.pairs_per_s, ours_fig.p50_us, ours_fig.p99_us
        );
        if labelled {
            println!(
                "  agreement with labels: {ours_ok}/{n} ({:.2}%)",
                100.0 * ours_ok as f64 / n as f64
            );
        }
    }

    if let Some(py) = &args.reference {
        let out = Command::new(py)
            .arg("-c")
            .arg(REFERENCE_SCRIPT)
            .arg(&path)
            .arg(args.reference_rounds.max(1).to_string())
            .output()
            .with_context(|| format!("cannot run {}", py.display()))?;
        anyhow::ensure!(
            out.status.success(),
            "the reference failed (is Math-Verify installed? scripts/install-math-verify.sh): {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        let v: Value = serde_json::from_slice(&out.stdout)
            .or_else(|_| {
                // Math-Verify may log to stdout before the result line.
                let s = String::from_utf8_lossy(&out.stdout);
                serde_json::from_str(s.lines().last().unwrap_or(""))
            })
            .context("reading the reference's output")?;
        let theirs: Vec<Option<bool>> = v["verdicts"]
            .as_array()
            .map(|a| a.iter().map(Value::as_bool).collect())
            .unwrap_or_default();
        let their_lat: Vec<f64> = v["latencies"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let total: f64 = their_lat.iter().sum();
        let ref_fig = figures(their_lat, total);
        let (ref_ok, _) = agreement(&theirs, &labels);
        let (both, m) = agreement(&ours, &theirs);
        let speedup = ours_fig.pairs_per_s / ref_fig.pairs_per_s.max(1e-12);
        report["reference"] = serde_json::json!({
            "pairs_per_s": ref_fig.pairs_per_s,
            "p50_us": ref_fig.p50_us,
            "p99_us": ref_fig.p99_us,
            "label_agreement": if labelled { Value::from(ref_ok as f64 / n as f64) } else { Value::Null },
            "agreement_with_ours": both as f64 / m.max(1) as f64,
            "speedup": speedup,
        });
        if !args.json {
            println!(
                "Math-Verify: {:>10.1} pairs/s   p50 {:>9.1} us   p99 {:>9.1} us",
                ref_fig.pairs_per_s, ref_fig.p50_us, ref_fig.p99_us
            );
            if labelled {
                println!(
                    "  agreement with labels: {ref_ok}/{n} ({:.2}%)",
                    100.0 * ref_ok as f64 / n as f64
                );
            }
            println!("speed ratio (verimath / Math-Verify): {speedup:.0}x");
            println!("verdict agreement verimath vs Math-Verify: {both}/{m}");
        }
    }
    if args.cases.is_none() {
        let _ = std::fs::remove_file(&path);
    }
    if args.json {
        println!("{report}");
    }
    Ok(0)
}
