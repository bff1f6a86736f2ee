//! Builds a small two-layer qwen2-shaped model with the writer, the way other
//! crates' tests do, and reads it back through the kernels.

use gguf::{GgmlType, GgufFile, GgufWriter, QMatrix, Value};

fn ramp(n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37) % 101) as f32 / 101.0 * scale - scale / 2.0)
        .collect()
}

#[test]
fn two_layer_qwen2_round_trip() {
    let (embd, ff, vocab, layers) = (256usize, 512usize, 300usize, 2usize);
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", "qwen2")
        .add_metadata("qwen2.block_count", layers as u32)
        .add_metadata("qwen2.embedding_length", embd as u32)
        .add_metadata("qwen2.feed_forward_length", ff as u32)
        .add_metadata("qwen2.attention.head_count", 4u32)
        .add_metadata("qwen2.attention.layer_norm_rms_epsilon", 1e-6f32)
        .add_metadata("tokenizer.ggml.model", "gpt2")
        .add_metadata(
            "tokenizer.ggml.tokens",
            (0..vocab)
                .map(|i| Value::from(format!("t{i}")))
                .collect::<Vec<_>>(),
        );
    w.add_f32_tensor(
        "token_embd.weight",
        &[embd as u64, vocab as u64],
        GgmlType::F16,
        &ramp(embd * vocab, 1.0),
    )
    .unwrap();
    for l in 0..layers {
        let p = |s: &str| format!("blk.{l}.{s}");
        w.add_f32_tensor(
            &p("attn_norm.weight"),
            &[embd as u64],
            GgmlType::F32,
            &vec![1.0; embd],
        )
        .unwrap();
        w.add_f32_tensor(
            &p("attn_q.weight"),
            &[embd as u64, embd as u64],
            GgmlType::Q8_0,
            &ramp(embd * embd, 0.2),
        )
        .unwrap();
        w.add_f32_tensor(
            &p("ffn_up.weight"),
            &[embd as u64, ff as u64],
            GgmlType::Q4_K,
            &ramp(embd * ff, 0.2),
        )
        .unwrap();
        w.add_f32_tensor(
            &p("ffn_down.weight"),
            &[ff as u64, embd as u64],
            GgmlType::Q6_K,
            &ramp(ff * embd, 0.2),
        )
        .unwrap();
    }
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(f.get_u64("qwen2.block_count"), Some(2));
    assert_eq!(
        f.get_f32("qwen2.attention.layer_norm_rms_epsilon"),
        Some(1e-6)
    );
    assert_eq!(f.tensors().len(), 1 + 4 * layers);

    // x -> attn_q -> ffn_up -> ffn_down, each through the kernels, against the
    // same chain computed from dequantized rows.
    let mut x = ramp(embd, 2.0);
    let mut want = x.clone();
    for name in [
        "blk.1.attn_q.weight",
        "blk.1.ffn_up.weight",
        "blk.1.ffn_down.weight",
    ] {
        let m = QMatrix::from_tensor(&f, f.tensor(name).unwrap()).unwrap();
        let mut y = vec![0f32; m.rows];
        m.matmul(&x, 1, &mut y);
        let mut row = vec![0f32; m.cols];
        let mut y_ref = vec![0f32; m.rows];
        for (r, out) in y_ref.iter_mut().enumerate() {
            m.dequantize_row(r, &mut row);
            *out = row.iter().zip(&want).map(|(a, b)| a * b).sum();
        }
        let scale = y_ref.iter().fold(0f32, |a, v| a.max(v.abs()));
        for (a, b) in y.iter().zip(&y_ref) {
            assert!((a - b).abs() <= 0.03 * scale, "{name}: {a} vs {b}");
        }
        x = y;
        want = y_ref;
    }
}
