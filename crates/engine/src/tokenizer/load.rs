//! Reading a [`TokenizerSpec`] from GGUF metadata (`tokenizer.ggml.*`), with the same
//! defaults llama.cpp applies when a key is absent.

use gguf::{GgufFile, Value};

use super::{ModelKind, PreTokenizer, TokenType, TokenizerError, TokenizerSpec};

const MODEL: &str = "tokenizer.ggml.model";
const PRE: &str = "tokenizer.ggml.pre";
const TOKENS: &str = "tokenizer.ggml.tokens";
const SCORES: &str = "tokenizer.ggml.scores";
const TYPES: &str = "tokenizer.ggml.token_type";
const MERGES: &str = "tokenizer.ggml.merges";

/// Collects the tokenizer's parts from a model file.
pub(crate) fn spec_from_gguf(file: &GgufFile) -> Result<TokenizerSpec, TokenizerError> {
    let model_name = file
        .get(MODEL)
        .ok_or(TokenizerError::MissingKey(MODEL))?
        .as_str()
        .ok_or_else(|| bad(MODEL, "not a string"))?;
    let model = match model_name {
        "llama" => ModelKind::Spm,
        "gpt2" => ModelKind::Bpe,
        other => return Err(TokenizerError::UnsupportedModel(other.to_owned())),
    };
    let pre = PreTokenizer::from_name(file.get(PRE).and_then(Value::as_str).unwrap_or("default"));

    let tokens = array(file, TOKENS)?
        .ok_or(TokenizerError::MissingKey(TOKENS))?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| bad(TOKENS, "an entry is not a string"))?;
    let scores = match array(file, SCORES)? {
        Some(values) => values
            .iter()
            .map(|v| v.as_f64().map(|f| f as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| bad(SCORES, "an entry is not a number"))?,
        None => Vec::new(),
    };
    let types = match array(file, TYPES)? {
        Some(values) => values
            .iter()
            .map(|v| v.as_i64().map(TokenType::from_code))
            .collect::<Option<Vec<TokenType>>>()
            .ok_or_else(|| bad(TYPES, "an entry is not an integer"))?,
        None => Vec::new(),
    };
    let merges = match array(file, MERGES)? {
        Some(values) => values
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| bad(MERGES, "an entry is not a string"))?,
        None if model == ModelKind::Bpe => return Err(TokenizerError::MissingKey(MERGES)),
        None => Vec::new(),
    };

    // llama.cpp's defaults per model family, overridden by whatever the file states.
    let (bos, eos, unk, add_bos, add_space_prefix) = match model {
        ModelKind::Spm => (Some(1), Some(2), Some(0), true, true),
        ModelKind::Bpe => (Some(11), Some(11), None, pre == PreTokenizer::Llama3, false),
    };
    let id = |key: &'static str, default: Option<u32>| -> Result<Option<u32>, TokenizerError> {
        match file.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .and_then(|x| u32::try_from(x).ok())
                .map(Some)
                .ok_or_else(|| bad(key, "not a token id")),
        }
    };
    let flag = |key: &'static str, default: bool| -> Result<bool, TokenizerError> {
        match file.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| bad(key, "not a boolean")),
        }
    };

    Ok(TokenizerSpec {
        model,
        pre,
        tokens,
        scores,
        types,
        merges,
        bos: id("tokenizer.ggml.bos_token_id", bos)?,
        eos: id("tokenizer.ggml.eos_token_id", eos)?,
        unk: id("tokenizer.ggml.unknown_token_id", unk)?,
        pad: id("tokenizer.ggml.padding_token_id", None)?,
        eot: id("tokenizer.ggml.eot_token_id", None)?,
        eom: id("tokenizer.ggml.eom_token_id", None)?,
        add_bos: flag("tokenizer.ggml.add_bos_token", add_bos)?,
        add_eos: flag("tokenizer.ggml.add_eos_token", false)?,
        add_space_prefix: flag("tokenizer.ggml.add_space_prefix", add_space_prefix)?,
    })
}

/// The array under `key`, `None` when absent, an error when not an array.
fn array<'f>(file: &'f GgufFile, key: &'static str) -> Result<Option<&'f [Value]>, TokenizerError> {
    match file.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_array()
            .map(Some)
            .ok_or_else(|| bad(key, "not an array")),
    }
}

fn bad(key: &'static str, detail: &str) -> TokenizerError {
    TokenizerError::BadMetadata {
        key,
        detail: detail.to_owned(),
    }
}
