//! Fast matmul kernels against the reference: dequantize each row, f32 dot in f64.

use gguf::{dequantize, quantize, GgmlType, Isa, QMatrix};

struct Lcg(u64);
impl Lcg {
    fn f(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f()).collect()
    }
}

/// Reference product and, per output, the scale of its terms (sum |w x|) that
/// bounds the error activation quantization can introduce.
fn reference(m: &QMatrix, xs: &[f32], batch: usize) -> (Vec<f32>, Vec<f32>) {
    let mut out = vec![0f32; batch * m.rows];
    let mut mag = vec![0f32; batch * m.rows];
    let mut row = vec![0f32; m.cols];
    for r in 0..m.rows {
        dequantize(m.dtype, m.row_data(r), &mut row).unwrap();
        for b in 0..batch {
            let x = &xs[b * m.cols..(b + 1) * m.cols];
            let dot: f64 = row.iter().zip(x).map(|(&w, &x)| w as f64 * x as f64).sum();
            let abs: f64 = row.iter().zip(x).map(|(&w, &x)| (w * x).abs() as f64).sum();
            out[b * m.rows + r] = dot as f32;
            mag[b * m.rows + r] = abs as f32;
        }
    }
    (out, mag)
}

fn check(dtype: GgmlType, data: &[u8], rows: usize, cols: usize, seed: u64) {
    check_batches(dtype, data, rows, cols, seed, &[1, 3, 5, 8, 19, 37]);
}

fn check_batches(
    dtype: GgmlType,
    data: &[u8],
    rows: usize,
    cols: usize,
    seed: u64,
    batches: &[usize],
) {
    let m = QMatrix::new(dtype, rows, cols, data).unwrap();
    let mut rng = Lcg(seed);
    for &batch in batches {
        let xs = rng.vec(batch * cols);
        let (want, mag) = reference(&m, &xs, batch);
        let mut fast = vec![f32::NAN; batch * rows];
        let mut slow = vec![f32::NAN; batch * rows];
        m.matmul(&xs, batch, &mut fast);
        m.matmul_with(Isa::Scalar, &xs, batch, &mut slow);
        // Every SIMD level the CPU has, not only the one `matmul` picks.
        let levels: Vec<(&str, Vec<f32>)> = [
            ("best", Isa::detect()),
            ("avx2", Isa::Avx2),
            ("avx2vnni", Isa::Avx2Vnni),
            ("avx512vnni", Isa::Avx512Vnni),
        ]
        .into_iter()
        .map(|(name, isa)| {
            let mut v = vec![f32::NAN; batch * rows];
            m.matmul_with(isa, &xs, batch, &mut v);
            (name, v)
        })
        .collect();
        for i in 0..want.len() {
            // 8-bit activations are off by at most half a step (amax/254) each.
            let tol = mag[i] / 100.0 + 1e-4;
            assert!(
                (fast[i] - want[i]).abs() <= tol,
                "{dtype} batch {batch} out {i}: fast {} want {} tol {tol}",
                fast[i],
                want[i]
            );
            // SIMD and scalar compute the same integer sums.
            for (name, v) in levels.iter().map(|(n, v)| (n, v[i])) {
                assert!(
                    (v - slow[i]).abs() <= 1e-5 * mag[i] + 1e-5,
                    "{dtype} batch {batch} out {i}: {name} {v} scalar {}",
                    slow[i]
                );
            }
        }
    }
}

#[test]
fn quantizable_types_match_reference() {
    let (rows, cols) = (37, 512);
    for (i, t) in [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q5_0,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
    ]
    .into_iter()
    .enumerate()
    {
        let w = Lcg(100 + i as u64).vec(rows * cols);
        check(t, &quantize(t, &w).unwrap(), rows, cols, i as u64);
    }
}

/// Random blocks for types without a reference quantizer: random code bytes with
/// small, finite f16 scales written over the scale fields.
fn random_blocks(t: GgmlType, n_blocks: usize, scale_at: &[usize], seed: u64) -> Vec<u8> {
    let mut s = seed;
    let mut bytes = Vec::with_capacity(n_blocks * t.type_size());
    for _ in 0..n_blocks {
        let mut b: Vec<u8> = (0..t.type_size())
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                (s >> 56) as u8
            })
            .collect();
        for &at in scale_at {
            let h = gguf::half::f32_to_f16(0.01 + (s >> 60) as f32 * 0.001).to_le_bytes();
            b[at..at + 2].copy_from_slice(&h);
        }
        bytes.extend(b);
    }
    bytes
}

#[test]
fn fallback_types_match_reference() {
    let (rows, cols) = (9, 512);
    for (t, scales) in [
        (GgmlType::Q4_1, &[0usize, 2][..]),
        (GgmlType::Q5_1, &[0, 2][..]),
        (GgmlType::Q2_K, &[80, 82][..]),
        (GgmlType::Q3_K, &[108][..]),
        (GgmlType::Q4_K, &[0, 2][..]),
        (GgmlType::Q5_K, &[0, 2][..]),
        (GgmlType::Q6_K, &[208][..]),
        (GgmlType::Q5_0, &[0][..]),
        (GgmlType::Q4_0, &[0][..]),
    ] {
        let n_blocks = rows * cols / t.block_size();
        let data = random_blocks(t, n_blocks, scales, t.id() as u64);
        check(t, &data, rows, cols, 5);
    }
}

#[test]
fn large_matrices_split_across_threads() {
    // Big enough to be split into many work items, with a ragged last chunk.
    let (rows, cols) = (1001, 1024);
    for t in [
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q5_0,
        GgmlType::Q4_K,
        GgmlType::Q6_K,
    ] {
        let w = Lcg(9).vec(rows * cols);
        check_batches(
            t,
            &quantize(t, &w).unwrap(),
            rows,
            cols,
            3,
            &[1, 3, 8, 16, 35],
        );
    }
}

#[test]
fn detection_is_consistent() {
    let best = Isa::detect();
    assert!(best.available());
    assert!(Isa::Scalar.available());
    eprintln!("kernels: {best:?}");
}

#[test]
fn shapes_are_validated() {
    let data = vec![0u8; 34 * 4];
    assert!(QMatrix::new(GgmlType::Q8_0, 2, 64, &data).is_ok());
    assert!(QMatrix::new(GgmlType::Q8_0, 3, 64, &data).is_err());
    assert!(QMatrix::new(GgmlType::Q8_0, 4, 48, &data).is_err());
    assert!(QMatrix::new(GgmlType::IQ2_XS, 1, 256, &[0u8; 74]).is_err());
    let m = QMatrix::new(GgmlType::Q8_0, 2, 64, &data).unwrap();
    let mut row = vec![1f32; 64];
    m.dequantize_row(1, &mut row);
    assert!(row.iter().all(|&v| v == 0.0));
}

#[test]
fn long_rows_and_large_batches_are_blocked() {
    // 8192-value rows make each quantized vector ~9 KiB, so a batch of 10 runs as
    // blocks of 4, 4 and 2 vectors against every row.
    let (rows, cols) = (24, 8192);
    for t in [
        GgmlType::Q8_0,
        GgmlType::Q5_0,
        GgmlType::Q6_K,
        GgmlType::F32,
    ] {
        let w = Lcg(21).vec(rows * cols);
        check_batches(t, &quantize(t, &w).unwrap(), rows, cols, 4, &[10, 20]);
    }
}

/// Q4_K and Q6_K repacked into 16-row tiles (what `open_for_kernels` does on CPUs
/// with the 512-bit kernels) multiply as the file's layout does, on every
/// instruction set: the tile kernels (for Q6_K below `Q6_K_MAX_BATCH` vectors, with
/// its codes built once past four), the batch kernel with rows rebuilt for larger
/// Q6_K batches, the file's layout rebuilt where the 512-bit kernels do not run.
#[test]
fn tiled_k_quants_match_the_file_layout() {
    use gguf::kernels::tiles16;
    use gguf::Layout;
    let (rows, cols) = (48, 1024);
    for dtype in [GgmlType::Q4_K, GgmlType::Q6_K] {
        let w = Lcg(7).vec(rows * cols);
        let plain = quantize(dtype, &w).unwrap();
        let mut tiled = plain.clone();
        tiles16::repack(dtype, &mut tiled, rows, cols);
        let flat = QMatrix::new(dtype, rows, cols, &plain).unwrap();
        let tiles = QMatrix::new(dtype, rows, cols, &tiled)
            .unwrap()
            .with_layout(Layout::Tiles16)
            .unwrap();
        let mut a = vec![0f32; cols];
        let mut b = vec![0f32; cols];
        for r in [0, 15, 16, 47] {
            flat.dequantize_row(r, &mut a);
            tiles.dequantize_row(r, &mut b);
            assert_eq!(a, b, "{dtype} row {r}");
        }
        let mut rng = Lcg(8);
        // 230 vectors cross a block of the tile kernels' vectors (224 at this width);
        // 255 is the largest Q6_K batch on its tile kernel, 256 the smallest on the
        // batch kernel.
        assert_eq!(tiles16::Q6_K_MAX_BATCH, 256);
        for batch in [1, 2, 3, 4, 5, 7, 8, 19, 230, 255, 256] {
            let xs = rng.vec(batch * cols);
            let (_, mag) = reference(&flat, &xs, batch);
            let mut want = vec![f32::NAN; batch * rows];
            flat.matmul_with(Isa::Scalar, &xs, batch, &mut want);
            for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx2Vnni, Isa::Avx512Vnni] {
                let mut got = vec![f32::NAN; batch * rows];
                tiles.matmul_with(isa, &xs, batch, &mut got);
                for i in 0..want.len() {
                    assert!(
                        (got[i] - want[i]).abs() <= 1e-5 * mag[i] + 1e-5,
                        "{dtype} batch {batch} {isa:?} out {i}: tiled {} file layout {}",
                        got[i],
                        want[i]
                    );
                }
            }
        }
    }
    let plain = quantize(GgmlType::Q4_K, &Lcg(7).vec(8 * 256)).unwrap();
    // Only Q4_K and Q6_K in whole tiles can be tiled.
    assert!(QMatrix::new(GgmlType::Q4_K, 8, 256, &plain)
        .unwrap()
        .with_layout(Layout::Tiles16)
        .is_err());
    let q8 = quantize(GgmlType::Q8_0, &Lcg(7).vec(16 * 256)).unwrap();
    assert!(QMatrix::new(GgmlType::Q8_0, 16, 256, &q8)
        .unwrap()
        .with_layout(Layout::Tiles16)
        .is_err());
}
