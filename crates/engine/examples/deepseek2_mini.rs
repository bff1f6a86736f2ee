//! Writes a random-weight `deepseek2` GGUF file with DeepSeek-V2-Lite's widths (2048
//! wide, 16 heads, a 512-wide latent, 64 experts of which 6 are used, 2 shared) but
//! few layers, quantized like a Q4_K_M file: a model both engines can run for speed
//! and cache measurements when no real DeepSeek file is at hand.
//!
//! ```text
//! cargo run --release -p engine --example deepseek2_mini -- OUT.gguf [LAYERS]
//! verimath bench engine --model OUT.gguf --reference .venv-bench/bin/python
//! ```
//!
//! The weights are uniform noise scaled by `1 / sqrt(inputs)`, so activations keep
//! their size through the layers; what the model says is meaningless, but the work per
//! token (and which experts a token picks) is that of a real model of this shape.

use gguf::{GgmlType, GgufWriter, Value};
use rayon::prelude::*;

const N_EMBD: usize = 2048;
const N_HEAD: usize = 16;
const Q_RANK: usize = 768;
const KV_RANK: usize = 512;
const NOPE: usize = 128;
const ROPE: usize = 64;
const V_DIM: usize = 128;
const N_FF: usize = 10752;
const N_FF_EXP: usize = 1536;
const N_EXPERT: usize = 64;
const N_USED: usize = 6;
const N_SHARED: usize = 2;
const N_VOCAB: usize = 32000;

/// xorshift64*, uniform in [-1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        v as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Adds a tensor of ggml dims `dims` filled with noise of standard deviation
/// `1 / sqrt(dims[0])` (or ones plus small noise for norms), quantized as `dtype`.
fn add(w: &mut GgufWriter, name: &str, dims: &[usize], dtype: GgmlType, seed: u64, norm: bool) {
    let cols = dims[0];
    let n: usize = dims.iter().product();
    let scale = if norm {
        0.1
    } else {
        (3.0 / cols as f32).sqrt()
    };
    let offset = if norm { 1.0 } else { 0.0 };
    // Rows are generated and quantized in parallel chunks, each with its own stream.
    let rows_per_chunk = (1 << 20) / cols.max(1) + 1;
    let chunks: Vec<Vec<u8>> = (0..n / cols)
        .step_by(rows_per_chunk)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|first| {
            let rows = rows_per_chunk.min(n / cols - first);
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (first as u64 + 1));
            let values: Vec<f32> = (0..rows * cols)
                .map(|_| offset + scale * rng.next())
                .collect();
            gguf::quantize::quantize(dtype, &values).expect("whole blocks")
        })
        .collect();
    let dims: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
    w.add_tensor(name, &dims, dtype, chunks.concat())
        .expect("tensor");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| {
        eprintln!("usage: deepseek2_mini OUT.gguf [LAYERS]");
        std::process::exit(2);
    });
    let n_layer: usize = args
        .next()
        .map_or(4, |s| s.parse().expect("LAYERS is a number"));
    assert!(
        n_layer >= 2 && n_layer != 27,
        "2 or more layers, not 27 (llama.cpp reads 27 as Lite)"
    );

    let mut w = GgufWriter::new();
    let a = "deepseek2";
    let u = |x: usize| Value::U32(x as u32);
    let meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), a.into()),
        (
            "general.name".into(),
            "deepseek2 mini (random weights)".into(),
        ),
        (format!("{a}.context_length"), u(4096)),
        (format!("{a}.embedding_length"), u(N_EMBD)),
        (format!("{a}.block_count"), u(n_layer)),
        (format!("{a}.feed_forward_length"), u(N_FF)),
        (format!("{a}.attention.head_count"), u(N_HEAD)),
        (format!("{a}.attention.head_count_kv"), u(1)),
        (format!("{a}.attention.key_length"), u(KV_RANK + ROPE)),
        (format!("{a}.attention.value_length"), u(KV_RANK)),
        (format!("{a}.attention.key_length_mla"), u(NOPE + ROPE)),
        (format!("{a}.attention.value_length_mla"), u(V_DIM)),
        (
            format!("{a}.attention.layer_norm_rms_epsilon"),
            1e-6f32.into(),
        ),
        (format!("{a}.attention.q_lora_rank"), u(Q_RANK)),
        (format!("{a}.attention.kv_lora_rank"), u(KV_RANK)),
        (format!("{a}.rope.dimension_count"), u(ROPE)),
        (format!("{a}.rope.freq_base"), 10_000f32.into()),
        (format!("{a}.leading_dense_block_count"), u(1)),
        (format!("{a}.expert_count"), u(N_EXPERT)),
        (format!("{a}.expert_used_count"), u(N_USED)),
        (format!("{a}.expert_shared_count"), u(N_SHARED)),
        (format!("{a}.expert_feed_forward_length"), u(N_FF_EXP)),
        (format!("{a}.expert_weights_scale"), 1.0f32.into()),
        (format!("{a}.expert_weights_norm"), false.into()),
        (format!("{a}.expert_gating_func"), u(1)),
        ("tokenizer.ggml.model".into(), "llama".into()),
        ("tokenizer.ggml.bos_token_id".into(), u(1)),
        ("tokenizer.ggml.eos_token_id".into(), u(2)),
    ];
    for (k, v) in meta {
        w.add_metadata(&k, v);
    }
    // A SentencePiece vocabulary of byte pieces and filler, enough to tokenize prose.
    let mut tokens: Vec<Value> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
    let mut types = vec![Value::I32(2), Value::I32(3), Value::I32(3)];
    for b in 0..256 {
        tokens.push(format!("<0x{b:02X}>").into());
        types.push(Value::I32(6));
    }
    while tokens.len() < N_VOCAB {
        tokens.push(format!("▁w{}", tokens.len()).into());
        types.push(Value::I32(1));
    }
    let scores = vec![Value::F32(0.0); N_VOCAB];
    w.add_metadata("tokenizer.ggml.tokens", Value::Array(tokens));
    w.add_metadata("tokenizer.ggml.scores", Value::Array(scores));
    w.add_metadata("tokenizer.ggml.token_type", Value::Array(types));

    use GgmlType::{F32, Q4_K, Q6_K, Q8_0};
    let mut seed = 0u64;
    let mut next = || {
        seed += 1;
        seed
    };
    let c = NOPE + ROPE;
    add(
        &mut w,
        "token_embd.weight",
        &[N_EMBD, N_VOCAB],
        Q4_K,
        next(),
        false,
    );
    add(&mut w, "output_norm.weight", &[N_EMBD], F32, next(), true);
    add(
        &mut w,
        "output.weight",
        &[N_EMBD, N_VOCAB],
        Q6_K,
        next(),
        false,
    );
    for l in 0..n_layer {
        eprintln!("layer {l} of {n_layer} ...");
        let b = |s: &str| format!("blk.{l}.{s}.weight");
        add(&mut w, &b("attn_norm"), &[N_EMBD], F32, next(), true);
        add(
            &mut w,
            &b("attn_q_a"),
            &[N_EMBD, Q_RANK],
            Q4_K,
            next(),
            false,
        );
        add(&mut w, &b("attn_q_a_norm"), &[Q_RANK], F32, next(), true);
        add(
            &mut w,
            &b("attn_q_b"),
            &[Q_RANK, N_HEAD * c],
            Q4_K,
            next(),
            false,
        );
        add(
            &mut w,
            &b("attn_kv_a_mqa"),
            &[N_EMBD, KV_RANK + ROPE],
            Q4_K,
            next(),
            false,
        );
        add(&mut w, &b("attn_kv_a_norm"), &[KV_RANK], F32, next(), true);
        add(
            &mut w,
            &b("attn_k_b"),
            &[NOPE, KV_RANK, N_HEAD],
            Q8_0,
            next(),
            false,
        );
        add(
            &mut w,
            &b("attn_v_b"),
            &[KV_RANK, V_DIM, N_HEAD],
            Q8_0,
            next(),
            false,
        );
        add(
            &mut w,
            &b("attn_output"),
            &[N_HEAD * V_DIM, N_EMBD],
            Q4_K,
            next(),
            false,
        );
        add(&mut w, &b("ffn_norm"), &[N_EMBD], F32, next(), true);
        if l == 0 {
            add(&mut w, &b("ffn_gate"), &[N_EMBD, N_FF], Q4_K, next(), false);
            add(&mut w, &b("ffn_up"), &[N_EMBD, N_FF], Q4_K, next(), false);
            add(&mut w, &b("ffn_down"), &[N_FF, N_EMBD], Q6_K, next(), false);
        } else {
            let shared = N_FF_EXP * N_SHARED;
            add(
                &mut w,
                &b("ffn_gate_inp"),
                &[N_EMBD, N_EXPERT],
                F32,
                next(),
                false,
            );
            add(
                &mut w,
                &b("ffn_gate_exps"),
                &[N_EMBD, N_FF_EXP, N_EXPERT],
                Q4_K,
                next(),
                false,
            );
            add(
                &mut w,
                &b("ffn_up_exps"),
                &[N_EMBD, N_FF_EXP, N_EXPERT],
                Q4_K,
                next(),
                false,
            );
            add(
                &mut w,
                &b("ffn_down_exps"),
                &[N_FF_EXP, N_EMBD, N_EXPERT],
                Q6_K,
                next(),
                false,
            );
            add(
                &mut w,
                &b("ffn_gate_shexp"),
                &[N_EMBD, shared],
                Q4_K,
                next(),
                false,
            );
            add(
                &mut w,
                &b("ffn_up_shexp"),
                &[N_EMBD, shared],
                Q4_K,
                next(),
                false,
            );
            add(
                &mut w,
                &b("ffn_down_shexp"),
                &[shared, N_EMBD],
                Q6_K,
                next(),
                false,
            );
        }
    }
    w.write_to(&out).expect("write");
    eprintln!("wrote {out}");
}
