//! `verimath models inspect`: what a GGUF file holds — architecture, size, quant
//! types, shape hyper-parameters, all metadata, and the tensor table.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use gguf::{GgufFile, Value};
use serde_json::json;

use super::human_bytes;

/// Arrays longer than this are abbreviated unless `--full` is given (the token
/// list of a tokenizer has hundreds of thousands of entries).
const ARRAY_PREVIEW: usize = 8;

/// The facts about a model file that `list` and `inspect` show.
#[derive(Debug, Clone)]
pub(super) struct Summary {
    pub path: PathBuf,
    pub size_bytes: u64,
    pub version: u32,
    pub architecture: Option<String>,
    pub name: Option<String>,
    pub parameters: u64,
    pub tensors: usize,
    pub metadata_keys: usize,
    /// Tensor types by bytes, largest first: (type, tensor count, bytes).
    pub quant: Vec<(&'static str, usize, u64)>,
    /// Hyper-parameters found under `{arch}.*`, in display order.
    pub shape: Vec<(&'static str, u64)>,
    pub vocab_size: Option<usize>,
    pub tokenizer: Option<String>,
    pub chat_template_chars: Option<usize>,
}

impl Summary {
    pub(super) fn of(path: &Path, file: &GgufFile) -> anyhow::Result<Summary> {
        let size_bytes = std::fs::metadata(path)
            .with_context(|| format!("cannot stat {}", path.display()))?
            .len();
        let architecture = file.get_str("general.architecture").map(str::to_string);
        let mut quant: Vec<(&'static str, usize, u64)> = Vec::new();
        for t in file.tensors() {
            let name = t.dtype.name();
            match quant.iter_mut().find(|q| q.0 == name) {
                Some(q) => {
                    q.1 += 1;
                    q.2 += t.n_bytes();
                }
                None => quant.push((name, 1, t.n_bytes())),
            }
        }
        quant.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)));
        let shape = match &architecture {
            Some(arch) => [
                ("context", "context_length"),
                ("layers", "block_count"),
                ("embedding", "embedding_length"),
                ("feed-forward", "feed_forward_length"),
                ("heads", "attention.head_count"),
                ("kv heads", "attention.head_count_kv"),
                ("rope dims", "rope.dimension_count"),
                ("q rank", "attention.q_lora_rank"),
                ("kv rank", "attention.kv_lora_rank"),
                ("dense layers", "leading_dense_block_count"),
                ("experts", "expert_count"),
                ("experts used", "expert_used_count"),
                ("shared exp.", "expert_shared_count"),
                ("expert ff", "expert_feed_forward_length"),
                ("expert groups", "expert_group_count"),
            ]
            .into_iter()
            .filter_map(|(label, key)| file.get_u64(&format!("{arch}.{key}")).map(|v| (label, v)))
            .collect(),
            None => Vec::new(),
        };
        Ok(Summary {
            path: path.to_path_buf(),
            size_bytes,
            version: file.version(),
            architecture,
            name: file.get_str("general.name").map(str::to_string),
            parameters: file.tensors().iter().map(|t| t.n_elements()).sum(),
            tensors: file.tensors().len(),
            metadata_keys: file.metadata().len(),
            quant,
            shape,
            vocab_size: file
                .get("tokenizer.ggml.tokens")
                .and_then(Value::as_array)
                .map(<[Value]>::len),
            tokenizer: file.get_str("tokenizer.ggml.model").map(str::to_string),
            chat_template_chars: file
                .get_str("tokenizer.chat_template")
                .map(|t| t.chars().count()),
        })
    }

    /// "q4_K 71%, q6_K 20%, f32 9%" — each type's share of the tensor bytes.
    pub(super) fn quant_line(&self) -> String {
        let total: u64 = self.quant.iter().map(|q| q.2).sum::<u64>().max(1);
        self.quant
            .iter()
            .map(|(name, _, bytes)| format!("{name} {:.0}%", *bytes as f64 * 100.0 / total as f64))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(super) fn to_json(&self) -> serde_json::Value {
        json!({
            "path": self.path.display().to_string(),
            "size_bytes": self.size_bytes,
            "gguf_version": self.version,
            "architecture": self.architecture,
            "name": self.name,
            "parameters": self.parameters,
            "tensor_count": self.tensors,
            "metadata_count": self.metadata_keys,
            "quant_types": self.quant.iter().map(|(name, count, bytes)| {
                json!({"type": name, "tensors": count, "bytes": bytes})
            }).collect::<Vec<_>>(),
            "shape": self.shape.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "vocab_size": self.vocab_size,
            "tokenizer": self.tokenizer,
            "chat_template_chars": self.chat_template_chars,
        })
    }
}

/// A parameter count as "268.1M" / "7.6B".
fn human_count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.2}B", n as f64 / 1e9),
    }
}

pub(super) fn open(path: &Path) -> anyhow::Result<GgufFile> {
    GgufFile::open(path).with_context(|| format!("cannot read {} as GGUF", path.display()))
}

pub(super) fn run(path: &Path, as_json: bool, full: bool) -> anyhow::Result<i32> {
    if !path.exists() {
        anyhow::bail!(
            "{} does not exist (nor does a model of that name in {}; see `verimath models list`)",
            path.display(),
            super::models_dir().display()
        );
    }
    let file = Arc::new(open(path)?);
    let summary = Summary::of(path, &file)?;
    // What one cached position costs, when the engine can load the model.
    let cache_per_token = engine::model::Model::load(Arc::clone(&file))
        .ok()
        .map(|m| m.cache_bytes_per_token());
    if as_json {
        let mut out = summary.to_json();
        out["cache_bytes_per_token"] = json!(cache_per_token);
        out["metadata"] = file
            .metadata()
            .iter()
            .map(|(k, v)| (k.clone(), value_json(v, full)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        out["tensors"] = file
            .tensors()
            .iter()
            .map(|t| {
                json!({"name": t.name, "type": t.dtype.name(), "dims": t.dims,
                       "offset": t.offset, "bytes": t.n_bytes()})
            })
            .collect::<Vec<_>>()
            .into();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    print_text(&summary, &file, full, cache_per_token);
    Ok(0)
}

fn print_text(s: &Summary, file: &GgufFile, full: bool, cache_per_token: Option<usize>) {
    println!(
        "file          {} ({})",
        s.path.display(),
        human_bytes(s.size_bytes)
    );
    println!(
        "format        GGUF v{}, {} tensors, {} metadata keys",
        s.version, s.tensors, s.metadata_keys
    );
    println!(
        "architecture  {}",
        s.architecture.as_deref().unwrap_or("(not set)")
    );
    if let Some(name) = &s.name {
        println!("name          {name}");
    }
    println!("parameters    {}", human_count(s.parameters));
    println!("quant types   {}", s.quant_line());
    for (label, value) in &s.shape {
        println!("{label:<13} {value}");
    }
    if let Some(bytes) = cache_per_token {
        println!(
            "cache/token   {} (f16 keys and values, all layers)",
            human_bytes(bytes as u64)
        );
    }
    if let Some(v) = s.vocab_size {
        let model = s.tokenizer.as_deref().unwrap_or("?");
        println!("vocabulary    {v} tokens ({model} tokenizer)");
    }
    match s.chat_template_chars {
        Some(n) => println!("chat template yes ({n} characters)"),
        None => println!("chat template none"),
    }

    println!("\nmetadata:");
    for (key, value) in file.metadata() {
        println!("  {key} = {}", value_text(value, full));
    }
    println!("\ntensors:");
    let width = file
        .tensors()
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4);
    println!(
        "  {:width$}  {:8}  {:>20}  {:>12}  {:>12}",
        "name", "type", "dims", "bytes", "offset"
    );
    for t in file.tensors() {
        let dims = t
            .dims
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("x");
        println!(
            "  {:width$}  {:8}  {:>20}  {:>12}  {:>12}",
            t.name,
            t.dtype.name(),
            dims,
            t.n_bytes(),
            t.offset
        );
    }
}

fn value_text(v: &Value, full: bool) -> String {
    match v {
        Value::String(s) if !full && s.chars().count() > 120 => {
            let head: String = s.chars().take(120).collect();
            format!("{head:?}... ({} characters)", s.chars().count())
        }
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) if !full && items.len() > ARRAY_PREVIEW => {
            let head: Vec<String> = items[..ARRAY_PREVIEW]
                .iter()
                .map(|i| value_text(i, false))
                .collect();
            format!("[{}, ... ({} items)]", head.join(", "), items.len())
        }
        Value::Array(items) => {
            let all: Vec<String> = items.iter().map(|i| value_text(i, full)).collect();
            format!("[{}]", all.join(", "))
        }
        Value::Bool(b) => b.to_string(),
        Value::F32(x) => x.to_string(),
        Value::F64(x) => x.to_string(),
        other => other
            .as_i64()
            .map(|n| n.to_string())
            .or_else(|| other.as_u64().map(|n| n.to_string()))
            .unwrap_or_else(|| format!("{other:?}")),
    }
}

fn value_json(v: &Value, full: bool) -> serde_json::Value {
    match v {
        Value::String(s) => json!(s),
        Value::Bool(b) => json!(b),
        Value::F32(x) => json!(x),
        Value::F64(x) => json!(x),
        Value::Array(items) if !full && items.len() > ARRAY_PREVIEW => json!({
            "array_len": items.len(),
            "first": items[..ARRAY_PREVIEW].iter().map(|i| value_json(i, false)).collect::<Vec<_>>(),
        }),
        Value::Array(items) => json!(items
            .iter()
            .map(|i| value_json(i, full))
            .collect::<Vec<_>>()),
        other => other
            .as_i64()
            .map(|n| json!(n))
            .or_else(|| other.as_u64().map(|n| json!(n)))
            .unwrap_or(serde_json::Value::Null),
    }
}
