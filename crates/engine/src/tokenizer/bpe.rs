//! Byte-level BPE (vocabulary type "gpt2": GPT-2, Llama 3, Qwen2, DeepSeek).
//!
//! Every byte of a pre-tokenized word is first written as a printable character (the
//! GPT-2 byte-to-unicode table), so the vocabulary and the merge list are plain strings.
//! The word starts as one symbol per character; the adjacent pair with the best
//! (lowest) merge rank is merged first (ties: the leftmost), until no pair has a rank.
//! Symbols that are not tokens fall back to one token per byte.
//!
//! To avoid building strings while merging, every string that appears in a merge rule
//! is interned to a number (the token id where the string is a token), and each rule
//! is stored as (left, right) → (rank, merged).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::pretokenize::{PreTokenizer, Splitter};
use super::vocab::Vocab;
use super::TokenizerError;

/// The GPT-2 table from bytes to the characters that stand for them in token texts:
/// printable Latin-1 bytes stand for themselves, the other 68 are moved to U+0100 on.
pub(crate) fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for (b, slot) in table.iter_mut().enumerate() {
        let printable = (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || b >= 0xae;
        let cp = if printable {
            b as u32
        } else {
            next += 1;
            next - 1
        };
        // Every value is below 0x144, far from the surrogate range.
        *slot = char::from_u32(cp).unwrap_or('\u{fffd}');
    }
    table
}

/// The inverse of [`byte_to_char_table`] for decoding token texts.
pub(crate) fn char_to_byte_map() -> HashMap<char, u8> {
    byte_to_char_table()
        .iter()
        .enumerate()
        .map(|(b, &c)| (c, b as u8))
        .collect()
}

/// A hasher for the merge table's integer keys: the default SipHash is built to resist
/// crafted keys, which interned ids are not, and costs several times more per lookup.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        // Multiply-rotate mixing, as in rustc's FxHasher.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// The merge rules, keyed by interned symbol numbers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Merges {
    /// (left, right) → (rank, merged symbol).
    rules: IdMap<(u32, u32), (u32, u32)>,
    /// Interned strings that are not tokens; numbered from the vocabulary size up.
    extra: HashMap<String, u32>,
}

impl Merges {
    /// Parses rules written `left right`, in rank order (first = merged first).
    pub(crate) fn new(vocab: &Vocab, lines: &[String]) -> Result<Merges, TokenizerError> {
        let mut m = Merges {
            rules: IdMap::with_capacity_and_hasher(lines.len(), Default::default()),
            extra: HashMap::new(),
        };
        for (rank, line) in lines.iter().enumerate() {
            // The separator is the first space after the first character: a left side
            // may itself be a space-like character, never an ASCII space.
            let split = line
                .char_indices()
                .skip(1)
                .find(|&(_, c)| c == ' ')
                .map(|(i, _)| i);
            let Some(split) = split else {
                return Err(TokenizerError::BadMerge {
                    rank,
                    rule: line.clone(),
                });
            };
            let (left, right) = (&line[..split], &line[split + 1..]);
            let merged = format!("{left}{right}");
            let l = m.intern(vocab, left);
            let r = m.intern(vocab, right);
            let to = m.intern(vocab, &merged);
            // A duplicated rule keeps its first (best) rank.
            m.rules.entry((l, r)).or_insert((rank as u32, to));
        }
        Ok(m)
    }

    fn intern(&mut self, vocab: &Vocab, s: &str) -> u32 {
        if let Some(id) = vocab.find(s.as_bytes()) {
            return id;
        }
        let next = (vocab.len() + self.extra.len()) as u32;
        *self.extra.entry(s.to_owned()).or_insert(next)
    }

    /// The number of a string if any rule or token mentions it.
    fn lookup(&self, vocab: &Vocab, s: &str) -> Option<u32> {
        vocab
            .find(s.as_bytes())
            .or_else(|| self.extra.get(s).copied())
    }
}

struct Symbol {
    /// Byte range in the mapped word.
    start: usize,
    len: usize,
    /// Interned number, `None` if no rule or token mentions this string.
    sym: Option<u32>,
    prev: Option<usize>,
    next: Option<usize>,
}

struct Pair {
    rank: u32,
    left: usize,
    right: usize,
    merged: u32,
    /// Byte length of the merged text, to detect candidates made stale by other merges.
    len: usize,
}

impl PartialEq for Pair {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pair {}
impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pair {
    /// Max-heap order: lowest rank first, then the leftmost pair.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .rank
            .cmp(&self.rank)
            .then_with(|| other.left.cmp(&self.left))
    }
}

/// Everything byte-level BPE needs besides the vocabulary.
#[derive(Debug, Clone)]
pub(crate) struct Bpe {
    merges: Merges,
    splitter: Splitter,
    /// Emit a word that is itself a token whole, without merging (Llama 3 rule).
    ignore_merges: bool,
    table: [char; 256],
    char_to_byte: HashMap<char, u8>,
    /// The token of each byte's character, or the unknown token where missing.
    pub(crate) byte_tokens: [u32; 256],
}

impl Bpe {
    pub(crate) fn new(
        vocab: &Vocab,
        merges: &[String],
        pre: PreTokenizer,
        unk: Option<u32>,
    ) -> Result<Bpe, TokenizerError> {
        let table = byte_to_char_table();
        let mut byte_tokens = [unk.unwrap_or(0); 256];
        let mut buf = [0u8; 4];
        for (b, slot) in byte_tokens.iter_mut().enumerate() {
            if let Some(id) = vocab.find(table[b].encode_utf8(&mut buf).as_bytes()) {
                *slot = id;
            }
        }
        Ok(Bpe {
            merges: Merges::new(vocab, merges)?,
            splitter: Splitter::new(pre)?,
            ignore_merges: pre.ignores_merges(),
            table,
            char_to_byte: char_to_byte_map(),
            byte_tokens,
        })
    }

    /// Encodes a fragment of plain text (no special tokens in it).
    pub(crate) fn encode(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
        let mut mapped = String::new();
        for word in self.splitter.split(text) {
            mapped.clear();
            mapped.extend(word.bytes().map(|b| self.table[b as usize]));
            encode_word(self, vocab, &mapped, out);
        }
    }

    /// The bytes a token text stands for: each character back to its byte.
    pub(crate) fn text_bytes(&self, text: &str, out: &mut Vec<u8>) {
        for c in text.chars() {
            match self.char_to_byte.get(&c) {
                Some(&b) => out.push(b),
                // Not a byte character: keep it as text rather than lose it.
                None => out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes()),
            }
        }
    }
}

/// Encodes one pre-tokenized word, already mapped through the byte-to-char table.
fn encode_word(bpe: &Bpe, vocab: &Vocab, word: &str, out: &mut Vec<u32>) {
    let (merges, char_to_byte, byte_tokens) = (&bpe.merges, &bpe.char_to_byte, &bpe.byte_tokens);
    if word.is_empty() {
        return;
    }
    if bpe.ignore_merges {
        if let Some(id) = vocab.find(word.as_bytes()) {
            out.push(id);
            return;
        }
    }
    let mut symbols: Vec<Symbol> = Vec::with_capacity(word.len());
    for (start, c) in word.char_indices() {
        let idx = symbols.len();
        symbols.push(Symbol {
            start,
            len: c.len_utf8(),
            sym: merges.lookup(vocab, &word[start..start + c.len_utf8()]),
            prev: idx.checked_sub(1),
            next: None,
        });
        if idx > 0 {
            symbols[idx - 1].next = Some(idx);
        }
    }

    let mut queue = BinaryHeap::new();
    let try_pair = |queue: &mut BinaryHeap<Pair>, symbols: &[Symbol], left: usize, right: usize| {
        let (Some(l), Some(r)) = (symbols[left].sym, symbols[right].sym) else {
            return;
        };
        if let Some(&(rank, merged)) = merges.rules.get(&(l, r)) {
            queue.push(Pair {
                rank,
                left,
                right,
                merged,
                len: symbols[left].len + symbols[right].len,
            });
        }
    };
    for i in 1..symbols.len() {
        try_pair(&mut queue, &symbols, i - 1, i);
    }
    while let Some(p) = queue.pop() {
        let (llen, rlen) = (symbols[p.left].len, symbols[p.right].len);
        if llen == 0 || rlen == 0 || llen + rlen != p.len || symbols[p.left].next != Some(p.right) {
            continue;
        }
        let rnext = symbols[p.right].next;
        symbols[p.left].len += rlen;
        symbols[p.left].sym = Some(p.merged);
        symbols[p.left].next = rnext;
        symbols[p.right].len = 0;
        if let Some(n) = rnext {
            symbols[n].prev = Some(p.left);
        }
        if let Some(prev) = symbols[p.left].prev {
            try_pair(&mut queue, &symbols, prev, p.left);
        }
        if let Some(n) = rnext {
            try_pair(&mut queue, &symbols, p.left, n);
        }
    }

    let mut cur = Some(0);
    while let Some(i) = cur {
        let s = &symbols[i];
        let text = &word[s.start..s.start + s.len];
        match vocab.find(text.as_bytes()) {
            Some(id) => out.push(id),
            None => {
                // Not a token: one token per original byte of this piece.
                for c in text.chars() {
                    match char_to_byte.get(&c) {
                        Some(&b) => out.push(byte_tokens[b as usize]),
                        None => {
                            let mut buf = [0u8; 4];
                            for &b in c.encode_utf8(&mut buf).as_bytes() {
                                out.push(byte_tokens[b as usize]);
                            }
                        }
                    }
                }
            }
        }
        cur = s.next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_a_bijection_with_known_points() {
        let t = byte_to_char_table();
        assert_eq!(t[b'a' as usize], 'a');
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(t[0], 'Ā');
        // The soft hyphen is the last byte moved: 256 + 33 + 34.
        assert_eq!(t[0xad], '\u{143}');
        let inv = char_to_byte_map();
        assert_eq!(inv.len(), 256);
    }

    #[test]
    fn malformed_merge_is_an_error() {
        let v = Vocab::new(
            vec!["a".into()],
            vec![0.0],
            vec![super::super::TokenType::Normal],
        );
        assert!(Merges::new(&v, &["ab".to_string()]).is_err());
        assert!(Merges::new(&v, &["a b".to_string()]).is_ok());
    }
}
