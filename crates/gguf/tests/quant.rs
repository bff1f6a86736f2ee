//! Reference dequantizers against hand-derived blocks, and quantize → dequantize
//! round trips for every format the reference quantizers write.

use gguf::blocks::{blocks_as_bytes, BlockQ4K, BlockQ4_0, BlockQ5_0, BlockQ6K, BlockQ8_0};
use gguf::half::f32_to_f16;
use gguf::{dequantize, quantize, GgmlType};

fn h(x: f32) -> [u8; 2] {
    f32_to_f16(x).to_le_bytes()
}

fn decode(t: GgmlType, bytes: &[u8]) -> Vec<f32> {
    let n = bytes.len() / t.type_size() * t.block_size();
    let mut out = vec![f32::NAN; n];
    dequantize(t, bytes, &mut out).unwrap();
    out
}

#[test]
fn q4_0_by_hand() {
    let mut b = BlockQ4_0 {
        d: h(0.5),
        qs: [0x88; 16],
    };
    b.qs[0] = 0x9f;
    let y = decode(GgmlType::Q4_0, blocks_as_bytes(&[b]));
    assert_eq!(y[0], 3.5); // 0.5 * (15 - 8)
    assert_eq!(y[16], 0.5); // 0.5 * (9 - 8)
    assert_eq!(y[1], 0.0);
}

#[test]
fn q5_0_by_hand() {
    let mut b = BlockQ5_0 {
        d: h(1.0),
        qh: 1u32.to_le_bytes(),
        qs: [0; 16],
    };
    b.qs[0] = 0x3f;
    let y = decode(GgmlType::Q5_0, blocks_as_bytes(&[b]));
    assert_eq!(y[0], 15.0); // (15 | 16) - 16
    assert_eq!(y[16], -13.0); // 3 - 16, fifth bit clear
    assert_eq!(y[1], -16.0);
}

#[test]
fn q8_0_by_hand() {
    let mut b = BlockQ8_0 {
        d: h(2.0),
        qs: [0; 32],
    };
    b.qs[5] = -3;
    let y = decode(GgmlType::Q8_0, blocks_as_bytes(&[b]));
    assert_eq!(y[5], -6.0);
    assert_eq!(y.iter().filter(|&&v| v != 0.0).count(), 1);
}

#[test]
fn q4_k_by_hand() {
    let mut b = BlockQ4K {
        d: h(1.0),
        dmin: h(0.5),
        scales: [0; 12],
        qs: [0; 128],
    };
    // Group 0: scale 2, min 4. Group 5: scale 37, min 19 (six bits split across bytes).
    b.scales[0] = 2;
    b.scales[4] = 4;
    b.scales[9] = (37 & 0xf) | ((19 & 0xf) << 4);
    b.scales[1] |= (37 >> 4) << 6;
    b.scales[5] |= (19 >> 4) << 6;
    b.qs[0] = 0x73;
    b.qs[64] = 0xa0;
    let y = decode(GgmlType::Q4_K, blocks_as_bytes(&[b]));
    assert_eq!(y[0], 4.0); // 1*2*3 - 0.5*4
    assert_eq!(y[1], -2.0); // q = 0
    assert_eq!(y[32], 0.0); // group 1 has scale 0, min 0
    assert_eq!(y[160], 360.5); // 1*37*10 - 0.5*19
    assert_eq!(y[128], 0.0); // group 4 (low nibble of qs[64]) has scale 0, min 0
    assert_eq!(y[161], -9.5); // q = 0 in group 5 leaves only the min
}

#[test]
fn q6_k_by_hand() {
    let mut b = BlockQ6K {
        ql: [0; 128],
        qh: [0; 64],
        scales: [0; 16],
        d: h(1.0),
    };
    b.scales[0] = 3;
    b.scales[4] = -2;
    b.scales[6] = 1;
    b.ql[0] = 0x21;
    b.ql[32] = 0x50;
    b.qh[0] = 0b11_10_01_00;
    let y = decode(GgmlType::Q6_K, blocks_as_bytes(&[b]));
    assert_eq!(y[0], -93.0); // 3 * ((1 | 0 << 4) - 32)
    assert_eq!(y[32], 0.0); // scales[2] = 0
    assert_eq!(y[64], -4.0); // -2 * ((2 | 2 << 4) - 32)
    assert_eq!(y[96], 21.0); // 1 * ((5 | 3 << 4) - 32)
}

/// Deterministic test signal whose groups differ in scale and offset, so the
/// per-group scales and mins of the K-quants are exercised.
fn signal(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    let mut rnd = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let scale = 0.1 + 2.0 * (rnd() + 1.0);
        let offset = 0.3 * rnd();
        for _ in 0..32 {
            out.push(scale * rnd() + offset * scale);
        }
    }
    out
}

fn rel_rms(a: &[f32], b: &[f32]) -> f32 {
    let err: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let sig: f32 = a.iter().map(|x| x * x).sum();
    (err / sig).sqrt()
}

#[test]
fn round_trips_within_format_error() {
    let x = signal(4096, 7);
    for (t, bound) in [
        (GgmlType::F32, 0.0),
        (GgmlType::F16, 1e-3),
        (GgmlType::BF16, 8e-3),
        (GgmlType::Q8_0, 0.008),
        (GgmlType::Q8_K, 0.008),
        (GgmlType::Q6_K, 0.03),
        (GgmlType::Q5_0, 0.05),
        (GgmlType::Q5_K, 0.06),
        (GgmlType::Q4_0, 0.1),
        (GgmlType::Q4_K, 0.12),
    ] {
        let bytes = quantize(t, &x).unwrap();
        assert_eq!(bytes.len() as u64, t.bytes_for(x.len() as u64).unwrap());
        let y = decode(t, &bytes);
        let e = rel_rms(&x, &y);
        assert!(e <= bound, "{t}: relative rms error {e} > {bound}");
        // A layout mix-up would leave errors as large as the values themselves.
        let worst = x
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b).abs() / (a.abs() + 1.0))
            .fold(0f32, f32::max);
        assert!(worst < 0.5, "{t}: worst error {worst}");
    }
}

#[test]
fn exact_values_survive_q8_0() {
    let x: Vec<f32> = (0..32).map(|i| (i as f32 - 16.0) * 0.25).collect();
    let mut x = x;
    x[0] = -31.75; // amax = 127 * 0.25, so d = 0.25 exactly
    let y = decode(GgmlType::Q8_0, &quantize(GgmlType::Q8_0, &x).unwrap());
    assert_eq!(x, y);
}

#[test]
fn zero_blocks_stay_zero() {
    let x = vec![0f32; 512];
    for t in [
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q5_0,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
    ] {
        let y = decode(t, &quantize(t, &x).unwrap());
        assert!(y.iter().all(|&v| v == 0.0), "{t}");
    }
}

#[test]
fn length_mismatch_is_an_error() {
    let mut out = vec![0f32; 31];
    assert!(dequantize(GgmlType::Q8_0, &[0u8; 34], &mut out).is_err());
    assert!(quantize(GgmlType::Q4_K, &[0f32; 100]).is_err());
}
