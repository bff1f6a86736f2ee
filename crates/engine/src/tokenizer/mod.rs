//! Tokenizers built from GGUF metadata, matching llama.cpp token for token.
//!
//! Two algorithms, chosen by `tokenizer.ggml.model`:
//!
//! - **SentencePiece-style** (`"llama"`: Gemma, Llama 2, Mistral) — [`spm`]. Spaces
//!   are written `▁` (with a leading one when `add_space_prefix` asks for it), the text
//!   starts as single characters, and the adjacent pair that forms the token with the
//!   highest score is merged repeatedly. Characters outside the vocabulary fall back to
//!   their UTF-8 bytes as `<0xXX>` tokens.
//! - **Byte-level BPE** (`"gpt2"`: Llama 3, Qwen2, DeepSeek) — [`bpe`]. A
//!   model-specific regular expression ([`pretokenize`], chosen by
//!   `tokenizer.ggml.pre`) cuts the text into words; each word's bytes are written as
//!   printable characters and merged by the ranked rules of `tokenizer.ggml.merges`.
//!
//! Before either runs, special tokens are split out of the text ([`special`]):
//! user-defined tokens (Gemma's whitespace runs) always, control tokens such as
//! `<start_of_turn>` only when the caller asks (`parse_special`, for chat templates).
//! `add_special` adds BOS/EOS exactly as `add_bos_token` / `add_eos_token` say.
//!
//! Decoding concatenates each token's bytes ([`Tokenizer::token_bytes`]); control
//! tokens decode to nothing. Generated text arrives token by token and a character may
//! be split across byte tokens, so [`Detokenizer`] holds incomplete UTF-8 back.

mod bpe;
mod detok;
mod load;
mod pretokenize;
mod special;
mod spm;
mod vocab;

use std::collections::HashSet;

pub use detok::Detokenizer;
pub use pretokenize::PreTokenizer;

use special::{Fragment, SpecialMatcher};
use vocab::{Pieces, Vocab};

/// What went wrong building a tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A key the tokenizer needs is absent from the model file.
    #[error("model metadata lacks `{0}`")]
    MissingKey(&'static str),
    /// A key is present but holds the wrong kind of value.
    #[error("model metadata `{key}` is invalid: {detail}")]
    BadMetadata { key: &'static str, detail: String },
    /// `tokenizer.ggml.model` names a tokenizer this crate does not implement.
    #[error("unsupported tokenizer model `{0}` (supported: llama, gpt2)")]
    UnsupportedModel(String),
    /// A merge rule without the space that separates its two sides.
    #[error("merge rule {rank} `{rule}` has no separating space")]
    BadMerge { rank: usize, rule: String },
    /// A pre-tokenizer expression failed to compile (a bug, reported not panicked).
    #[error("pre-tokenizer expression `{pattern}` does not compile: {message}")]
    Regex { pattern: String, message: String },
}

/// The kind of a token, as stored in `tokenizer.ggml.token_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// A code outside the known set (or 0): treated like a normal token.
    Undefined,
    /// An ordinary subword.
    Normal,
    /// The unknown token (`<unk>`).
    Unknown,
    /// BOS, EOS, turn markers: never produced from plain text, decoded as nothing.
    Control,
    /// Added tokens matched in text before the subword algorithm runs.
    UserDefined,
    /// Reserved slots the model was not trained on.
    Unused,
    /// `<0xXX>`: one raw byte (SentencePiece byte fallback).
    Byte,
}

impl TokenType {
    /// Maps the GGUF code (llama.cpp's `llama_token_type`) to a type.
    pub fn from_code(code: i64) -> TokenType {
        match code {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => TokenType::Undefined,
        }
    }
}

/// The subword algorithm, from `tokenizer.ggml.model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// `"llama"`: SentencePiece-style scores with byte fallback.
    Spm,
    /// `"gpt2"`: byte-level BPE with ranked merges.
    Bpe,
}

/// Everything a tokenizer is built from; [`Tokenizer::from_gguf`] fills it from
/// metadata, tests fill it by hand.
#[derive(Debug, Clone)]
pub struct TokenizerSpec {
    /// The subword algorithm.
    pub model: ModelKind,
    /// Only used by [`ModelKind::Bpe`].
    pub pre: PreTokenizer,
    /// Token texts, indexed by id.
    pub tokens: Vec<String>,
    /// One per token; empty means all zero.
    pub scores: Vec<f32>,
    /// One per token; empty means all normal.
    pub types: Vec<TokenType>,
    /// `left right` rules, best first (BPE only).
    pub merges: Vec<String>,
    /// Special ids; ones outside the vocabulary are ignored.
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
    /// End of turn (`<end_of_turn>`, `<|im_end|>`), when the metadata names it.
    pub eot: Option<u32>,
    /// End of message (`<|eom_id|>`), when the metadata names it.
    pub eom: Option<u32>,
    /// Whether `encode(.., add_special = true, ..)` adds BOS / EOS.
    pub add_bos: bool,
    pub add_eos: bool,
    /// SentencePiece: write a space before text at the start and after each special
    /// token (Llama 2 yes, Gemma no).
    pub add_space_prefix: bool,
}

/// The algorithm-specific part of a tokenizer.
#[derive(Debug, Clone)]
enum Algorithm {
    Spm,
    /// Boxed: the tables are large and the SentencePiece case needs none of them.
    Bpe(Box<bpe::Bpe>),
}

/// Token texts that end generation wherever they appear (llama.cpp's list).
const END_OF_GENERATION_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<｜end▁of▁sentence｜>",
];

/// A tokenizer: text to token ids and back.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    algorithm: Algorithm,
    vocab: Vocab,
    pieces: Pieces,
    special: SpecialMatcher,
    /// The token for each byte when a piece has no token of its own.
    byte_tokens: [u32; 256],
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    end_of_generation: HashSet<u32>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
}

impl Tokenizer {
    /// Reads the tokenizer of a GGUF model (`tokenizer.ggml.*`).
    pub fn from_gguf(file: &gguf::GgufFile) -> Result<Tokenizer, TokenizerError> {
        Tokenizer::from_spec(load::spec_from_gguf(file)?)
    }

    /// Builds a tokenizer from its parts.
    pub fn from_spec(spec: TokenizerSpec) -> Result<Tokenizer, TokenizerError> {
        let n = spec.tokens.len();
        if n == 0 {
            return Err(TokenizerError::BadMetadata {
                key: "tokenizer.ggml.tokens",
                detail: "the vocabulary is empty".into(),
            });
        }
        let check_len = |len: usize, key: &'static str| {
            if len != 0 && len != n {
                return Err(TokenizerError::BadMetadata {
                    key,
                    detail: format!("{len} entries for {n} tokens"),
                });
            }
            Ok(())
        };
        check_len(spec.scores.len(), "tokenizer.ggml.scores")?;
        check_len(spec.types.len(), "tokenizer.ggml.token_type")?;
        let in_range = |id: Option<u32>| id.filter(|&i| (i as usize) < n);

        let scores = if spec.scores.is_empty() {
            vec![0.0; n]
        } else {
            spec.scores
        };
        let types = if spec.types.is_empty() {
            vec![TokenType::Normal; n]
        } else {
            spec.types
        };
        let vocab = Vocab::new(spec.tokens, scores, types);
        let unk = in_range(spec.unk);

        let (algorithm, byte_tokens) = match spec.model {
            ModelKind::Spm => {
                let mut bytes = [unk.unwrap_or(0); 256];
                for (b, slot) in bytes.iter_mut().enumerate() {
                    if let Some(id) = vocab.find(format!("<0x{b:02X}>").as_bytes()) {
                        *slot = id;
                    }
                }
                (Algorithm::Spm, bytes)
            }
            ModelKind::Bpe => {
                let b = bpe::Bpe::new(&vocab, &spec.merges, spec.pre, unk)?;
                let bytes = b.byte_tokens;
                (Algorithm::Bpe(Box::new(b)), bytes)
            }
        };

        let pieces = build_pieces(&vocab, &algorithm);
        let special = SpecialMatcher::new(&vocab);

        let mut end_of_generation: HashSet<u32> = [spec.eos, spec.eot, spec.eom]
            .into_iter()
            .filter_map(in_range)
            .collect();
        for text in END_OF_GENERATION_TEXTS {
            if let Some(id) = vocab.find(text.as_bytes()) {
                end_of_generation.insert(id);
            }
        }

        Ok(Tokenizer {
            algorithm,
            special,
            pieces,
            byte_tokens,
            bos: in_range(spec.bos),
            eos: in_range(spec.eos),
            unk,
            pad: in_range(spec.pad),
            end_of_generation,
            add_bos: spec.add_bos,
            add_eos: spec.add_eos,
            add_space_prefix: spec.add_space_prefix,
            vocab,
        })
    }

    /// Token ids of `text`. `add_special`: add BOS/EOS as the model's metadata asks.
    /// `parse_special`: control-token texts in `text` (`<start_of_turn>`) become those
    /// tokens instead of being spelled out; use it for rendered chat templates, never
    /// for untrusted user text.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        // SentencePiece adds its space prefix to text at the start and after a special
        // token, as llama.cpp does.
        let mut after_special = true;
        for fragment in self.special.split(&self.vocab, text, parse_special) {
            match fragment {
                Fragment::Token(id) => {
                    out.push(id);
                    after_special = true;
                }
                Fragment::Text(t) => {
                    match &self.algorithm {
                        Algorithm::Spm => spm::encode(
                            &self.vocab,
                            &self.byte_tokens,
                            t,
                            self.add_space_prefix && after_special,
                            &mut out,
                        ),
                        Algorithm::Bpe(b) => b.encode(&self.vocab, t, &mut out),
                    }
                    after_special = false;
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        out
    }

    /// Ids of a rendered chat prompt: special-token texts become their tokens, and
    /// BOS is added where the metadata asks for it unless the template already wrote
    /// it (many print `{{ bos_token }}`), so the prompt never starts with two. EOS is
    /// never appended: the prompt ends where the model is to continue.
    pub fn encode_chat(&self, rendered: &str) -> Vec<u32> {
        let mut ids = self.encode(rendered, false, true);
        if let Some(bos) = self.bos.filter(|_| self.add_bos) {
            if ids.first() != Some(&bos) {
                ids.insert(0, bos);
            }
        }
        ids
    }

    /// The text of `ids`. Control tokens (BOS, turn markers) contribute nothing; bytes
    /// that are not valid UTF-8 become U+FFFD. With a space prefix (SentencePiece
    /// models that add one), the first space is dropped again, so
    /// `decode(encode(t)) == t` for ordinary text.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        let mut first = true;
        for &id in ids {
            if !self.renders(id) {
                continue;
            }
            let mut piece = self.token_bytes(id);
            if first && self.add_space_prefix && piece.first() == Some(&b' ') {
                piece = &piece[1..];
            }
            first = false;
            bytes.extend_from_slice(piece);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// A streaming decoder for generated tokens.
    pub fn detokenizer(&self) -> Detokenizer<'_> {
        Detokenizer::new(self)
    }

    /// The raw bytes token `id` stands for: `▁` is a space, a byte token is its byte,
    /// control and user-defined tokens are their text. Empty for unknown ids.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.pieces.get(id)
    }

    /// The token's text exactly as stored in the vocabulary (`▁hello`, `<0x0A>`).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        ((id as usize) < self.vocab.len()).then(|| self.vocab.text(id))
    }

    /// The token's type, `None` for ids outside the vocabulary.
    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        ((id as usize) < self.vocab.len()).then(|| self.vocab.ty(id))
    }

    /// The id of the token whose stored text is exactly `text`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.vocab.find(text.as_bytes())
    }

    /// Whether decoding shows this token (everything but control tokens and ids
    /// outside the vocabulary).
    pub fn renders(&self, id: u32) -> bool {
        (id as usize) < self.vocab.len() && self.vocab.ty(id) != TokenType::Control
    }

    pub(crate) fn strips_first_space(&self) -> bool {
        self.add_space_prefix
    }

    /// Beginning-of-sequence token, if the model has one.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// End-of-sequence token, if the model has one.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// The unknown token (byte fallback's last resort), if the model has one.
    pub fn unk(&self) -> Option<u32> {
        self.unk
    }

    /// The padding token, if the model names one.
    pub fn pad(&self) -> Option<u32> {
        self.pad
    }

    /// Whether `encode(.., add_special = true, ..)` starts with BOS.
    pub fn adds_bos(&self) -> bool {
        self.add_bos && self.bos.is_some()
    }

    /// Whether `encode(.., add_special = true, ..)` ends with EOS.
    pub fn adds_eos(&self) -> bool {
        self.add_eos && self.eos.is_some()
    }

    /// Whether generation stops at this token: EOS, end of turn (`<end_of_turn>`,
    /// `<|im_end|>`, `<｜end▁of▁sentence｜>`, ...), end of message.
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        self.end_of_generation.contains(&id)
    }

    /// All end-of-generation ids, ascending.
    pub fn end_of_generation_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.end_of_generation.iter().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Number of tokens, which is also the number of logits the model produces.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// Which subword algorithm this tokenizer runs.
    pub fn model_kind(&self) -> ModelKind {
        match self.algorithm {
            Algorithm::Spm => ModelKind::Spm,
            Algorithm::Bpe(_) => ModelKind::Bpe,
        }
    }
}

/// The bytes each token stands for in decoded text.
fn build_pieces(vocab: &Vocab, algorithm: &Algorithm) -> Pieces {
    let total: usize = vocab.texts.iter().map(String::len).sum();
    let mut pieces = Pieces::with_capacity(vocab.len(), total);
    let mut buf = Vec::new();
    for id in 0..vocab.len() as u32 {
        let text = vocab.text(id);
        buf.clear();
        match (vocab.ty(id), algorithm) {
            (TokenType::Control | TokenType::UserDefined, _) => {
                buf.extend_from_slice(text.as_bytes())
            }
            (TokenType::Byte, Algorithm::Spm) => match parse_byte_token(text) {
                Some(b) => buf.push(b),
                None => buf.extend_from_slice(text.as_bytes()),
            },
            // llama.cpp shows the unknown token as a lower block.
            (TokenType::Unknown, Algorithm::Spm) => buf.extend_from_slice("▅".as_bytes()),
            (_, Algorithm::Spm) => {
                for (i, part) in text.split('▁').enumerate() {
                    if i > 0 {
                        buf.push(b' ');
                    }
                    buf.extend_from_slice(part.as_bytes());
                }
            }
            (TokenType::Unknown, Algorithm::Bpe(_)) => buf.extend_from_slice(text.as_bytes()),
            (_, Algorithm::Bpe(b)) => b.text_bytes(text, &mut buf),
        }
        pieces.push(&buf);
    }
    pieces
}

/// The byte of a `<0xXX>` token text.
fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}
