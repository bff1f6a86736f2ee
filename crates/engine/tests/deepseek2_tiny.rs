//! Tiny random-weight `deepseek2` models (multi-head latent attention and mixture of
//! experts), built in memory as GGUF files and checked two ways:
//!
//! - against a plain reference forward pass written here: the *original*, unabsorbed
//!   form of the attention (keys and values decompressed per head, one token at a
//!   time, history rounded to f16 like a cache), with its own expert routing; no code
//!   shared with the engine;
//! - against llama.cpp: `tests/data/deepseek2_golden.json` holds what llama.cpp
//!   computed on the very same files (greedy continuation and top-5 log-probabilities
//!   at every step). The files are deterministic; `scripts/deepseek2-golden.py`
//!   rebuilds the JSON (`VERIMATH_WRITE_TINY=DIR cargo test -p engine --test
//!   deepseek2_tiny` writes them to `DIR`).
//!
//! Variants cover the query rank on and off, softmax and sigmoid gating, expert groups,
//! the expert bias, shared experts, dense leading layers, YaRN, and both tensor layouts
//! (`attn_k_b`/`attn_v_b` and the older `attn_kv_b`).

mod common;
use common::{entry, Rng};

use std::collections::BTreeMap;
use std::sync::Arc;

use engine::model::Model;
use gguf::{GgmlType, GgufFile, GgufWriter, Value};

const N_VOCAB: usize = 64;
const N_EMBD: usize = 32;
const N_HEAD: usize = 4;
const KV_RANK: usize = 16;
const Q_RANK: usize = 24;
const NOPE: usize = 8;
const ROPE: usize = 4;
const V_DIM: usize = 8;
const N_FF: usize = 48;
const N_FF_EXP: usize = 16;
const N_EXPERT: usize = 8;
const EPS: f32 = 1e-6;
const ROPE_BASE: f32 = 10_000.0;

/// What a tiny model is made of.
#[derive(Debug, Clone, Copy)]
struct Variant {
    name: &'static str,
    seed: u64,
    n_layer: usize,
    dense: usize,
    q_lora: bool,
    /// 1 softmax, 2 sigmoid.
    gating: u32,
    used: usize,
    groups: (usize, usize),
    bias: bool,
    shared: usize,
    norm_w: bool,
    scale_w: f32,
    /// YaRN factor (1: no scaling).
    yarn: f32,
    /// The older `attn_kv_b` layout instead of `attn_k_b` / `attn_v_b`.
    kv_b: bool,
}

/// llama.cpp (as of the golden files) tells a model without a query rank by its 27
/// layers, as DeepSeek-V2-Lite has; the variants without one have 27 layers too.
const LITE_LAYERS: usize = 27;

const BASE: Variant = Variant {
    name: "v2_lite",
    seed: 1,
    n_layer: LITE_LAYERS,
    dense: 1,
    q_lora: false,
    gating: 1,
    used: 2,
    groups: (1, 1),
    bias: false,
    shared: 2,
    norm_w: false,
    scale_w: 1.0,
    yarn: 1.0,
    kv_b: false,
};

/// The variants checked here and against llama.cpp.
fn variants() -> Vec<Variant> {
    vec![
        BASE,
        Variant {
            name: "v2_qlora_yarn",
            seed: 2,
            n_layer: 3,
            q_lora: true,
            yarn: 4.0,
            norm_w: true,
            ..BASE
        },
        Variant {
            name: "v3_sigmoid_groups",
            seed: 3,
            n_layer: 3,
            q_lora: true,
            gating: 2,
            used: 3,
            groups: (4, 2),
            bias: true,
            shared: 1,
            norm_w: true,
            scale_w: 2.5,
            ..BASE
        },
        Variant {
            name: "kv_b_layout",
            seed: 4,
            dense: 0,
            shared: 1,
            kv_b: true,
            ..BASE
        },
    ]
}

/// Every tensor: name -> (ggml dims, values).
type Tensors = BTreeMap<String, (Vec<u64>, Vec<f32>)>;

fn tensors(v: &Variant) -> Tensors {
    let mut rng = Rng(v.seed * 0x9e37_79b9 + 17);
    let mut t = Tensors::new();
    let mut add = |name: String, dims: &[usize], scale: f32, offset: f32| {
        let n: usize = dims.iter().product();
        let values = (0..n).map(|_| offset + scale * rng.next()).collect();
        t.insert(name, (dims.iter().map(|&d| d as u64).collect(), values));
    };
    let c = NOPE + ROPE;
    add("token_embd.weight".into(), &[N_EMBD, N_VOCAB], 1.0, 0.0);
    add("output_norm.weight".into(), &[N_EMBD], 0.2, 1.0);
    add("output.weight".into(), &[N_EMBD, N_VOCAB], 0.4, 0.0);
    for l in 0..v.n_layer {
        let b = |n: &str| format!("blk.{l}.{n}");
        add(b("attn_norm.weight"), &[N_EMBD], 0.2, 1.0);
        if v.q_lora {
            add(b("attn_q_a.weight"), &[N_EMBD, Q_RANK], 0.3, 0.0);
            add(b("attn_q_a_norm.weight"), &[Q_RANK], 0.2, 1.0);
            add(b("attn_q_b.weight"), &[Q_RANK, N_HEAD * c], 0.3, 0.0);
        } else {
            add(b("attn_q.weight"), &[N_EMBD, N_HEAD * c], 0.3, 0.0);
        }
        add(
            b("attn_kv_a_mqa.weight"),
            &[N_EMBD, KV_RANK + ROPE],
            0.3,
            0.0,
        );
        add(b("attn_kv_a_norm.weight"), &[KV_RANK], 0.2, 1.0);
        if v.kv_b {
            add(
                b("attn_kv_b.weight"),
                &[KV_RANK, N_HEAD * (NOPE + V_DIM)],
                0.3,
                0.0,
            );
        } else {
            add(b("attn_k_b.weight"), &[NOPE, KV_RANK, N_HEAD], 0.3, 0.0);
            add(b("attn_v_b.weight"), &[KV_RANK, V_DIM, N_HEAD], 0.3, 0.0);
        }
        add(b("attn_output.weight"), &[N_HEAD * V_DIM, N_EMBD], 0.3, 0.0);
        add(b("ffn_norm.weight"), &[N_EMBD], 0.2, 1.0);
        if l < v.dense {
            add(b("ffn_gate.weight"), &[N_EMBD, N_FF], 0.3, 0.0);
            add(b("ffn_up.weight"), &[N_EMBD, N_FF], 0.3, 0.0);
            add(b("ffn_down.weight"), &[N_FF, N_EMBD], 0.3, 0.0);
        } else {
            add(b("ffn_gate_inp.weight"), &[N_EMBD, N_EXPERT], 0.5, 0.0);
            if v.bias {
                add(b("exp_probs_b.bias"), &[N_EXPERT], 0.3, 0.0);
            }
            add(
                b("ffn_gate_exps.weight"),
                &[N_EMBD, N_FF_EXP, N_EXPERT],
                0.3,
                0.0,
            );
            add(
                b("ffn_up_exps.weight"),
                &[N_EMBD, N_FF_EXP, N_EXPERT],
                0.3,
                0.0,
            );
            add(
                b("ffn_down_exps.weight"),
                &[N_FF_EXP, N_EMBD, N_EXPERT],
                0.3,
                0.0,
            );
            if v.shared > 0 {
                let w = N_FF_EXP * v.shared;
                add(b("ffn_gate_shexp.weight"), &[N_EMBD, w], 0.3, 0.0);
                add(b("ffn_up_shexp.weight"), &[N_EMBD, w], 0.3, 0.0);
                add(b("ffn_down_shexp.weight"), &[w, N_EMBD], 0.3, 0.0);
            }
        }
    }
    t
}

fn metadata(v: &Variant) -> Vec<(String, Value)> {
    let a = "deepseek2";
    let k = |s: &str| format!("{a}.{s}");
    let u = |x: usize| Value::U32(x as u32);
    let mut m: Vec<(String, Value)> = vec![
        ("general.architecture".into(), a.into()),
        ("general.name".into(), format!("tiny {}", v.name).into()),
        (k("context_length"), u(256)),
        (k("embedding_length"), u(N_EMBD)),
        (k("block_count"), u(v.n_layer)),
        (k("feed_forward_length"), u(N_FF)),
        (k("attention.head_count"), u(N_HEAD)),
        (k("attention.layer_norm_rms_epsilon"), EPS.into()),
        (k("rope.freq_base"), ROPE_BASE.into()),
        (k("rope.dimension_count"), u(ROPE)),
        (k("attention.kv_lora_rank"), u(KV_RANK)),
        (k("leading_dense_block_count"), u(v.dense)),
        (k("expert_count"), u(N_EXPERT)),
        (k("expert_used_count"), u(v.used)),
        (k("expert_shared_count"), u(v.shared)),
        (k("expert_feed_forward_length"), u(N_FF_EXP)),
        (k("expert_weights_scale"), v.scale_w.into()),
        (k("expert_weights_norm"), v.norm_w.into()),
        (k("expert_gating_func"), Value::U32(v.gating)),
    ];
    if v.q_lora {
        m.push((k("attention.q_lora_rank"), u(Q_RANK)));
    }
    if v.kv_b {
        m.push((k("attention.head_count_kv"), u(N_HEAD)));
        m.push((k("attention.key_length"), u(NOPE + ROPE)));
        m.push((k("attention.value_length"), u(V_DIM)));
    } else {
        m.push((k("attention.head_count_kv"), u(1)));
        m.push((k("attention.key_length"), u(KV_RANK + ROPE)));
        m.push((k("attention.value_length"), u(KV_RANK)));
        m.push((k("attention.key_length_mla"), u(NOPE + ROPE)));
        m.push((k("attention.value_length_mla"), u(V_DIM)));
    }
    if v.groups.0 > 1 {
        m.push((k("expert_group_count"), u(v.groups.0)));
        m.push((k("expert_group_used_count"), u(v.groups.1)));
    }
    if v.yarn > 1.0 {
        m.push((k("rope.scaling.type"), "yarn".into()));
        m.push((k("rope.scaling.factor"), v.yarn.into()));
        m.push((k("rope.scaling.original_context_length"), u(64)));
        m.push((k("rope.scaling.yarn_log_multiplier"), 0.0707f32.into()));
    }
    // A minimal SentencePiece vocabulary, so that llama.cpp loads the same file.
    let tokens: Vec<Value> = (0..N_VOCAB)
        .map(|i| match i {
            0 => Value::from("<unk>"),
            1 => Value::from("<s>"),
            2 => Value::from("</s>"),
            _ => Value::from(format!("t{i}")),
        })
        .collect();
    let types: Vec<Value> = (0..N_VOCAB)
        .map(|i| Value::I32([2, 3, 3].get(i).copied().unwrap_or(1)))
        .collect();
    m.push(("tokenizer.ggml.model".into(), "llama".into()));
    m.push(("tokenizer.ggml.tokens".into(), Value::Array(tokens)));
    m.push((
        "tokenizer.ggml.scores".into(),
        Value::Array((0..N_VOCAB).map(|_| Value::F32(0.0)).collect()),
    ));
    m.push(("tokenizer.ggml.token_type".into(), Value::Array(types)));
    m.push(("tokenizer.ggml.bos_token_id".into(), Value::U32(1)));
    m.push(("tokenizer.ggml.eos_token_id".into(), Value::U32(2)));
    m
}

fn gguf_bytes(v: &Variant) -> Vec<u8> {
    let mut w = GgufWriter::new();
    for (k, value) in metadata(v) {
        w.add_metadata(&k, value);
    }
    for (name, (dims, values)) in &tensors(v) {
        w.add_f32_tensor(name, dims, GgmlType::F32, values)
            .expect("tensor");
    }
    w.to_bytes().expect("encode")
}

fn load(v: &Variant) -> Model {
    let file = GgufFile::from_bytes(gguf_bytes(v)).expect("parse");
    Model::load(Arc::new(file)).expect("load")
}

// ---------------------------------------------------------------- reference

/// The original (unabsorbed) model, one token at a time.
struct Reference {
    v: Variant,
    t: Tensors,
    /// Per layer, per position: keys `[H][c]` and values `[H][c_v]`.
    keys: Vec<Vec<Vec<Vec<f32>>>>,
    values: Vec<Vec<Vec<Vec<f32>>>>,
}

impl Reference {
    fn new(v: Variant) -> Reference {
        Reference {
            t: tensors(&v),
            keys: vec![Vec::new(); v.n_layer],
            values: vec![Vec::new(); v.n_layer],
            v,
        }
    }

    fn w(&self, name: &str) -> &[f32] {
        &self.t[name].1
    }

    /// `y = W x` for a ggml `[cols, rows]` tensor (or one `[cols, rows]` slice `at` of
    /// a stacked one).
    fn matvec_at(&self, name: &str, at: usize, x: &[f32]) -> Vec<f32> {
        let (dims, w) = &self.t[name];
        let (cols, rows) = (dims[0] as usize, dims[1] as usize);
        let w = &w[at * rows * cols..][..rows * cols];
        (0..rows)
            .map(|r| (0..cols).map(|c| w[r * cols + c] * x[c]).sum())
            .collect()
    }

    fn matvec(&self, name: &str, x: &[f32]) -> Vec<f32> {
        self.matvec_at(name, 0, x)
    }

    fn rms(x: &[f32], w: &[f32]) -> Vec<f32> {
        let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
        let s = 1.0 / (ms + EPS).sqrt();
        x.iter().zip(w).map(|(v, g)| v * s * g).collect()
    }

    /// Adjacent-pair RoPE of one `ROPE`-wide part, with YaRN's blend when scaled.
    fn rope(&self, x: &mut [f32], pos: usize) {
        let factor = f64::from(self.v.yarn);
        let dim = |beta: f64| {
            ROPE as f64 * (64.0 / (beta * 2.0 * std::f64::consts::PI)).ln()
                / (2.0 * f64::from(ROPE_BASE).ln())
        };
        let (low, high) = (
            dim(32.0).floor().max(0.0),
            dim(1.0).ceil().min(ROPE as f64 - 1.0),
        );
        for i in 0..ROPE / 2 {
            let original = pos as f64 * f64::from(ROPE_BASE).powf(-((2 * i) as f64) / ROPE as f64);
            let mut angle = original / factor;
            if factor > 1.0 {
                let ramp = 1.0 - ((i as f64 - low) / (high - low).max(0.001)).clamp(0.0, 1.0);
                angle = angle * (1.0 - ramp) + original * ramp;
            }
            let (s, c) = (angle.sin() as f32, angle.cos() as f32);
            let (x0, x1) = (x[2 * i], x[2 * i + 1]);
            x[2 * i] = x0 * c - x1 * s;
            x[2 * i + 1] = x0 * s + x1 * c;
        }
    }

    /// Per head: the key map `[c_n][r]` and the value map `[c_v][r]`.
    fn maps(&self, l: usize, h: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        if self.v.kv_b {
            let w = self.w(&format!("blk.{l}.attn_kv_b.weight"));
            let row = |j: usize| w[j * KV_RANK..(j + 1) * KV_RANK].to_vec();
            let base = h * (NOPE + V_DIM);
            (
                (0..NOPE).map(|j| row(base + j)).collect(),
                (0..V_DIM).map(|j| row(base + NOPE + j)).collect(),
            )
        } else {
            // attn_k_b holds W_kb^T per head: [r rows][c_n cols].
            let kb = &self.w(&format!("blk.{l}.attn_k_b.weight"))[h * KV_RANK * NOPE..];
            let vb = &self.w(&format!("blk.{l}.attn_v_b.weight"))[h * V_DIM * KV_RANK..];
            (
                (0..NOPE)
                    .map(|j| (0..KV_RANK).map(|i| kb[i * NOPE + j]).collect())
                    .collect(),
                (0..V_DIM)
                    .map(|j| vb[j * KV_RANK..(j + 1) * KV_RANK].to_vec())
                    .collect(),
            )
        }
    }

    fn expert_weights(&self, l: usize, h: &[f32]) -> Vec<(usize, f32)> {
        let v = &self.v;
        let logits = self.matvec(&format!("blk.{l}.ffn_gate_inp.weight"), h);
        let probs: Vec<f32> = if v.gating == 2 {
            logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect()
        } else {
            let m = logits.iter().copied().fold(f32::MIN, f32::max);
            let e: Vec<f32> = logits.iter().map(|x| (x - m).exp()).collect();
            let z: f32 = e.iter().sum();
            e.iter().map(|x| x / z).collect()
        };
        let mut sel = probs.clone();
        if v.bias {
            let b = self.w(&format!("blk.{l}.exp_probs_b.bias"));
            sel.iter_mut().zip(b).for_each(|(s, b)| *s += b);
        }
        let (groups, used) = v.groups;
        if groups > 1 {
            let per = N_EXPERT / groups;
            let score = |g: usize| {
                let mut s = sel[g * per..(g + 1) * per].to_vec();
                s.sort_by(|a, b| b.partial_cmp(a).unwrap());
                s[0] + s[1]
            };
            let mut order: Vec<usize> = (0..groups).collect();
            order.sort_by(|&a, &b| score(b).partial_cmp(&score(a)).unwrap());
            for &g in &order[used..] {
                sel[g * per..(g + 1) * per].fill(f32::MIN);
            }
        }
        let mut order: Vec<usize> = (0..N_EXPERT).collect();
        order.sort_by(|&a, &b| sel[b].partial_cmp(&sel[a]).unwrap());
        let mut chosen: Vec<(usize, f32)> =
            order[..v.used].iter().map(|&e| (e, probs[e])).collect();
        if v.norm_w {
            let z: f32 = chosen.iter().map(|c| c.1).sum();
            chosen.iter_mut().for_each(|c| c.1 /= z);
        }
        chosen.iter_mut().for_each(|c| c.1 *= v.scale_w);
        chosen
    }

    fn mlp(&self, gate: &str, up: &str, down: &str, at: usize, h: &[f32]) -> Vec<f32> {
        let g = self.matvec_at(gate, at, h);
        let u = self.matvec_at(up, at, h);
        let a: Vec<f32> = g
            .iter()
            .zip(&u)
            .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
            .collect();
        self.matvec_at(down, at, &a)
    }

    /// Logits after feeding `token` at the next position.
    fn step(&mut self, token: u32) -> Vec<f32> {
        let c = NOPE + ROPE;
        let pos = self.keys[0].len();
        let factor = self.v.yarn;
        let mscale = if factor > 1.0 {
            1.0 + 0.0707 * factor.ln()
        } else {
            1.0
        };
        let scale = mscale * mscale / (c as f32).sqrt();
        let mut x = self.w("token_embd.weight")[token as usize * N_EMBD..][..N_EMBD].to_vec();
        for l in 0..self.v.n_layer {
            let n = |s: &str| format!("blk.{l}.{s}.weight");
            let hdn = Self::rms(&x, self.w(&n("attn_norm")));
            let q = if self.v.q_lora {
                let a = self.matvec(&n("attn_q_a"), &hdn);
                let a = Self::rms(&a, self.w(&n("attn_q_a_norm")));
                self.matvec(&n("attn_q_b"), &a)
            } else {
                self.matvec(&n("attn_q"), &hdn)
            };
            let kva = self.matvec(&n("attn_kv_a_mqa"), &hdn);
            let z = Self::rms(&kva[..KV_RANK], self.w(&n("attn_kv_a_norm")));
            let mut k_r = kva[KV_RANK..].to_vec();
            self.rope(&mut k_r, pos);
            let (mut ks, mut vs, mut qs) = (Vec::new(), Vec::new(), Vec::new());
            for h in 0..N_HEAD {
                let (kmap, vmap) = self.maps(l, h);
                let dot = |row: &Vec<f32>| row.iter().zip(&z).map(|(a, b)| a * b).sum::<f32>();
                let mut key: Vec<f32> = kmap.iter().map(dot).collect();
                key.extend_from_slice(&k_r);
                // Cached as f16, as the engine and llama.cpp cache: over 27 layers, f32
                // history drifts far enough to flip a near-tie in expert routing.
                let r16 = |x: &f32| gguf::half::f16_to_f32(gguf::half::f32_to_f16(*x));
                ks.push(key.iter().map(r16).collect());
                vs.push(
                    vmap.iter()
                        .map(dot)
                        .collect::<Vec<f32>>()
                        .iter()
                        .map(r16)
                        .collect(),
                );
                let mut qh = q[h * c..(h + 1) * c].to_vec();
                self.rope(&mut qh[NOPE..], pos);
                qs.push(qh);
            }
            self.keys[l].push(ks);
            self.values[l].push(vs);
            let mut att = vec![0.0f32; N_HEAD * V_DIM];
            for h in 0..N_HEAD {
                let scores: Vec<f32> = (0..=pos)
                    .map(|t| {
                        let k = &self.keys[l][t][h];
                        qs[h].iter().zip(k).map(|(a, b)| a * b).sum::<f32>() * scale
                    })
                    .collect();
                let m = scores.iter().copied().fold(f32::MIN, f32::max);
                let e: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
                let zsum: f32 = e.iter().sum();
                for (t, p) in e.iter().enumerate() {
                    for d in 0..V_DIM {
                        att[h * V_DIM + d] += p / zsum * self.values[l][t][h][d];
                    }
                }
            }
            let o = self.matvec(&n("attn_output"), &att);
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);

            let hdn = Self::rms(&x, self.w(&n("ffn_norm")));
            let f = if l < self.v.dense {
                self.mlp(&n("ffn_gate"), &n("ffn_up"), &n("ffn_down"), 0, &hdn)
            } else {
                let mut f = vec![0.0f32; N_EMBD];
                for (e, w) in self.expert_weights(l, &hdn) {
                    let y = self.mlp(
                        &n("ffn_gate_exps"),
                        &n("ffn_up_exps"),
                        &n("ffn_down_exps"),
                        e,
                        &hdn,
                    );
                    f.iter_mut().zip(&y).for_each(|(a, b)| *a += w * b);
                }
                if self.v.shared > 0 {
                    let y = self.mlp(
                        &n("ffn_gate_shexp"),
                        &n("ffn_up_shexp"),
                        &n("ffn_down_shexp"),
                        0,
                        &hdn,
                    );
                    f.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
                }
                f
            };
            x.iter_mut().zip(&f).for_each(|(a, b)| *a += b);
        }
        let x = Self::rms(&x, self.w("output_norm.weight"));
        self.matvec("output.weight", &x)
    }
}

// ---------------------------------------------------------------- checks

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

const PROMPT: [u32; 7] = [1, 17, 5, 42, 9, 33, 60];

#[test]
fn every_variant_matches_the_unabsorbed_reference() {
    for v in variants() {
        let model = load(&v);
        let mut reference = Reference::new(v);
        let mut cache = model.new_cache(1, 64);
        let batch: Vec<_> = (0..PROMPT.len())
            .map(|p| entry(0, p, PROMPT[p], true))
            .collect();
        let logits = model.forward(&batch, &mut cache).expect("prefill");
        let check = |ours: &[f32], want: &[f32], what: String| {
            let scale = want.iter().fold(1f32, |m, x| m.max(x.abs()));
            let diff = max_diff(ours, want);
            // The cache is f16, so agreement is to about 1e-3 relative.
            assert!(
                diff <= 5e-3 * scale,
                "{}: {what}: max |diff| {diff} (scale {scale})",
                v.name
            );
        };
        for (p, &tok) in PROMPT.iter().enumerate() {
            let want = reference.step(tok);
            check(&logits[p], &want, format!("prompt position {p}"));
        }
        for (i, tok) in [3u32, 28, 50].into_iter().enumerate() {
            let pos = PROMPT.len() + i;
            let ours = model
                .forward(&[entry(0, pos, tok, true)], &mut cache)
                .expect("decode");
            let want = reference.step(tok);
            check(&ours[0], &want, format!("decode position {pos}"));
        }
    }
}

#[test]
fn the_cache_holds_the_latent_and_the_rotated_key_only() {
    for v in variants() {
        let model = load(&v);
        let cache = model.new_cache(2, 64);
        assert_eq!(cache.widths(), (KV_RANK + ROPE, 0), "{}", v.name);
        assert_eq!(
            model.cache_bytes_per_token(),
            v.n_layer * (KV_RANK + ROPE) * 2,
            "{}",
            v.name
        );
        let shape = model.deepseek_shape().expect("deepseek shape");
        assert_eq!(
            (
                shape.kv_lora_rank,
                shape.qk_nope_dim,
                shape.qk_rope_dim,
                shape.v_head_dim
            ),
            (KV_RANK, NOPE, ROPE, V_DIM)
        );
        assert_eq!(shape.q_lora_rank, v.q_lora.then_some(Q_RANK));
        assert_eq!((shape.n_expert, shape.n_expert_used), (N_EXPERT, v.used));
    }
}

#[test]
fn batched_sequences_equal_each_alone() {
    let v = variants()[2];
    let model = load(&v);
    let prompts: [&[u32]; 3] = [&[1, 5, 8, 11, 3], &[1, 40, 30], &[1, 14, 14, 2, 6, 38]];
    let alone = |p: &[u32], next: u32| {
        let mut cache = model.new_cache(1, 64);
        let batch: Vec<_> = (0..p.len()).map(|i| entry(0, i, p[i], false)).collect();
        model.forward(&batch, &mut cache).expect("prefill");
        model
            .forward(&[entry(0, p.len(), next, true)], &mut cache)
            .expect("decode")
            .remove(0)
    };
    let mut cache = model.new_cache(3, 64);
    let mut batch = Vec::new();
    for (s, p) in prompts.iter().enumerate() {
        batch.extend((0..p.len()).map(|i| entry(s, i, p[i], false)));
    }
    model.forward(&batch, &mut cache).expect("prefill");
    let step: Vec<_> = (0..3)
        .map(|s| entry(s, prompts[s].len(), 7 + s as u32, true))
        .collect();
    let out = model.forward(&step, &mut cache).expect("decode");
    for s in 0..3 {
        let want = alone(prompts[s], 7 + s as u32);
        // Different batch shapes take different kernel paths; the rounding may differ.
        assert!(max_diff(&out[s], &want) < 1e-3, "sequence {s}");
    }
}

#[test]
fn a_missing_expert_tensor_is_named() {
    let v = BASE;
    let mut w = GgufWriter::new();
    for (k, value) in metadata(&v) {
        w.add_metadata(&k, value);
    }
    for (name, (dims, values)) in &tensors(&v) {
        if name != "blk.20.ffn_up_exps.weight" {
            w.add_f32_tensor(name, dims, GgmlType::F32, values)
                .expect("tensor");
        }
    }
    let file = GgufFile::from_bytes(w.to_bytes().expect("encode")).expect("parse");
    let err = Model::load(Arc::new(file)).expect_err("must fail");
    assert!(
        err.to_string().contains("blk.20.ffn_up_exps.weight"),
        "{err}"
    );
}

// ---------------------------------------------------------------- llama.cpp

/// What llama.cpp computed for one variant: the greedy continuation of `PROMPT` and,
/// at every generated position, the top-5 `(token, log-probability)` pairs.
#[derive(serde::Deserialize)]
struct Golden {
    name: String,
    /// FNV-1a (64-bit, hex) of the file llama.cpp ran, so that a changed builder is
    /// noticed.
    fnv64: String,
    prompt: Vec<u32>,
    tokens: Vec<u32>,
    top5: Vec<Vec<(u32, f32)>>,
    /// Largest top-5 log-probability difference between llama.cpp's own settings
    /// (flash attention on and off, one and two threads, the prompt in one batch or
    /// token by token).
    spread: f32,
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let m = logits.iter().copied().fold(f32::MIN, f32::max);
    let z: f32 = logits.iter().map(|x| (x - m).exp()).sum::<f32>().ln() + m;
    logits.iter().map(|x| x - z).collect()
}

fn fnv64(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

#[test]
fn tiny_files_decode_like_llama_cpp() {
    if let Ok(dir) = std::env::var("VERIMATH_WRITE_TINY") {
        for v in variants() {
            std::fs::write(format!("{dir}/{}.gguf", v.name), gguf_bytes(&v)).expect("write");
        }
    }
    let text = include_str!("data/deepseek2_golden.json");
    let golden: Vec<Golden> = serde_json::from_str(text).expect("golden json");
    assert_eq!(
        golden.len(),
        variants().len(),
        "one golden entry per variant"
    );
    for v in variants() {
        let g = golden
            .iter()
            .find(|g| g.name == v.name)
            .expect("golden entry");
        let bytes = gguf_bytes(&v);
        assert_eq!(
            fnv64(&bytes),
            g.fnv64,
            "{}: the file changed; rebuild the golden JSON",
            v.name
        );
        let model =
            Model::load(Arc::new(GgufFile::from_bytes(bytes).expect("parse"))).expect("load");
        let mut cache = model.new_cache(1, 64);
        let batch: Vec<_> = (0..g.prompt.len())
            .map(|p| entry(0, p, g.prompt[p], p + 1 == g.prompt.len()))
            .collect();
        let mut logits = model
            .forward(&batch, &mut cache)
            .expect("prefill")
            .remove(0);
        let tolerance = (2.0 * g.spread).max(2e-3);
        let mut worst = 0f32;
        for (step, (&want_token, top5)) in g.tokens.iter().zip(&g.top5).enumerate() {
            let lp = log_softmax(&logits);
            for &(tok, want) in top5 {
                let got = lp[tok as usize];
                worst = worst.max((got - want).abs());
                assert!(
                    (got - want).abs() <= tolerance,
                    "{} step {step}: token {tok} log-prob {got} vs llama.cpp {want} (tolerance {tolerance})",
                    v.name
                );
            }
            let ours = (0..lp.len())
                .max_by(|&a, &b| lp[a].total_cmp(&lp[b]))
                .expect("vocab") as u32;
            assert_eq!(ours, want_token, "{} step {step}: greedy token", v.name);
            let pos = cache.len(0);
            logits = model
                .forward(&[entry(0, pos, ours, true)], &mut cache)
                .expect("decode")
                .remove(0);
        }
        eprintln!(
            "{}: {} greedy tokens as llama.cpp; top-5 log-probabilities within {worst:.2e} \
             (llama.cpp's own spread {:.2e})",
            v.name,
            g.tokens.len(),
            g.spread
        );
    }
}
