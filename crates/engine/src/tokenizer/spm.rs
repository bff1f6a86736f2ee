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
/// Positions are `u32` to keep symbols and candidates small (the queue can hold
/// millions); see [`MAX_FRAGMENT`].
#[derive(Clone, Copy)]
struct Symbol {
    start: u32,
    /// Length in bytes; 0 once merged into its left neighbour.
    len: u32,
    prev: Option<u32>,
    next: Option<u32>,
}

/// A candidate merge of two adjacent symbols.
struct Bigram {
    score: f32,
    left: u32,
    right: u32,
    /// Byte length of the merged text, to detect candidates made stale by other merges.
    len: u32,
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

/// The longest text encoded in one piece: escaping can triple its size (a space is
/// three bytes as `▁`), and positions must fit in `u32`.
const MAX_FRAGMENT: usize = 1 << 30;

/// Encodes one fragment of plain text (no special tokens in it) and appends the ids.
/// `byte_tokens[b]` is the id of `<0xXX>` for byte `b`, or `unk` where missing.
pub(crate) fn encode(
    vocab: &Vocab,
    byte_tokens: &[u32; 256],
    text: &str,
    add_space_prefix: bool,
    out: &mut Vec<u32>,
) {
    if text.len() > MAX_FRAGMENT {
        // Cut at a character boundary; merges across the cut are lost, which only
        // matters for gigabyte-sized inputs.
        let mut cut = MAX_FRAGMENT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        encode(vocab, byte_tokens, &text[..cut], add_space_prefix, out);
        encode(vocab, byte_tokens, &text[cut..], false, out);
        return;
    }
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
        let idx = symbols.len() as u32;
        symbols.push(Symbol {
            start: start as u32,
            len: c.len_utf8() as u32,
            prev: idx.checked_sub(1),
            next: None,
        });
        if idx > 0 {
            symbols[idx as usize - 1].next = Some(idx);
        }
    }

    let mut queue = BinaryHeap::with_capacity(symbols.len());
    let try_pair = |queue: &mut BinaryHeap<Bigram>, symbols: &[Symbol], left: u32, right: u32| {
        let (l, r) = (symbols[left as usize], symbols[right as usize]);
        let len = l.len + r.len;
        if len as usize > vocab.max_len() {
            return;
        }
        let merged = &bytes[l.start as usize..(l.start + len) as usize];
        if let Some(id) = vocab.find(merged) {
            queue.push(Bigram {
                score: vocab.score(id),
                left,
                right,
                len,
            });
        }
    };
    for i in 1..symbols.len() as u32 {
        try_pair(&mut queue, &symbols, i - 1, i);
    }

    while let Some(bigram) = queue.pop() {
        let (li, ri) = (bigram.left as usize, bigram.right as usize);
        let (l, r) = (symbols[li], symbols[ri]);
        // Stale: one side was merged away or grew since this candidate was queued.
        if l.len == 0 || r.len == 0 || l.len + r.len != bigram.len {
            continue;
        }
        symbols[li].len += r.len;
        symbols[li].next = r.next;
        symbols[ri].len = 0;
        if let Some(n) = r.next {
            symbols[n as usize].prev = Some(bigram.left);
        }
        if let Some(p) = l.prev {
            try_pair(&mut queue, &symbols, p, bigram.left);
        }
        if let Some(n) = r.next {
            try_pair(&mut queue, &symbols, bigram.left, n);
        }
    }

    let mut cur = if symbols.is_empty() { None } else { Some(0u32) };
    while let Some(i) = cur {
        let s = symbols[i as usize];
        let piece = &bytes[s.start as usize..(s.start + s.len) as usize];
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
