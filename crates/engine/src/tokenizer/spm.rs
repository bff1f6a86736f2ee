//! SentencePiece-style encoding (vocabulary type "llama": Llama 1/2, Gemma, Mistral).
//!
//! The text, with spaces written as `▁`, starts as one symbol per UTF-8 character.
//! Every adjacent pair whose concatenation is a token is a candidate; the candidate
//! with the highest token score is merged first (ties: the leftmost), and the new
//! symbol's neighbours become candidates in turn. When nothing more merges, each
//! symbol that is a token is emitted; any other symbol (a character missing from the
//! vocabulary) falls back to its UTF-8 bytes as `<0xXX>` byte tokens.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::vocab::Vocab;

/// A symbol in the linked list of the text being merged.
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    /// Length in bytes; 0 once merged into its left neighbour.
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge of two adjacent symbols.
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    /// Byte length of the merged text, to detect candidates made stale by other merges.
    len: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    /// Max-heap order: higher score first, then the leftmost pair.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

/// Encodes one fragment of plain text (no special tokens in it) and appends the ids.
/// `byte_tokens[b]` is the id of `<0xXX>` for byte `b`, or `unk` where missing.
pub(crate) fn encode(
    vocab: &Vocab,
    byte_tokens: &[u32; 256],
    text: &str,
    add_space_prefix: bool,
    out: &mut Vec<u32>,
) {
    let mut escaped = String::with_capacity(text.len() + text.len() / 4 + 3);
    if add_space_prefix {
        escaped.push('▁');
    }
    for c in text.chars() {
        escaped.push(if c == ' ' { '▁' } else { c });
    }
    let bytes = escaped.as_bytes();

    let mut symbols: Vec<Symbol> = Vec::with_capacity(escaped.len());
    for (start, c) in escaped.char_indices() {
        let idx = symbols.len();
        symbols.push(Symbol {
            start,
            len: c.len_utf8(),
            prev: idx.checked_sub(1),
            next: None,
        });
        if idx > 0 {
            symbols[idx - 1].next = Some(idx);
        }
    }

    let mut queue = BinaryHeap::with_capacity(symbols.len());
    let try_pair =
        |queue: &mut BinaryHeap<Bigram>, symbols: &[Symbol], left: usize, right: usize| {
            let (l, r) = (symbols[left], symbols[right]);
            let merged = &bytes[l.start..l.start + l.len + r.len];
            if let Some(id) = vocab.find(merged) {
                queue.push(Bigram {
                    score: vocab.score(id),
                    left,
                    right,
                    len: merged.len(),
                });
            }
        };
    for i in 1..symbols.len() {
        try_pair(&mut queue, &symbols, i - 1, i);
    }

    while let Some(bigram) = queue.pop() {
        let (l, r) = (symbols[bigram.left], symbols[bigram.right]);
        // Stale: one side was merged away or grew since this candidate was queued.
        if l.len == 0 || r.len == 0 || l.len + r.len != bigram.len {
            continue;
        }
        symbols[bigram.left].len += r.len;
        symbols[bigram.left].next = r.next;
        symbols[bigram.right].len = 0;
        if let Some(n) = r.next {
            symbols[n].prev = Some(bigram.left);
        }
        if let Some(p) = l.prev {
            try_pair(&mut queue, &symbols, p, bigram.left);
        }
        if let Some(n) = r.next {
            try_pair(&mut queue, &symbols, bigram.left, n);
        }
    }

    let mut cur = if symbols.is_empty() { None } else { Some(0) };
    while let Some(i) = cur {
        let s = symbols[i];
        let piece = &bytes[s.start..s.start + s.len];
        match vocab.find(piece) {
            Some(id) => out.push(id),
            None => out.extend(piece.iter().map(|&b| byte_tokens[b as usize])),
        }
        cur = s.next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::TokenType;

    fn setup(entries: &[(&str, f32)]) -> (Vocab, [u32; 256]) {
        let mut texts: Vec<String> = (0..=255u8).map(|b| format!("<0x{b:02X}>")).collect();
        let mut scores = vec![0.0; 256];
        let mut types = vec![TokenType::Byte; 256];
        for (t, s) in entries {
            texts.push(t.to_string());
            scores.push(*s);
            types.push(TokenType::Normal);
        }
        let mut bytes = [0u32; 256];
        for (b, slot) in bytes.iter_mut().enumerate() {
            *slot = b as u32;
        }
        (Vocab::new(texts, scores, types), bytes)
    }

    fn enc(v: &(Vocab, [u32; 256]), text: &str, prefix: bool) -> Vec<String> {
        let mut out = Vec::new();
        encode(&v.0, &v.1, text, prefix, &mut out);
        out.iter().map(|&id| v.0.text(id).to_string()).collect()
    }

    #[test]
    fn highest_score_merges_first() {
        // "ab" outscores "bc", so "abc" becomes ab + c, not a + bc.
        let v = setup(&[
            ("a", -1.0),
            ("b", -1.0),
            ("c", -1.0),
            ("ab", -2.0),
            ("bc", -3.0),
        ]);
        assert_eq!(enc(&v, "abc", false), ["ab", "c"]);
        let v = setup(&[
            ("a", -1.0),
            ("b", -1.0),
            ("c", -1.0),
            ("ab", -3.0),
            ("bc", -2.0),
        ]);
        assert_eq!(enc(&v, "abc", false), ["a", "bc"]);
    }

    #[test]
    fn equal_scores_merge_leftmost_first() {
        let v = setup(&[("a", -1.0), ("aa", -2.0)]);
        assert_eq!(enc(&v, "aaa", false), ["aa", "a"]);
    }

    #[test]
    fn spaces_become_the_meta_symbol_and_prefix_is_optional() {
        let v = setup(&[
            ("▁", -1.0),
            ("h", -1.0),
            ("i", -1.0),
            ("▁hi", -2.0),
            ("hi", -3.0),
        ]);
        assert_eq!(enc(&v, "hi hi", false), ["hi", "▁hi"]);
        assert_eq!(enc(&v, "hi", true), ["▁hi"]);
    }

    #[test]
    fn unknown_characters_fall_back_to_bytes() {
        let v = setup(&[("a", -1.0)]);
        assert_eq!(enc(&v, "aé", false), ["a", "<0xC3>", "<0xA9>"]);
    }
}
