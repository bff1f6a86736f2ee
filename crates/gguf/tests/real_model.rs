//! Parses the default test model and checks the header against known facts.

use gguf::{GgmlType, GgufFile};
use std::path::PathBuf;

/// Where the test model lives: `VERIMATH_TEST_MODEL`, else the shared cache directory.
fn model_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VERIMATH_TEST_MODEL") {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var_os("VERIMATH_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|p| PathBuf::from(p).join("verimath")))
        .or_else(|| std::env::var_os("HOME").map(|p| PathBuf::from(p).join(".cache/verimath")))?;
    Some(cache.join("models/gemma-3-270m-q4_k_m.gguf"))
}

fn open_model() -> Option<GgufFile> {
    // A missing model fails the test: CI installs it, and a silent pass would hide
    // that these checks never ran.
    let path =
        model_path().expect("no VERIMATH_TEST_MODEL, VERIMATH_CACHE, XDG_CACHE_HOME or HOME");
    assert!(
        path.exists(),
        "test model missing at {}: run scripts/setup.sh or set VERIMATH_TEST_MODEL",
        path.display()
    );
    let t = std::time::Instant::now();
    let f = GgufFile::open(&path).expect("test model must parse");
    eprintln!("open() took {:?}", t.elapsed());
    Some(f)
}

#[test]
fn known_keys_and_tensor_index() {
    let Some(f) = open_model() else { return };
    assert!(f.version() == 3 || f.version() == 2);
    assert_eq!(f.get_str("general.architecture"), Some("gemma3"));
    assert_eq!(f.get_u64("gemma3.block_count"), Some(18));
    assert_eq!(f.get_u64("gemma3.embedding_length"), Some(640));
    let tokens = f
        .get("tokenizer.ggml.tokens")
        .and_then(|v| v.as_array())
        .expect("vocabulary");
    assert_eq!(tokens.len(), 262144);
    assert!(tokens.iter().all(|t| t.as_str().is_some()));
    let emb = f.tensor("token_embd.weight").expect("embedding tensor");
    assert_eq!(emb.dims, vec![640, 262144]);
    assert_eq!(emb.cols(), 640);
    assert_eq!(emb.rows(), 262144);
    // 18 blocks x 13 tensors + embedding + output norm.
    assert_eq!(f.tensors().len(), 18 * 13 + 2);
}

#[test]
fn every_tensor_lies_inside_the_file() {
    let Some(f) = open_model() else { return };
    let len = f.bytes().len() as u64;
    let mut types = std::collections::BTreeSet::new();
    for t in f.tensors() {
        assert!(t.offset >= f.data_start(), "{}", t.name);
        assert_eq!((t.offset - f.data_start()) % f.alignment(), 0, "{}", t.name);
        assert!(t.offset + t.n_bytes() <= len, "{}", t.name);
        assert_eq!(f.tensor_data(t).len() as u64, t.n_bytes(), "{}", t.name);
        types.insert(t.dtype.name());
    }
    for want in [
        GgmlType::F32,
        GgmlType::Q8_0,
        GgmlType::Q4_K,
        GgmlType::Q6_K,
    ] {
        assert!(
            types.contains(want.name()),
            "expected some {want} tensor in {types:?}"
        );
    }
}

/// Every weight type in the model: the matmul kernels against the reference
/// dequantizer on the first rows of a real tensor.
#[test]
fn kernels_agree_with_reference_on_real_tensors() {
    let Some(f) = open_model() else { return };
    let names = [
        "blk.0.attn_q.weight",      // q5_0
        "blk.0.attn_v.weight",      // q8_0
        "blk.0.attn_output.weight", // q4_K
        "blk.0.ffn_down.weight",    // q6_K
    ];
    for name in names {
        let t = f.tensor(name).expect(name);
        let full = gguf::QMatrix::from_tensor(&f, t).unwrap();
        // The first 64 rows keep the test quick.
        let rows = 64.min(full.rows);
        let data = &full.data[..rows * full.row_bytes()];
        let m = gguf::QMatrix::new(full.dtype, rows, full.cols, data).unwrap();
        let batch = 5;
        let xs: Vec<f32> = (0..batch * m.cols)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let mut out = vec![0f32; batch * rows];
        m.matmul(&xs, batch, &mut out);
        let mut row = vec![0f32; m.cols];
        for r in 0..rows {
            m.dequantize_row(r, &mut row);
            assert!(
                row.iter().all(|v| v.is_finite() && v.abs() < 1e3),
                "{name} row {r}"
            );
            for b in 0..batch {
                let x = &xs[b * m.cols..(b + 1) * m.cols];
                let want: f32 = row.iter().zip(x).map(|(w, x)| w * x).sum();
                let mag: f32 = row.iter().zip(x).map(|(w, x)| (w * x).abs()).sum();
                let got = out[b * rows + r];
                assert!(
                    (got - want).abs() <= mag / 100.0 + 1e-4,
                    "{name} ({}) row {r} batch {b}: {got} vs {want}",
                    m.dtype
                );
            }
        }
    }
}
