//! Tiny random-weight llama, qwen2, qwen3 and gemma3 models, built in memory as GGUF files and
//! checked against a plain reference forward pass written here (f32 loops, one token at
//! a time, full-precision key/value history; no code shared with the engine).
//!
//! Checks: logits of every prompt position and of several decode steps; batched
//! decoding of several sequences equals decoding each alone; prompt sharing with
//! `copy_prefix`; the sliding window of gemma3's local layers (window 3, so the
//! prompts here outgrow it); and the errors for broken files and invalid batches.

mod common;
use common::{entry, Rng};

use std::collections::BTreeMap;
use std::sync::Arc;

use engine::model::{BatchEntry, KvCache, Model, ModelError};
use gguf::{GgmlType, GgufFile, GgufWriter, Value};

// ---------------------------------------------------------------- random weights

#[derive(Clone, Copy, PartialEq)]
enum Arch {
    Llama,
    Qwen2,
    Qwen3,
    Gemma3,
}

impl Arch {
    fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Gemma3 => "gemma3",
        }
    }
}

const N_VOCAB: usize = 40;
const N_EMBD: usize = 32;
const N_HEAD: usize = 4;
const N_HEAD_KV: usize = 2;
const HEAD_DIM: usize = 8;
const N_FF: usize = 48;
const EPS: f32 = 1e-5;
const WINDOW: usize = 3;
const ROPE_BASE: f32 = 5000.0;

fn n_layer(arch: Arch) -> usize {
    // Six gemma3 layers so that layer 5 is a global one.
    if arch == Arch::Gemma3 {
        6
    } else {
        2
    }
}

/// Every tensor of a tiny model: name -> (ggml dims, values).
type Tensors = BTreeMap<String, (Vec<u64>, Vec<f32>)>;

fn random_tensors(arch: Arch, seed: u64) -> Tensors {
    let mut rng = Rng(seed);
    let mut t = Tensors::new();
    let mut add = |name: String, dims: &[usize], scale: f32, offset: f32, rng: &mut Rng| {
        let n = dims.iter().product();
        let dims = dims.iter().map(|&d| d as u64).collect();
        t.insert(name, (dims, rng.vec(n, scale, offset)));
    };
    let (q, kv) = (N_HEAD * HEAD_DIM, N_HEAD_KV * HEAD_DIM);
    add(
        "token_embd.weight".into(),
        &[N_EMBD, N_VOCAB],
        1.0,
        0.0,
        &mut rng,
    );
    add("output_norm.weight".into(), &[N_EMBD], 0.2, 1.0, &mut rng);
    if arch == Arch::Llama {
        add(
            "output.weight".into(),
            &[N_EMBD, N_VOCAB],
            0.3,
            0.0,
            &mut rng,
        );
    }
    for l in 0..n_layer(arch) {
        let b = |n: &str| format!("blk.{l}.{n}");
        add(b("attn_norm.weight"), &[N_EMBD], 0.2, 1.0, &mut rng);
        add(b("attn_q.weight"), &[N_EMBD, q], 0.3, 0.0, &mut rng);
        add(b("attn_k.weight"), &[N_EMBD, kv], 0.3, 0.0, &mut rng);
        add(b("attn_v.weight"), &[N_EMBD, kv], 0.3, 0.0, &mut rng);
        add(b("attn_output.weight"), &[q, N_EMBD], 0.3, 0.0, &mut rng);
        add(b("ffn_norm.weight"), &[N_EMBD], 0.2, 1.0, &mut rng);
        add(b("ffn_gate.weight"), &[N_EMBD, N_FF], 0.3, 0.0, &mut rng);
        add(b("ffn_up.weight"), &[N_EMBD, N_FF], 0.3, 0.0, &mut rng);
        add(b("ffn_down.weight"), &[N_FF, N_EMBD], 0.3, 0.0, &mut rng);
        if arch == Arch::Qwen2 {
            add(b("attn_q.bias"), &[q], 0.5, 0.0, &mut rng);
            add(b("attn_k.bias"), &[kv], 0.5, 0.0, &mut rng);
            add(b("attn_v.bias"), &[kv], 0.5, 0.0, &mut rng);
        }
        if arch == Arch::Gemma3 || arch == Arch::Qwen3 {
            add(b("attn_q_norm.weight"), &[HEAD_DIM], 0.2, 1.0, &mut rng);
            add(b("attn_k_norm.weight"), &[HEAD_DIM], 0.2, 1.0, &mut rng);
        }
        if arch == Arch::Gemma3 {
            add(
                b("post_attention_norm.weight"),
                &[N_EMBD],
                0.2,
                1.0,
                &mut rng,
            );
            add(b("post_ffw_norm.weight"), &[N_EMBD], 0.2, 1.0, &mut rng);
        }
    }
    t
}

/// The model's metadata as `(key, value)` pairs.
fn metadata(arch: Arch) -> Vec<(String, Value)> {
    let a = arch.name();
    let mut m: Vec<(String, Value)> = vec![
        ("general.architecture".into(), a.into()),
        (format!("{a}.context_length"), 256u32.into()),
        (format!("{a}.embedding_length"), (N_EMBD as u32).into()),
        (format!("{a}.block_count"), (n_layer(arch) as u32).into()),
        (format!("{a}.feed_forward_length"), (N_FF as u32).into()),
        (format!("{a}.attention.head_count"), (N_HEAD as u32).into()),
        (
            format!("{a}.attention.head_count_kv"),
            (N_HEAD_KV as u32).into(),
        ),
        (
            format!("{a}.attention.key_length"),
            (HEAD_DIM as u32).into(),
        ),
        (
            format!("{a}.attention.value_length"),
            (HEAD_DIM as u32).into(),
        ),
        (format!("{a}.attention.layer_norm_rms_epsilon"), EPS.into()),
        (format!("{a}.rope.freq_base"), ROPE_BASE.into()),
    ];
    if arch == Arch::Gemma3 {
        m.push((
            format!("{a}.attention.sliding_window"),
            (WINDOW as u32).into(),
        ));
    }
    m
}

/// Encodes metadata and tensors (all f32) as GGUF bytes.
fn gguf_bytes(meta: &[(String, Value)], t: &Tensors) -> Vec<u8> {
    let mut w = GgufWriter::new();
    for (k, v) in meta {
        w.add_metadata(k, v.clone());
    }
    for (name, (dims, values)) in t {
        w.add_f32_tensor(name, dims, GgmlType::F32, values)
            .expect("tensor");
    }
    w.to_bytes().expect("encode")
}

fn try_load(meta: &[(String, Value)], t: &Tensors) -> Result<Model, ModelError> {
    let file = GgufFile::from_bytes(gguf_bytes(meta, t)).expect("parse");
    Model::load(Arc::new(file))
}

fn load(arch: Arch, t: &Tensors) -> Model {
    try_load(&metadata(arch), t).expect("load")
}

// ---------------------------------------------------------------- reference

/// A plain reference implementation of the three architectures, one token at a time.
struct Reference {
    arch: Arch,
    t: Tensors,
}

/// Keys and values of every past position: `[layer][pos] -> [n_head_kv * head_dim]`.
#[derive(Default, Clone)]
struct History {
    k: Vec<Vec<Vec<f32>>>,
    v: Vec<Vec<Vec<f32>>>,
}

impl Reference {
    fn w(&self, name: &str) -> &[f32] {
        &self.t[name].1
    }

    fn opt(&self, name: &str) -> Option<&[f32]> {
        self.t.get(name).map(|(_, v)| &v[..])
    }

    /// `y[r] = sum_c W[r][c] x[c]` for a ggml `[cols, rows]` tensor.
    fn matvec(&self, name: &str, x: &[f32]) -> Vec<f32> {
        let (dims, w) = &self.t[name];
        let (cols, rows) = (dims[0] as usize, dims[1] as usize);
        (0..rows)
            .map(|r| (0..cols).map(|c| w[r * cols + c] * x[c]).sum())
            .collect()
    }

    fn rms(x: &[f32], w: &[f32]) -> Vec<f32> {
        let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
        let s = 1.0 / (ms + EPS).sqrt();
        x.iter().zip(w).map(|(v, g)| v * s * g).collect()
    }

    fn rope(&self, x: &mut [f32], pos: usize, base: f32) {
        for head in x.chunks_mut(HEAD_DIM) {
            for i in 0..HEAD_DIM / 2 {
                let angle = pos as f64 * (base as f64).powf(-((2 * i) as f64) / HEAD_DIM as f64);
                let (s, c) = (angle.sin() as f32, angle.cos() as f32);
                let (a, b) = if self.arch == Arch::Llama {
                    (2 * i, 2 * i + 1)
                } else {
                    (i, i + HEAD_DIM / 2)
                };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * c - x1 * s;
                head[b] = x0 * s + x1 * c;
            }
        }
    }

    fn add_bias(&self, x: &mut [f32], name: &str) {
        if let Some(b) = self.opt(name) {
            x.iter_mut().zip(b).for_each(|(v, b)| *v += b);
        }
    }

    /// Logits after feeding `token` at position `h.k[0].len()`.
    fn step(&self, h: &mut History, token: u32) -> Vec<f32> {
        let gemma = self.arch == Arch::Gemma3;
        let layers = n_layer(self.arch);
        if h.k.is_empty() {
            h.k = vec![Vec::new(); layers];
            h.v = vec![Vec::new(); layers];
        }
        let pos = h.k[0].len();
        let e = &self.w("token_embd.weight")[token as usize * N_EMBD..][..N_EMBD];
        let scale = if gemma { (N_EMBD as f32).sqrt() } else { 1.0 };
        let mut x: Vec<f32> = e.iter().map(|v| v * scale).collect();
        for l in 0..layers {
            let n = |s: &str| format!("blk.{l}.{s}");
            let global = (l + 1) % 6 == 0;
            let (base, window) = match (gemma, global) {
                (true, false) => (10_000.0, Some(WINDOW)),
                _ => (ROPE_BASE, None),
            };
            let hdn = Self::rms(&x, self.w(&n("attn_norm.weight")));
            let mut q = self.matvec(&n("attn_q.weight"), &hdn);
            let mut k = self.matvec(&n("attn_k.weight"), &hdn);
            let mut v = self.matvec(&n("attn_v.weight"), &hdn);
            self.add_bias(&mut q, &n("attn_q.bias"));
            self.add_bias(&mut k, &n("attn_k.bias"));
            self.add_bias(&mut v, &n("attn_v.bias"));
            if let (Some(qn), Some(kn)) = (
                self.opt(&n("attn_q_norm.weight")),
                self.opt(&n("attn_k_norm.weight")),
            ) {
                q = q.chunks(HEAD_DIM).flat_map(|c| Self::rms(c, qn)).collect();
                k = k.chunks(HEAD_DIM).flat_map(|c| Self::rms(c, kn)).collect();
            }
            self.rope(&mut q, pos, base);
            self.rope(&mut k, pos, base);
            h.k[l].push(k);
            h.v[l].push(v);
            let lo = window.map_or(0, |w| (pos + 1).saturating_sub(w));
            let mut att = vec![0.0f32; N_HEAD * HEAD_DIM];
            for head in 0..N_HEAD {
                let kvh = head / (N_HEAD / N_HEAD_KV);
                let qh = &q[head * HEAD_DIM..][..HEAD_DIM];
                let scores: Vec<f32> = (lo..=pos)
                    .map(|t| {
                        let kt = &h.k[l][t][kvh * HEAD_DIM..][..HEAD_DIM];
                        qh.iter().zip(kt).map(|(a, b)| a * b).sum::<f32>()
                            / (HEAD_DIM as f32).sqrt()
                    })
                    .collect();
                let m = scores.iter().copied().fold(f32::MIN, f32::max);
                let ex: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
                let z: f32 = ex.iter().sum();
                for (t, p) in (lo..=pos).zip(&ex) {
                    let vt = &h.v[l][t][kvh * HEAD_DIM..][..HEAD_DIM];
                    for d in 0..HEAD_DIM {
                        att[head * HEAD_DIM + d] += p / z * vt[d];
                    }
                }
            }
            let mut o = self.matvec(&n("attn_output.weight"), &att);
            if gemma {
                o = Self::rms(&o, self.w(&n("post_attention_norm.weight")));
            }
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);

            let hdn = Self::rms(&x, self.w(&n("ffn_norm.weight")));
            let g = self.matvec(&n("ffn_gate.weight"), &hdn);
            let u = self.matvec(&n("ffn_up.weight"), &hdn);
            let act: Vec<f32> = g
                .iter()
                .zip(&u)
                .map(|(&g, &u)| {
                    let a = if gemma {
                        let c = (2.0f32 / std::f32::consts::PI).sqrt();
                        0.5 * g * (1.0 + (c * (g + 0.044715 * g * g * g)).tanh())
                    } else {
                        g / (1.0 + (-g).exp())
                    };
                    a * u
                })
                .collect();
            let mut f = self.matvec(&n("ffn_down.weight"), &act);
            if gemma {
                f = Self::rms(&f, self.w(&n("post_ffw_norm.weight")));
            }
            x.iter_mut().zip(&f).for_each(|(a, b)| *a += b);
        }
        let x = Self::rms(&x, self.w("output_norm.weight"));
        let out = if self.t.contains_key("output.weight") {
            "output.weight"
        } else {
            "token_embd.weight"
        };
        self.matvec(out, &x)
    }
}

// ---------------------------------------------------------------- checks

fn assert_close(ours: &[f32], want: &[f32], what: &str) {
    assert_eq!(ours.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    let diff = ours
        .iter()
        .zip(want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    // Keys and values are cached as f16, so agreement is to about 1e-3 relative.
    assert!(
        diff <= 5e-3 * scale,
        "{what}: max |diff| {diff} (logit scale {scale})\nours {ours:?}\nwant {want:?}"
    );
}

/// Prefills `prompt` into slot 0 in one batch (logits at every position), then decodes
/// `extra` one token at a time; everything is compared with the reference.
fn check_against_reference(arch: Arch, seed: u64) {
    let t = random_tensors(arch, seed);
    let model = load(arch, &t);
    assert_eq!(model.config().n_vocab, N_VOCAB);
    let reference = Reference { arch, t };
    let prompt = [1u32, 7, 3, 22, 39, 0, 15];
    let extra = [4u32, 9, 31];

    let mut cache = model.new_cache(1, 32);
    let batch: Vec<_> = (0..prompt.len())
        .map(|p| entry(0, p, prompt[p], true))
        .collect();
    let logits = model.forward(&batch, &mut cache).expect("prefill");
    assert_eq!(logits.len(), prompt.len());
    let mut h = History::default();
    for (p, &tok) in prompt.iter().enumerate() {
        let want = reference.step(&mut h, tok);
        assert_close(
            &logits[p],
            &want,
            &format!("{} prompt pos {p}", arch.name()),
        );
    }
    for (i, &tok) in extra.iter().enumerate() {
        let pos = prompt.len() + i;
        let logits = model
            .forward(&[entry(0, pos, tok, true)], &mut cache)
            .expect("decode");
        let want = reference.step(&mut h, tok);
        assert_close(
            &logits[0],
            &want,
            &format!("{} decode pos {pos}", arch.name()),
        );
    }
    assert_eq!(cache.len(0), prompt.len() + extra.len());
}

#[test]
fn llama_matches_reference() {
    check_against_reference(Arch::Llama, 1);
}

#[test]
fn qwen2_matches_reference() {
    check_against_reference(Arch::Qwen2, 2);
}

#[test]
fn qwen3_matches_reference() {
    check_against_reference(Arch::Qwen3, 13);
}

#[test]
fn gemma3_matches_reference_with_sliding_window() {
    check_against_reference(Arch::Gemma3, 3);
}

/// Runs `tokens` through a fresh single-slot cache, one batch for the prompt and one
/// per decode token; returns the logits of the last entry of each forward call.
fn alone(model: &Model, prompt: &[u32], decode: &[u32]) -> Vec<Vec<f32>> {
    let mut cache = model.new_cache(1, 64);
    let batch: Vec<_> = (0..prompt.len())
        .map(|p| entry(0, p, prompt[p], p + 1 == prompt.len()))
        .collect();
    let mut out = model.forward(&batch, &mut cache).expect("prefill");
    for &tok in decode {
        let pos = cache.len(0);
        out.extend(
            model
                .forward(&[entry(0, pos, tok, true)], &mut cache)
                .expect("decode"),
        );
    }
    out
}

#[test]
fn batched_decoding_equals_decoding_alone() {
    for (arch, seed) in [
        (Arch::Llama, 4),
        (Arch::Qwen2, 5),
        (Arch::Qwen3, 14),
        (Arch::Gemma3, 6),
    ] {
        let model = load(arch, &random_tensors(arch, seed));
        let prompts: [&[u32]; 3] = [&[2, 5, 8, 11, 3], &[9, 1, 30], &[14, 14, 2, 6, 38, 20]];
        let decodes: [[u32; 4]; 3] = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]];

        // All prompts in one batch, then all sequences in one batch per step.
        let mut cache = model.new_cache(3, 64);
        let mut batch = Vec::new();
        for (s, p) in prompts.iter().enumerate() {
            for (pos, &tok) in p.iter().enumerate() {
                batch.push(entry(s, pos, tok, pos + 1 == p.len()));
            }
        }
        let mut got: Vec<Vec<Vec<f32>>> = model
            .forward(&batch, &mut cache)
            .expect("prefill")
            .into_iter()
            .map(|l| vec![l])
            .collect();
        // Step `i` feeds `decodes[s][i]` to sequence `s`; a sequence's position is its
        // cached length.
        for i in 0..4 {
            let batch: Vec<_> = decodes
                .iter()
                .enumerate()
                .map(|(s, d)| entry(s, cache.len(s), d[i], true))
                .collect();
            for (s, l) in model
                .forward(&batch, &mut cache)
                .expect("decode")
                .into_iter()
                .enumerate()
            {
                got[s].push(l);
            }
        }
        for s in 0..3 {
            let want = alone(&model, prompts[s], &decodes[s]);
            for (i, (a, b)) in got[s].iter().zip(&want).enumerate() {
                let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
                assert!(
                    diff < 1e-4,
                    "{} seq {s} step {i}: batched differs by {diff}",
                    arch.name()
                );
            }
        }
    }
}

#[test]
fn shared_prompt_prefix_copies_into_other_slots() {
    let arch = Arch::Gemma3;
    let t = random_tensors(arch, 7);
    let model = load(arch, &t);
    let reference = Reference { arch, t };
    let prompt = [3u32, 1, 4, 1, 5];

    let mut cache: KvCache = model.new_cache(3, 16);
    let batch: Vec<_> = (0..5).map(|p| entry(0, p, prompt[p], false)).collect();
    assert!(model
        .forward(&batch, &mut cache)
        .expect("prefill")
        .is_empty());
    cache.copy_prefix(0, 1, 5).expect("copy");
    cache.copy_prefix(0, 2, 3).expect("copy");
    let out = model
        .forward(
            &[
                entry(0, 5, 9, true),
                entry(1, 5, 26, true),
                entry(2, 3, 8, true),
            ],
            &mut cache,
        )
        .expect("decode");
    let runs: [(&[u32], u32); 3] = [(&prompt, 9), (&prompt, 26), (&prompt[..3], 8)];
    for (i, (p, tok)) in runs.iter().enumerate() {
        let mut h = History::default();
        for &x in p.iter() {
            reference.step(&mut h, x);
        }
        let want = reference.step(&mut h, *tok);
        assert_close(&out[i], &want, &format!("slot {i}"));
    }
    assert_eq!((cache.len(0), cache.len(1), cache.len(2)), (6, 6, 4));
}

// ---------------------------------------------------------------- errors

fn load_err(meta: &[(String, Value)], t: &Tensors) -> String {
    match try_load(meta, t) {
        Ok(_) => panic!("loading should fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_tensor_is_named() {
    let mut t = random_tensors(Arch::Qwen2, 8);
    t.remove("blk.1.attn_k.bias");
    let msg = load_err(&metadata(Arch::Qwen2), &t);
    assert!(msg.contains("missing tensor `blk.1.attn_k.bias`"), "{msg}");

    let mut t = random_tensors(Arch::Gemma3, 8);
    t.remove("output_norm.weight");
    let msg = load_err(&metadata(Arch::Gemma3), &t);
    assert!(msg.contains("`output_norm.weight`"), "{msg}");
}

#[test]
fn wrong_shape_is_named() {
    let mut t = random_tensors(Arch::Llama, 9);
    let q = t.get_mut("blk.0.attn_q.weight").expect("present");
    q.0.reverse(); // [n_embd, q_dim] stored as [q_dim, n_embd]
    q.0[0] += 8;
    q.1.extend(vec![0.0; 8 * N_EMBD]);
    let msg = load_err(&metadata(Arch::Llama), &t);
    assert!(
        msg.contains("blk.0.attn_q.weight") && msg.contains("expected [32, 32]"),
        "{msg}"
    );
}

#[test]
fn unknown_architecture_and_missing_keys_are_named() {
    let t = random_tensors(Arch::Llama, 10);
    let mut meta = metadata(Arch::Llama);
    meta[0].1 = "mamba".into();
    let msg = load_err(&meta, &t);
    assert!(msg.contains("unsupported architecture `mamba`"), "{msg}");

    let meta: Vec<_> = metadata(Arch::Llama)
        .into_iter()
        .filter(|(k, _)| k != "llama.block_count")
        .collect();
    let msg = load_err(&meta, &t);
    assert!(
        msg.contains("missing metadata key `llama.block_count`"),
        "{msg}"
    );

    let mut meta = metadata(Arch::Llama);
    meta.push(("llama.attention.head_count_kv".into(), 3u32.into()));
    meta.retain(|(k, v)| k != "llama.attention.head_count_kv" || *v == Value::U32(3));
    let msg = load_err(&meta, &t);
    assert!(msg.contains("llama.attention.head_count_kv"), "{msg}");
}

#[test]
fn invalid_batches_are_refused_without_touching_the_cache() {
    let model = load(Arch::Llama, &random_tensors(Arch::Llama, 11));
    let mut cache = model.new_cache(2, 4);
    model
        .forward(&[entry(0, 0, 1, false), entry(0, 1, 2, false)], &mut cache)
        .expect("prefill");
    let cases: [(&[BatchEntry], &str); 5] = [
        (
            &[entry(0, 2, N_VOCAB as u32, true)],
            "outside the vocabulary",
        ),
        (&[entry(0, 3, 1, true)], "slot 0 expects position 2, got 3"),
        (
            &[entry(0, 2, 1, true), entry(0, 2, 1, true)],
            "expects position 3",
        ),
        (&[entry(2, 0, 1, true)], "slot 2 out of range"),
        (
            &[
                entry(1, 0, 1, true),
                entry(1, 1, 1, true),
                entry(1, 2, 1, true),
                entry(1, 3, 1, true),
                entry(1, 4, 1, true),
            ],
            "maximum sequence length 4",
        ),
    ];
    for (batch, want) in cases {
        let err = model
            .forward(batch, &mut cache)
            .expect_err(want)
            .to_string();
        assert!(err.contains(want), "{err}");
        assert_eq!((cache.len(0), cache.len(1)), (2, 0));
    }
    let other = load(Arch::Gemma3, &random_tensors(Arch::Gemma3, 12));
    let err = other
        .forward(&[entry(0, 0, 1, true)], &mut cache)
        .expect_err("shape");
    assert!(err.to_string().contains("cache shape mismatch"), "{err}");
}

#[test]
fn model_can_be_shared_across_threads_and_files_errors_are_reported() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Model>();
    assert_send_sync::<KvCache>();
    let err = Model::open("/nonexistent/model.gguf").expect_err("no such file");
    assert!(matches!(err, ModelError::File(_)), "{err}");
}
