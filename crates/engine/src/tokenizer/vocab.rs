//! The vocabulary: token texts, scores and types, a text-to-id index and the byte piece
//! each token stands for.
//!
//! Models ship 150k–260k tokens, so loading must not allocate per token more than once:
//! the index is an open-addressing table of ids (the texts stay in the token list) and
//! the decoded pieces live in one contiguous buffer.

use super::TokenType;

/// An id slot that holds no token.
const EMPTY: u32 = u32::MAX;

/// Token texts with an index from text to id.
#[derive(Debug, Clone)]
pub(crate) struct Vocab {
    pub(crate) texts: Vec<String>,
    pub(crate) scores: Vec<f32>,
    pub(crate) types: Vec<TokenType>,
    /// Open-addressing hash table of token ids, size a power of two.
    slots: Vec<u32>,
    /// The longest token text in bytes: longer keys need no lookup.
    max_len: usize,
}

/// FNV-1a: short keys, no allocation, good enough spread for token texts.
fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Fold the high bits in: the table is indexed by the low bits.
    h ^ (h >> 29)
}

impl Vocab {
    /// Builds the index. When two ids share a text the later id wins, as in llama.cpp.
    pub(crate) fn new(texts: Vec<String>, scores: Vec<f32>, types: Vec<TokenType>) -> Vocab {
        let cap = (texts.len() * 2).next_power_of_two().max(16);
        let mut vocab = Vocab {
            texts,
            scores,
            types,
            slots: vec![EMPTY; cap],
            max_len: 0,
        };
        vocab.max_len = vocab.texts.iter().map(String::len).max().unwrap_or(0);
        for id in 0..vocab.texts.len() {
            vocab.insert(id as u32);
        }
        vocab
    }

    fn insert(&mut self, id: u32) {
        let mask = self.slots.len() - 1;
        let key = self.texts[id as usize].as_bytes();
        let mut i = hash(key) as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == EMPTY {
                self.slots[i] = id;
                return;
            }
            if self.texts[slot as usize].as_bytes() == key {
                self.slots[i] = id;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// The id whose text is exactly `key`.
    pub(crate) fn find(&self, key: &[u8]) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = hash(key) as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == EMPTY {
                return None;
            }
            if self.texts[slot as usize].as_bytes() == key {
                return Some(slot);
            }
            i = (i + 1) & mask;
        }
    }

    pub(crate) fn max_len(&self) -> usize {
        self.max_len
    }

    pub(crate) fn len(&self) -> usize {
        self.texts.len()
    }

    pub(crate) fn text(&self, id: u32) -> &str {
        &self.texts[id as usize]
    }

    pub(crate) fn ty(&self, id: u32) -> TokenType {
        self.types[id as usize]
    }

    pub(crate) fn score(&self, id: u32) -> f32 {
        self.scores[id as usize]
    }
}

/// Every token's piece (the bytes it stands for in decoded text) in one buffer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pieces {
    bytes: Vec<u8>,
    /// `ends[i]` is where piece `i` ends; it starts where piece `i - 1` ends.
    ends: Vec<u32>,
}

impl Pieces {
    pub(crate) fn with_capacity(tokens: usize, bytes: usize) -> Pieces {
        Pieces {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(tokens),
        }
    }

    /// Appends the next token's piece.
    pub(crate) fn push(&mut self, piece: &[u8]) {
        self.bytes.extend_from_slice(piece);
        self.ends.push(self.bytes.len() as u32);
    }

    /// The piece of token `id`, empty for ids out of range.
    pub(crate) fn get(&self, id: u32) -> &[u8] {
        let i = id as usize;
        if i >= self.ends.len() {
            return &[];
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_finds_every_text_and_later_duplicates_win() {
        let texts: Vec<String> = ["a", "b", "ab", "a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let n = texts.len();
        let v = Vocab::new(texts, vec![0.0; n], vec![TokenType::Normal; n]);
        assert_eq!(v.find(b"a"), Some(3));
        assert_eq!(v.find(b"ab"), Some(2));
        assert_eq!(v.find(b"b"), Some(1));
        assert_eq!(v.find(b"abc"), None);
        assert_eq!(v.find(b""), None);
    }

    #[test]
    fn pieces_round_trip() {
        let mut p = Pieces::with_capacity(3, 8);
        p.push(b"he");
        p.push(b"");
        p.push(b"llo");
        assert_eq!(p.get(0), b"he");
        assert_eq!(p.get(1), b"");
        assert_eq!(p.get(2), b"llo");
        assert_eq!(p.get(3), b"");
    }
}
