//! `verimath report`: one self-contained HTML file (inline SVG plots drawn with
//! plotters, inline CSS, no scripts, no network) and a JSON summary beside it.
//!
//! Sections per run: the metrics table with 95% intervals; accuracy against k for
//! pass@k, majority and weighted votes; how verification and self-evaluation scores
//! are distributed over right and wrong answers; per-subject and per-level bars; token
//! use. With several runs, a side-by-side table comes first. A calibration run adds
//! the verifier-against-human scatter and agreement table.

use crate::answers::{self, AnswerSummary, Record};
use crate::calibration::{Agreement, Calibration};
use crate::checker::Checker;
use crate::stats::Estimate;
use crate::summary::EvalSummary;
use plotters::prelude::*;
use search::solve::SolveConfig;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// One run as the report shows it.
pub struct RunReport {
    /// The name the report gives the run (its file name).
    pub name: String,
    pub summary: Option<EvalSummary>,
    /// Per-problem records of an answer run (for the score distributions).
    pub records: Vec<Record>,
    pub calibration: Option<Calibration>,
}

impl RunReport {
    /// Read everything the report needs from a run database.
    pub fn load(name: &str, store: &store::Store) -> Result<RunReport, String> {
        let calibration = crate::calibration::from_store(store, None).map_err(|e| e.to_string())?;
        let summary = match crate::summary::summarize(store, name) {
            _ if calibration.is_some() => None,
            Ok(s) => Some(s),
            Err(e) => return Err(format!("{name}: {e}")),
        };
        let records = match &summary {
            Some(s) if s.answers.is_some() => {
                let cfg: SolveConfig = store
                    .config("solve")
                    .ok()
                    .flatten()
                    .and_then(|c| serde_json::from_str(&c).ok())
                    .unwrap_or_default();
                answers::records(store, &cfg, &Checker::new(), None).map_err(|e| e.to_string())?
            }
            _ => Vec::new(),
        };
        Ok(RunReport {
            name: name.to_string(),
            summary,
            records,
            calibration,
        })
    }
}

/// Colours of the series, in order.
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(e: &Estimate) -> String {
    format!(
        "{:.1}% <span class=ci>[{:.1}, {:.1}]</span>",
        100.0 * e.value,
        100.0 * e.ci95[0],
        100.0 * e.ci95[1]
    )
}

/// Order metric names as a reader expects: pass@k by k, then the votes, then rates.
fn metric_order(names: &BTreeSet<String>) -> Vec<String> {
    let rank = |n: &str| -> (u32, u64) {
        let k = n
            .rsplit('@')
            .next()
            .and_then(|k| k.parse::<u64>().ok())
            .unwrap_or(0);
        let family = if n.starts_with("pass@") {
            0
        } else if n.starts_with("maj@") {
            1
        } else if n.starts_with("weighted@") {
            2
        } else if n.starts_with("self_weighted@") {
            3
        } else {
            4
        };
        (family, k)
    };
    let mut v: Vec<String> = names.iter().cloned().collect();
    v.sort_by_key(|n| rank(n));
    v
}

/// A line chart of accuracy against k (log scale) for each voting method.
fn accuracy_chart(a: &AnswerSummary) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let max_k = *a.curves.k.last().unwrap_or(&1) as f64;
        let x_max = max_k.log2().max(1.0);
        let mut chart = ChartBuilder::on(&root)
            .caption("accuracy against k", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(-0.1..x_max + 0.1, 0.0..100.0)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("k (samples)")
            .y_desc("% correct")
            .x_label_formatter(&|x| format!("{}", 2f64.powf(*x).round()))
            .x_labels(a.curves.k.len().max(2))
            .draw()
            .map_err(|e| e.to_string())?;
        let series: [(&str, &Vec<Estimate>); 4] = [
            ("pass@k", &a.curves.pass),
            ("majority vote", &a.curves.majority),
            ("verification-weighted", &a.curves.weighted),
            ("self-evaluation-weighted", &a.curves.self_weighted),
        ];
        for (i, (label, values)) in series.iter().enumerate() {
            if values.is_empty() {
                continue;
            }
            let colour = PALETTE[i];
            let points: Vec<(f64, f64)> = a
                .curves
                .k
                .iter()
                .zip(values.iter())
                .map(|(k, e)| ((*k as f64).log2(), 100.0 * e.value))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(*label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 3, colour.filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Histograms of a per-sample score (0 to 1) for right and for wrong answers.
fn score_histogram(title: &str, right: &[f64], wrong: &[f64]) -> Result<String, String> {
    const BINS: usize = 5;
    let bin = |v: f64| ((v * BINS as f64).floor() as usize).min(BINS - 1);
    let mut counts = [[0usize; BINS]; 2];
    for (side, values) in [right, wrong].iter().enumerate() {
        for &v in values.iter() {
            counts[side][bin(v)] += 1;
        }
    }
    let top = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..1.0, 0.0..top * 1.1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("score")
            .y_desc("samples")
            .draw()
            .map_err(|e| e.to_string())?;
        let width = 1.0 / BINS as f64;
        for (side, (label, colour)) in
            [("right answers", PALETTE[2]), ("wrong answers", PALETTE[3])]
                .into_iter()
                .enumerate()
        {
            let offset = side as f64 * width / 2.0;
            let c = counts[side];
            chart
                .draw_series((0..BINS).map(|b| {
                    let x0 = b as f64 * width + offset;
                    Rectangle::new(
                        [(x0 + 0.005, 0.0), (x0 + width / 2.0 - 0.005, c[b] as f64)],
                        colour.mix(0.8).filled(),
                    )
                }))
                .map_err(|e| e.to_string())?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Horizontal bars, one group per label, one bar per series.
fn bars(
    title: &str,
    unit: &str,
    labels: &[String],
    series: &[(&str, Vec<f64>)],
) -> Result<String, String> {
    let rows = labels.len().max(1);
    let height = 70 + rows as u32 * (16 * series.len().max(1) as u32 + 22);
    let top = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, height.max(160))).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(10)
            .build_cartesian_2d(0.0..top * 1.45, 0.0..rows as f64)
            .map_err(|e| e.to_string())?;
        // Each group is labelled above its bars, inside the plot (long labels such as
        // subject names do not fit an axis).
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_desc(unit)
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(labels.iter().enumerate().map(|(row, name)| {
                Text::new(
                    name.clone(),
                    (top * 0.005, rows as f64 - row as f64 - 0.04),
                    ("sans-serif", 12).into_font(),
                )
            }))
            .map_err(|e| e.to_string())?;
        let band = 0.6 / series.len().max(1) as f64;
        for (si, (label, values)) in series.iter().enumerate() {
            let colour = PALETTE[si % PALETTE.len()];
            chart
                .draw_series(values.iter().enumerate().map(|(row, v)| {
                    let y_top = rows as f64 - row as f64 - 0.3 - si as f64 * band;
                    Rectangle::new(
                        [(0.0, y_top - band), (*v, y_top)],
                        colour.mix(0.85).filled(),
                    )
                }))
                .map_err(|e| e.to_string())?
                .label(*label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Verifier mean against human grade, ours and the reference verifier's.
fn calibration_scatter(c: &Calibration) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "verifier mean score against human grade",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(-0.05..1.05, -0.05..1.05)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("human grade (0-1)")
            .y_desc("verifier mean score")
            .draw()
            .map_err(|e| e.to_string())?;
        // Small deterministic jitter so that identical pairs stay visible.
        let jitter = |i: usize| ((i * 37 % 11) as f64 - 5.0) * 0.006;
        let ours = PALETTE[0];
        chart
            .draw_series(c.proofs.iter().enumerate().map(|(i, p)| {
                Circle::new(
                    (p.human + jitter(i), p.mean + jitter(i + 3)),
                    4,
                    ours.mix(0.7).filled(),
                )
            }))
            .map_err(|e| e.to_string())?
            .label(format!("ours ({})", c.verifier_model))
            .legend(move |(x, y)| Circle::new((x + 6, y), 4, ours.filled()));
        let reference = PALETTE[1];
        chart
            .draw_series(c.proofs.iter().enumerate().filter_map(|(i, p)| {
                p.reference.map(|r| {
                    TriangleMarker::new(
                        (p.human + jitter(i + 5), r + jitter(i + 7)),
                        4,
                        reference.mix(0.7).filled(),
                    )
                })
            }))
            .map_err(|e| e.to_string())?
            .label("DeepSeekMath-V2's verifier (reference)")
            .legend(move |(x, y)| TriangleMarker::new((x + 6, y), 4, reference.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn agreement_rows(out: &mut String, label: &str, a: &Agreement) {
    let _ = write!(
        out,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td></tr>",
        esc(label),
        a.proofs,
        opt(a.spearman, 3),
        opt(a.kendall, 3),
        a.mae,
        opt(a.false_pass.map(|v| 100.0 * v), 1),
        opt(a.false_fail.map(|v| 100.0 * v), 1),
    );
}

fn confusion_table(out: &mut String, label: &str, a: &Agreement) {
    let _ = write!(
        out,
        "<table class=small><caption>{}: human grade (rows) by verifier mean (columns)</caption>\
         <tr><th></th><th>&lt; 0.25</th><th>0.25–0.75</th><th>≥ 0.75</th></tr>",
        esc(label)
    );
    for (row, name) in [
        ("fail", "below half marks"),
        ("partial", "half or more"),
        ("full", "full marks"),
    ] {
        let r = &a.confusion[row];
        let _ = write!(
            out,
            "<tr><th>{name}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
            r["0"], r["0.5"], r["1"]
        );
    }
    out.push_str("</table>");
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:1em 0}\
td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}\
.ci{color:#888;font-size:.85em}.small{font-size:.9em}caption{text-align:left;color:#555;padding:4px 0}\
.note{color:#555}svg{max-width:100%;height:auto;display:block;margin:1em 0}";

/// Render the report of `runs`.
pub fn render(runs: &[RunReport]) -> Result<String, String> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>verimath report</title>\
         <style>{STYLE}</style></head><body><h1>verimath evaluation report</h1>"
    );
    h.push_str(
        "<p class=note>Intervals are 95%: Wilson intervals for proportions, mean ± 1.96 \
         standard errors over problems otherwise. pass@k is the unbiased estimator from K \
         samples; votes at k &lt; K are averaged over subsets of k samples.</p>",
    );
    let evals: Vec<(&RunReport, &EvalSummary)> = runs
        .iter()
        .filter_map(|r| r.summary.as_ref().map(|s| (r, s)))
        .collect();
    if evals.len() > 1 {
        h.push_str("<h2>Side by side</h2><table><tr><th>metric</th>");
        for (r, s) in &evals {
            let _ = write!(
                h,
                "<th>{}<br><span class=ci>{} · {}</span></th>",
                esc(&r.name),
                esc(&s.dataset),
                esc(&s.model)
            );
        }
        h.push_str("</tr>");
        let names: BTreeSet<String> = evals
            .iter()
            .flat_map(|(_, s)| s.metrics.keys().cloned())
            .collect();
        for m in metric_order(&names) {
            let _ = write!(h, "<tr><td>{}</td>", esc(&m));
            for (_, s) in &evals {
                match s.metrics.get(&m) {
                    Some(e) => {
                        let _ = write!(h, "<td>{}</td>", pct(e));
                    }
                    None => h.push_str("<td>–</td>"),
                }
            }
            h.push_str("</tr>");
        }
        h.push_str("<tr><td>problems</td>");
        for (_, s) in &evals {
            let _ = write!(h, "<td>{}</td>", s.problems);
        }
        h.push_str("</tr><tr><td>completion tokens per sample</td>");
        for (_, s) in &evals {
            let _ = write!(h, "<td>{:.0}</td>", s.tokens.completion_per_sample);
        }
        h.push_str("</tr></table>");
    }
    if !evals.is_empty() {
        let labels: Vec<String> = evals.iter().map(|(r, _)| r.name.clone()).collect();
        let per_sample: Vec<f64> = evals
            .iter()
            .map(|(_, s)| s.tokens.completion_per_sample)
            .collect();
        let per_correct: Vec<f64> = evals
            .iter()
            .map(|(_, s)| s.tokens.per_correct_answer.unwrap_or(0.0))
            .collect();
        h.push_str("<h2>Tokens per answer</h2>");
        h.push_str(&bars(
            "completion tokens per sample and per correct answer",
            "completion tokens",
            &labels,
            &[
                ("per sample", per_sample),
                ("per correct answer", per_correct),
            ],
        )?);
    }
    for run in runs {
        let _ = write!(h, "<h2>{}</h2>", esc(&run.name));
        if let Some(s) = &run.summary {
            eval_section(&mut h, run, s)?;
        }
        if let Some(c) = &run.calibration {
            calibration_section(&mut h, c)?;
        }
    }
    h.push_str("</body></html>\n");
    Ok(h)
}

fn eval_section(h: &mut String, run: &RunReport, s: &EvalSummary) -> Result<(), String> {
    let _ = write!(
        h,
        "<p>dataset <b>{}</b> · model <b>{}</b> · {} problems · {} samples each · \
         wall {:.0} s ({:.1} s per problem)</p>",
        esc(&s.dataset),
        esc(if s.model.is_empty() { "?" } else { &s.model }),
        s.problems,
        s.samples,
        s.wall_s,
        s.wall_per_problem_s
    );
    h.push_str("<table><tr><th>metric</th><th>value [95% interval]</th></tr>");
    let names: BTreeSet<String> = s.metrics.keys().cloned().collect();
    for m in metric_order(&names) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(&m),
            pct(&s.metrics[&m])
        );
    }
    h.push_str("</table>");
    let _ = write!(
        h,
        "<p>tokens: {} prompt + {} completion; {:.0} per problem; {:.0} completion tokens per \
         sample; {} per correct answer</p>",
        s.tokens.prompt,
        s.tokens.completion,
        s.tokens.per_problem,
        s.tokens.completion_per_sample,
        opt(s.tokens.per_correct_answer, 0)
    );
    if let Some(a) = &s.answers {
        h.push_str(&accuracy_chart(a)?);
        let (mut right_v, mut wrong_v, mut right_s, mut wrong_s) = (vec![], vec![], vec![], vec![]);
        for r in &run.records {
            for (i, c) in r.classes.iter().enumerate() {
                let ok = c.is_some_and(|c| r.class_correct[c]);
                let (v, sf) = if ok {
                    (&mut right_v, &mut right_s)
                } else {
                    (&mut wrong_v, &mut wrong_s)
                };
                v.push(r.verification[i]);
                sf.push(r.self_score[i]);
            }
        }
        if a.verified {
            h.push_str(&score_histogram(
                "mean verification score of right and wrong answers",
                &right_v,
                &wrong_v,
            )?);
        }
        h.push_str(&score_histogram(
            "self-evaluation score of right and wrong answers",
            &right_s,
            &wrong_s,
        )?);
        for (title, table) in [("by subject", &a.by_subject), ("by level", &a.by_level)] {
            if table.is_empty() {
                continue;
            }
            subgroup_table(h, title, table, a.samples, a.verified);
            let labels: Vec<String> = table
                .iter()
                .map(|(k, t)| format!("{k} ({})", t.problems))
                .collect();
            let k = a.samples;
            let get = |name: &str| -> Vec<f64> {
                table
                    .values()
                    .map(|t| 100.0 * t.metrics.get(name).map_or(0.0, |e| e.value))
                    .collect()
            };
            let mut series = vec![
                ("pass@1", get("pass@1")),
                ("majority", get(&format!("maj@{k}"))),
            ];
            let wname = format!("weighted@{k}");
            if a.verified {
                series.push(("verification-weighted", get(&wname)));
            }
            h.push_str(&bars(
                &format!("accuracy {title}"),
                "% correct",
                &labels,
                &series,
            )?);
        }
    }
    if let Some(p) = &s.proofs {
        let _ = write!(
            h,
            "<p>mean judge grade: {} of 7</p>",
            opt(p.mean_grade_of_7, 2)
        );
    }
    Ok(())
}

/// The per-subject (or per-level) figures as a table.
fn subgroup_table(
    h: &mut String,
    title: &str,
    table: &std::collections::BTreeMap<String, answers::Table>,
    k: usize,
    verified: bool,
) {
    let mut cols = vec!["pass@1".to_string(), format!("maj@{k}")];
    if verified {
        cols.push(format!("weighted@{k}"));
    }
    let _ = write!(
        h,
        "<table class=small><caption>{}</caption><tr><th></th><th>problems</th>",
        esc(title)
    );
    for c in &cols {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>");
    for (name, t) in table {
        let _ = write!(h, "<tr><td>{}</td><td>{}</td>", esc(name), t.problems);
        for c in &cols {
            match t.metrics.get(c) {
                Some(e) => {
                    let _ = write!(h, "<td>{}</td>", pct(e));
                }
                None => h.push_str("<td>–</td>"),
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

fn calibration_section(h: &mut String, c: &Calibration) -> Result<(), String> {
    let _ = write!(
        h,
        "<h3>Verifier calibration</h3><p>{} proofs, {} verifications each by <b>{}</b> \
         ({} of {} followed the output protocol; a proof whose verifications all failed to \
         parse counts as score 0). A verifier passes a proof at mean ≥ 0.75; humans fail it \
         below half marks.</p>",
        c.proofs.len(),
        c.verifications,
        esc(&c.verifier_model),
        c.parsed,
        c.stored
    );
    h.push_str(
        "<table><tr><th>verifier</th><th>proofs</th><th>Spearman</th><th>Kendall</th>\
         <th>MAE</th><th>false pass %</th><th>false fail %</th></tr>",
    );
    agreement_rows(h, &format!("ours ({})", c.verifier_model), &c.ours);
    if let Some(r) = &c.reference {
        agreement_rows(h, "DeepSeekMath-V2's verifier (reference)", r);
    }
    h.push_str("</table>");
    confusion_table(h, "ours", &c.ours);
    if let Some(r) = &c.reference {
        confusion_table(h, "reference", r);
    }
    h.push_str(&calibration_scatter(c)?);
    Ok(())
}
