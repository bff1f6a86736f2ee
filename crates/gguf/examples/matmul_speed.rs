//! Times `QMatrix::matmul` on the test model's real tensors.
//!
//! `cargo run --release -p gguf --example matmul_speed [-- MODEL.gguf]`
//!
//! Prints, per tensor and batch size, the median milliseconds per call and the
//! weight bytes streamed per second; then the cost of one decode step's worth of
//! matmuls (every layer plus the output head, batch 1), which bounds tokens/s.
//! Small tensors fit in cache, so their GB/s exceed memory bandwidth; the full sweep
//! does not.

use std::time::{Duration, Instant};

use gguf::{GgufFile, Isa, QMatrix};
use rayon::prelude::*;

fn default_model() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("VERIMATH_TEST_MODEL") {
        return p.into();
    }
    let cache = std::env::var_os("VERIMATH_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|p| std::path::PathBuf::from(p).join("verimath"))
        })
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/verimath")
        });
    cache.join("models/gemma-3-270m-q4_k_m.gguf")
}

/// CPU time (user + system) used by this process so far, from `/proc/self/stat`
/// (clock ticks, assumed 100 Hz); `None` off Linux.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Timing of repeated calls: median wall time, and mean CPU time per call, which is
/// steadier than wall time when other processes compete for the cores.
struct Timing {
    wall: Duration,
    cpu: Option<Duration>,
}

/// Times `f` over repeated runs lasting about `budget` in total.
fn median(budget: Duration, mut f: impl FnMut()) -> Timing {
    f();
    let mut times = Vec::new();
    let start = Instant::now();
    let cpu0 = cpu_time();
    while start.elapsed() < budget || times.len() < 5 {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    let cpu = cpu0
        .zip(cpu_time())
        .map(|(a, b)| b.saturating_sub(a) / times.len() as u32);
    times.sort();
    Timing {
        wall: times[times.len() / 2],
        cpu,
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.4}", d.as_secs_f64() * 1e3))
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let path = std::env::args()
        .nth(1)
        .map(Into::into)
        .unwrap_or_else(default_model);
    let t = Instant::now();
    let file = GgufFile::open_for_kernels(&path)?;
    println!("open: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    println!(
        "kernels: {:?}, threads: {}",
        Isa::detect(),
        gguf::pool::threads()
    );
    let names = [
        "blk.0.attn_q.weight",
        "blk.0.attn_k.weight",
        "blk.0.attn_v.weight",
        "blk.0.attn_output.weight",
        "blk.0.ffn_gate.weight",
        "blk.0.ffn_down.weight",
        "token_embd.weight",
        "output.weight",
    ];
    println!(
        "{:28} {:5} {:>12} {:>5} {:>10} {:>8} {:>10}",
        "tensor", "type", "rows x cols", "batch", "ms/call", "GB/s", "cpu-ms"
    );
    // `MATMUL_SPEED_ONLY=substring` limits the per-tensor table (quicker experiments).
    let only = std::env::var("MATMUL_SPEED_ONLY").unwrap_or_default();
    // `MATMUL_SPEED_BATCHES=1,16` picks the batch sizes (prompt prefill runs batches
    // of hundreds; parallel decoding, one vector per sequence).
    let batches: Vec<usize> = std::env::var("MATMUL_SPEED_BATCHES")
        .ok()
        .map(|s| s.split(',').filter_map(|b| b.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 4, 16, 64, 256]);
    for name in names.into_iter().filter(|n| n.contains(only.as_str())) {
        let Some(t) = file.tensor(name) else {
            continue;
        };
        let m = QMatrix::from_tensor(&file, t)?;
        for &batch in &batches {
            let xs: Vec<f32> = (0..batch * m.cols).map(|i| (i % 7) as f32 - 3.0).collect();
            let mut out = vec![0f32; batch * m.rows];
            let d = median(Duration::from_millis(300), || {
                m.matmul(&xs, batch, &mut out)
            });
            println!(
                "{:28} {:5} {:>12} {:>5} {:>10.4} {:>8.1} {:>10}",
                name,
                m.dtype.name(),
                format!("{}x{}", m.rows, m.cols),
                batch,
                d.wall.as_secs_f64() * 1e3,
                m.data.len() as f64 / d.wall.as_secs_f64() / 1e9,
                ms(d.cpu)
            );
        }
    }

    // Reference: how fast can the same threads merely read the output head's bytes?
    if let Some(t) = file.tensor("token_embd.weight") {
        let data = file.tensor_data(t);
        let d = median(Duration::from_millis(500), || {
            let sum: u64 = data
                .par_chunks(1 << 20)
                .map(|c| {
                    c.chunks_exact(8)
                        .map(|w| {
                            u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])
                        })
                        .fold(0u64, u64::wrapping_add)
                })
                .reduce(|| 0, u64::wrapping_add);
            std::hint::black_box(sum);
        });
        println!(
            "read-only reference over token_embd: {:.2} ms, {:.1} GB/s, cpu {} ms",
            d.wall.as_secs_f64() * 1e3,
            data.len() as f64 / d.wall.as_secs_f64() / 1e9,
            ms(d.cpu)
        );
    }

    // One decode step: every 2-D weight once (layers and output head), batch 1;
    // `MATMUL_SPEED_SWEEP=0` skips it (for profiling the table's calls alone).
    if std::env::var("MATMUL_SPEED_SWEEP").is_ok_and(|v| v == "0") {
        return Ok(());
    }
    let mats: Vec<QMatrix> = file
        .tensors()
        .iter()
        .filter(|t| t.dims.len() == 2)
        .map(|t| QMatrix::from_tensor(&file, t))
        .collect::<Result<_, _>>()?;
    let bytes: usize = mats.iter().map(|m| m.data.len()).sum();
    let xs: Vec<Vec<f32>> = mats
        .iter()
        .map(|m| (0..m.cols).map(|i| (i % 5) as f32 * 0.1).collect())
        .collect();
    let mut outs: Vec<Vec<f32>> = mats.iter().map(|m| vec![0f32; m.rows]).collect();
    let d = median(Duration::from_secs(2), || {
        for ((m, x), o) in mats.iter().zip(&xs).zip(&mut outs) {
            m.matmul(x, 1, o);
        }
    });
    println!(
        "decode sweep: {} matmuls, {:.1} MB, {:.2} ms/token, {:.1} GB/s, {:.0} tok/s bound, cpu {} ms/token",
        mats.len(),
        bytes as f64 / 1e6,
        d.wall.as_secs_f64() * 1e3,
        bytes as f64 / d.wall.as_secs_f64() / 1e9,
        1.0 / d.wall.as_secs_f64(),
        ms(d.cpu)
    );
    Ok(())
}
