//! Times one tensor in both layouts in one process: as repacked into 16-row tiles
//! for the 512-bit kernels, and rebuilt in the file's layout, calls alternating so
//! that drift in the machine's speed moves both alike.
//!
//! `cargo run --release -p gguf --example tiled_vs_rows -- MODEL.gguf TENSOR`
//!
//! `BATCHES=1,4,16` picks the batch sizes. Prints, per batch size, the median time
//! per call of each and the median of the paired ratios (tiled / rows). Needs a CPU
//! where the repack happens (AVX-512 VNNI) and a Q4_K or Q6_K tensor.

use std::time::Instant;

use gguf::{GgufFile, Layout, QMatrix};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(name)) = (args.next(), args.next()) else {
        return Err("usage: tiled_vs_rows MODEL.gguf TENSOR".into());
    };
    let file = GgufFile::open_for_kernels(&path)?;
    let t = file.tensor(&name).ok_or("no such tensor")?;
    let tiled = QMatrix::from_tensor(&file, t)?;
    if tiled.layout != Layout::Tiles16 {
        return Err(format!("{name} is not tiled on this CPU").into());
    }
    let mut flat = Vec::new();
    tiled.rows_into(0, tiled.rows, &mut flat);
    let rows = QMatrix::new(tiled.dtype, tiled.rows, tiled.cols, &flat)?;
    let batches: Vec<usize> = std::env::var("BATCHES")
        .ok()
        .map(|s| s.split(',').filter_map(|b| b.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4, 8, 16, 32, 64, 512]);
    for batch in batches {
        let xs: Vec<f32> = (0..batch * tiled.cols)
            .map(|i| ((i * 7919) % 13) as f32 - 6.0)
            .collect();
        let mut out = vec![0f32; batch * tiled.rows];
        let (mut a, mut b, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..(200 / batch).max(5) {
            let t0 = Instant::now();
            tiled.matmul(&xs, batch, &mut out);
            let t1 = Instant::now();
            rows.matmul(&xs, batch, &mut out);
            let (ta, tb) = ((t1 - t0).as_secs_f64(), t1.elapsed().as_secs_f64());
            a.push(ta);
            b.push(tb);
            ratio.push(ta / tb);
        }
        println!(
            "{name} {} batch {batch:4}: tiled {:.4} ms, rows {:.4} ms, ratio {:.2}",
            tiled.dtype.name(),
            median(&mut a) * 1e3,
            median(&mut b) * 1e3,
            median(&mut ratio)
        );
    }
    Ok(())
}
