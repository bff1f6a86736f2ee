//! Streaming detokenization: text out as soon as it is valid UTF-8.
//!
//! A byte-fallback or byte-level model may spell one character over several tokens
//! (`é` as `<0xC3>` `<0xA9>`), so a token's bytes are held back while they end in an
//! incomplete UTF-8 sequence and released with the token that completes it. Bytes that
//! can never become valid are replaced by U+FFFD instead of stalling the stream.

use super::Tokenizer;

/// Turns generated token ids into text incrementally.
#[derive(Debug, Clone)]
pub struct Detokenizer<'t> {
    tokenizer: &'t Tokenizer,
    /// Bytes received but not yet returned: at most an incomplete UTF-8 sequence.
    pending: Vec<u8>,
    /// No visible token yet: a space-prefix model drops the first space, as `decode`.
    at_start: bool,
}

impl<'t> Detokenizer<'t> {
    /// A decoder at the start of a stream (see also [`Tokenizer::detokenizer`]).
    pub fn new(tokenizer: &'t Tokenizer) -> Detokenizer<'t> {
        Detokenizer {
            tokenizer,
            pending: Vec::new(),
            at_start: true,
        }
    }

    /// Adds one token; returns the text that became complete (often empty for a byte
    /// in the middle of a character, and for control tokens).
    pub fn push(&mut self, id: u32) -> String {
        if !self.tokenizer.renders(id) {
            return String::new();
        }
        let mut piece = self.tokenizer.token_bytes(id);
        if self.at_start && self.tokenizer.strips_first_space() && piece.first() == Some(&b' ') {
            piece = &piece[1..];
        }
        self.at_start = false;
        self.pending.extend_from_slice(piece);
        self.take_valid()
    }

    /// Ends the stream: whatever is still held back, with U+FFFD for broken bytes.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }

    /// Whether bytes are held back waiting for the rest of a character.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    fn take_valid(&mut self) -> String {
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, tail) = rest.split_at(e.valid_up_to());
                    // `valid` was just checked by from_utf8.
                    out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        // An incomplete sequence at the end: wait for more bytes.
                        None => {
                            rest = tail;
                            break;
                        }
                        Some(bad) => {
                            out.push('\u{fffd}');
                            rest = &tail[bad..];
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        out
    }
}
