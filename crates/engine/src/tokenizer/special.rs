//! Splitting text around special tokens before the subword algorithm runs.
//!
//! llama.cpp's rule, which the golden tokenizations pin down: special tokens are tried
//! one at a time, longest text first, and every occurrence of a token in the text not
//! yet claimed by an earlier (longer) token becomes that single token, left to right.
//! User-defined tokens (Gemma's runs of spaces, tabs and newlines, `<table>`, ...) are
//! always matched; control and unknown tokens only when the caller asks to parse
//! special tokens (chat templates).
//!
//! Searching the text once per special token would cost `tokens × text` (Gemma has
//! 6,400 special tokens), so a trie first finds which special tokens occur at all, in
//! one pass; only those are then placed, in llama.cpp's order, each searched for in
//! the text still unclaimed. The outcome is identical, and memory stays linear in the
//! text even for a megabyte of spaces (where every position starts 31 matches).

use std::collections::HashMap;

use super::vocab::Vocab;
use super::TokenType;

/// A piece of the input after splitting: plain text for the subword algorithm, or a
/// special token already resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

/// A special token at a trie node.
#[derive(Debug, Clone, Copy)]
struct Special {
    id: u32,
    /// Priority: 0 for the longest text.
    rank: u32,
}

/// A trie over the texts of all special tokens.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpecialMatcher {
    /// Children of all nodes, grouped by parent and sorted by byte; node 0 is the root.
    edges: Vec<(u8, u32)>,
    /// For each node, its children's range in `edges`.
    children: Vec<(u32, u32)>,
    /// The token ending at each node, if any.
    token_at: Vec<Option<Special>>,
    /// How many special tokens there are (ranks run below this).
    count: usize,
    /// Bytes that begin at least one special token: a cheap filter for positions.
    starts: Vec<bool>,
}

impl SpecialMatcher {
    /// Indexes every control, user-defined and unknown token with a non-empty text.
    pub(crate) fn new(vocab: &Vocab) -> SpecialMatcher {
        let mut ids: Vec<u32> = (0..vocab.len() as u32)
            .filter(|&id| {
                matches!(
                    vocab.ty(id),
                    TokenType::Control | TokenType::UserDefined | TokenType::Unknown
                ) && !vocab.text(id).is_empty()
            })
            .collect();
        // Longest first; ties by id so the order does not depend on the sort.
        ids.sort_by_key(|&id| (std::cmp::Reverse(vocab.text(id).len()), id));

        // Built with a map, then flattened: a lookup while scanning text is a short
        // search in a sorted slice rather than hashing.
        let mut building: HashMap<(u32, u8), u32> = HashMap::new();
        let mut m = SpecialMatcher {
            edges: Vec::new(),
            children: Vec::new(),
            token_at: vec![None],
            count: ids.len(),
            starts: vec![false; 256],
        };
        for (rank, &id) in ids.iter().enumerate() {
            let text = vocab.text(id).as_bytes();
            m.starts[text[0] as usize] = true;
            let mut node = 0u32;
            for &b in text {
                let next = m.token_at.len() as u32;
                node = *building.entry((node, b)).or_insert(next);
                if node == next {
                    m.token_at.push(None);
                }
            }
            // Two ids with the same text: the later id wins, as in the text index.
            m.token_at[node as usize] = Some(Special {
                id,
                rank: rank as u32,
            });
        }
        let mut flat: Vec<(u32, u8, u32)> =
            building.into_iter().map(|((p, b), c)| (p, b, c)).collect();
        flat.sort_unstable();
        m.children = vec![(0, 0); m.token_at.len()];
        for (i, &(parent, b, child)) in flat.iter().enumerate() {
            let range = &mut m.children[parent as usize];
            if range.0 == range.1 {
                *range = (i as u32, i as u32);
            }
            range.1 = i as u32 + 1;
            m.edges.push((b, child));
        }
        m
    }

    /// The child of `node` along byte `b`.
    fn child(&self, node: u32, b: u8) -> Option<u32> {
        let (start, end) = self.children[node as usize];
        let kids = &self.edges[start as usize..end as usize];
        kids.binary_search_by_key(&b, |&(byte, _)| byte)
            .ok()
            .map(|i| kids[i].1)
    }

    /// Splits `text` into plain-text fragments and special tokens. Control and unknown
    /// tokens are recognised only when `parse_special` is set.
    pub(crate) fn split<'t>(
        &self,
        vocab: &Vocab,
        text: &'t str,
        parse_special: bool,
    ) -> Vec<Fragment<'t>> {
        let present = self.present(vocab, text, parse_special);
        let mut out = Vec::new();
        if !text.is_empty() {
            out.push(Fragment::Text(text));
        }
        for id in present {
            let needle = vocab.text(id);
            if !out
                .iter()
                .any(|f| matches!(f, Fragment::Text(t) if t.contains(needle)))
            {
                continue;
            }
            let mut next = Vec::with_capacity(out.len() + 2);
            for fragment in out {
                let Fragment::Text(t) = fragment else {
                    next.push(fragment);
                    continue;
                };
                // Leftmost occurrences first, without overlaps, inside this stretch of
                // unclaimed text only. Special token texts are whole UTF-8 strings, so
                // matches start and end on character boundaries.
                let mut pos = 0;
                for (start, _) in t.match_indices(needle) {
                    if start > pos {
                        next.push(Fragment::Text(&t[pos..start]));
                    }
                    next.push(Fragment::Token(id));
                    pos = start + needle.len();
                }
                if pos < t.len() {
                    next.push(Fragment::Text(&t[pos..]));
                }
            }
            out = next;
        }
        out
    }

    /// The special tokens that occur in `text` (and may be matched), in the order
    /// they are to be placed.
    fn present(&self, vocab: &Vocab, text: &str, parse_special: bool) -> Vec<u32> {
        let bytes = text.as_bytes();
        let mut present = Vec::new();
        // Found ranks as a bitset: a megabyte of spaces yields 31 matches per byte.
        let mut seen = vec![0u64; self.count.div_ceil(64)];
        for start in 0..bytes.len() {
            if !self.starts[bytes[start] as usize] {
                continue;
            }
            let mut node = 0u32;
            for &b in &bytes[start..] {
                match self.child(node, b) {
                    Some(next) => node = next,
                    None => break,
                }
                if let Some(Special { id, rank }) = self.token_at[node as usize] {
                    let wanted = parse_special || vocab.ty(id) == TokenType::UserDefined;
                    let (word, bit) = (rank as usize / 64, 1u64 << (rank % 64));
                    if wanted && seen[word] & bit == 0 {
                        seen[word] |= bit;
                        present.push((rank, id));
                    }
                }
            }
        }
        present.sort_unstable();
        present.into_iter().map(|(_, id)| id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(entries: &[(&str, TokenType)]) -> Vocab {
        let texts = entries.iter().map(|e| e.0.to_string()).collect();
        let types = entries.iter().map(|e| e.1).collect();
        Vocab::new(texts, vec![0.0; entries.len()], types)
    }

    #[test]
    fn longest_token_claims_text_first() {
        use TokenType::*;
        let v = vocab(&[("  ", UserDefined), ("   ", UserDefined), ("x", Normal)]);
        let m = SpecialMatcher::new(&v);
        // Five spaces: the three-space token is placed first, then the two-space one.
        assert_eq!(
            m.split(&v, "a     b", false),
            vec![
                Fragment::Text("a"),
                Fragment::Token(1),
                Fragment::Token(0),
                Fragment::Text("b")
            ]
        );
    }

    #[test]
    fn control_tokens_need_parse_special() {
        use TokenType::*;
        let v = vocab(&[("<s>", Control), ("hi", Normal)]);
        let m = SpecialMatcher::new(&v);
        assert_eq!(m.split(&v, "<s>hi", false), vec![Fragment::Text("<s>hi")]);
        assert_eq!(
            m.split(&v, "<s>hi<s>", true),
            vec![Fragment::Token(0), Fragment::Text("hi"), Fragment::Token(0)]
        );
        assert!(m.split(&v, "", true).is_empty());
    }

    #[test]
    fn priority_is_by_length_not_position() {
        use TokenType::*;
        // "bcd" is longer than "ab", so in "abcd" it claims its bytes although "ab"
        // starts earlier; in "ab c" only the short one occurs.
        let v = vocab(&[("ab", UserDefined), ("bcd", UserDefined)]);
        let m = SpecialMatcher::new(&v);
        assert_eq!(
            m.split(&v, "abcd", false),
            vec![Fragment::Text("a"), Fragment::Token(1)]
        );
        assert_eq!(
            m.split(&v, "ab c", false),
            vec![Fragment::Token(0), Fragment::Text(" c")]
        );
    }
}
