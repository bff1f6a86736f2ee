//! `verimath report`: one self-contained HTML file of one or more evaluation and
//! calibration runs (tables with intervals, plots, a side-by-side comparison), and a
//! JSON summary beside it (`FILE.json`).

use anyhow::Context;
use eval::report::{render, RunReport};
use std::path::PathBuf;
use store::Store;

/// Flags of `verimath report`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A run database of `eval`, `solve`, `prove` or `calibrate`; repeat to compare.
    #[arg(long = "run", value_name = "PATH", required = true)]
    runs: Vec<PathBuf>,
    /// The HTML file to write (its JSON summary goes beside it, as .json).
    #[arg(long, value_name = "FILE.html", default_value = "report.html")]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let mut reports = Vec::new();
    for path in &args.runs {
        anyhow::ensure!(path.is_file(), "no run database at {}", path.display());
        let store = Store::open(path).with_context(|| format!("opening {}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        reports.push(RunReport::load(&name, &store).map_err(anyhow::Error::msg)?);
    }
    let html = render(&reports).map_err(anyhow::Error::msg)?;
    std::fs::write(&args.out, html).with_context(|| format!("writing {}", args.out.display()))?;
    let json_path = args.out.with_extension("json");
    let summary: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            serde_json::json!({
                "run": r.name,
                "summary": r.summary,
                "calibration": r.calibration,
            })
        })
        .collect();
    std::fs::write(&json_path, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    eprintln!("wrote {} and {}", args.out.display(), json_path.display());
    Ok(0)
}
