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
//! 6,400 special tokens), so instead a trie finds every occurrence of every special
//! token in one pass and the occurrences are then accepted in the same priority order
//! llama.cpp uses. The outcome is identical: an occurrence is taken exactly when no
//! byte of it was taken before.

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

/// A trie over the texts of all special tokens.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpecialMatcher {
    /// Child of (node, byte); node 0 is the root.
    edges: HashMap<(u32, u8), u32>,
    /// The token ending at each node, if any.
    token_at: Vec<Option<u32>>,
    /// Priority of each special token: 0 for the longest text.
    rank: HashMap<u32, u32>,
    /// Bytes that begin at least one special token: a cheap filter for positions.
    starts: Vec<bool>,
}

/// One occurrence of a special token in the text.
struct Occurrence {
    rank: u32,
    start: usize,
    len: usize,
    id: u32,
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

        let mut m = SpecialMatcher {
            edges: HashMap::new(),
            token_at: vec![None],
            rank: HashMap::with_capacity(ids.len()),
            starts: vec![false; 256],
        };
        for (rank, &id) in ids.iter().enumerate() {
            m.rank.insert(id, rank as u32);
            let text = vocab.text(id).as_bytes();
            m.starts[text[0] as usize] = true;
            let mut node = 0u32;
            for &b in text {
                let next = m.token_at.len() as u32;
                node = *m.edges.entry((node, b)).or_insert_with(|| next);
                if node == next {
                    m.token_at.push(None);
                }
            }
            // Two ids with the same text: the later id wins, as in the text index.
            m.token_at[node as usize] = Some(id);
        }
        m
    }

    /// Splits `text` into plain-text fragments and special tokens. Control and unknown
    /// tokens are recognised only when `parse_special` is set.
    pub(crate) fn split<'t>(
        &self,
        vocab: &Vocab,
        text: &'t str,
        parse_special: bool,
    ) -> Vec<Fragment<'t>> {
        let bytes = text.as_bytes();
        let mut found = Vec::new();
        for start in 0..bytes.len() {
            if !self.starts[bytes[start] as usize] {
                continue;
            }
            let mut node = 0u32;
            for (i, &b) in bytes[start..].iter().enumerate() {
                match self.edges.get(&(node, b)) {
                    Some(&next) => node = next,
                    None => break,
                }
                if let Some(id) = self.token_at[node as usize] {
                    let wanted = parse_special || vocab.ty(id) == TokenType::UserDefined;
                    if wanted {
                        found.push(Occurrence {
                            rank: self.rank.get(&id).copied().unwrap_or(u32::MAX),
                            start,
                            len: i + 1,
                            id,
                        });
                    }
                }
            }
        }
        if found.is_empty() {
            return if text.is_empty() {
                Vec::new()
            } else {
                vec![Fragment::Text(text)]
            };
        }

        found.sort_by_key(|o| (o.rank, o.start));
        let mut taken = vec![false; bytes.len()];
        let mut accepted: Vec<(usize, usize, u32)> = Vec::new();
        for o in &found {
            let span = &mut taken[o.start..o.start + o.len];
            if span.iter().any(|&t| t) {
                continue;
            }
            span.iter_mut().for_each(|t| *t = true);
            accepted.push((o.start, o.len, o.id));
        }
        accepted.sort_unstable();

        let mut out = Vec::with_capacity(accepted.len() * 2 + 1);
        let mut pos = 0;
        for (start, len, id) in accepted {
            // Special token texts are whole UTF-8 strings, so every match starts and
            // ends on a character boundary of `text`.
            if start > pos {
                out.push(Fragment::Text(&text[pos..start]));
            }
            out.push(Fragment::Token(id));
            pos = start + len;
        }
        if pos < text.len() {
            out.push(Fragment::Text(&text[pos..]));
        }
        out
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
