//! Pre-tokenizers of byte-level BPE models: regular expressions that cut text into
//! words before merging, so merges never cross a word boundary.
//!
//! A variant is a list of expressions applied in turn, as in llama.cpp: each one
//! splits every current piece into its matches and the text between them (which is
//! kept as pieces of its own). The expressions are those of the models' own
//! `tokenizer.json` files, with case-insensitive groups spelled out. Several end in a
//! look-ahead (`\s+(?!\S)`: a run of spaces gives its last space to the next word);
//! those run on the linear-time `regex` engine with the look-ahead's effect restored
//! by hand, the rest on `fancy-regex`.

use fancy_regex::Regex;

use super::TokenizerError;

/// The pre-tokenizer named by `tokenizer.ggml.pre`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizer {
    /// llama.cpp's fallback for unknown names: punctuation runs, then GPT-2's rule.
    Default,
    /// GPT-2: `'s|'t|...| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`.
    Gpt2,
    /// Llama 3: letters with one leading non-letter, digits in groups of up to three.
    Llama3,
    /// Qwen2 (and DeepSeek-R1 distills of Qwen): as Llama 3 but every digit alone.
    Qwen2,
    /// DeepSeek LLM (V1/V2 chat models): explicit script classes, CJK runs, digit runs.
    DeepseekLlm,
    /// DeepSeek Coder.
    DeepseekCoder,
    /// DeepSeek V3 / R1: digits in groups of up to three, kana and CJK runs apart.
    DeepseekV3,
}

const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// DeepSeek LLM's letters: cased letters of many scripts, listed as code point ranges.
const DEEPSEEK_LLM_LETTERS: &str = concat!(
    r"\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}",
    r"\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}",
    r"\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}",
    r"\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}",
    r"\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}",
    r"\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}",
    r"\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}",
    r"\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}",
    r"\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}",
    r"\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}",
    r"\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}",
    r"\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}",
    r"\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}",
    r"\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}",
    r"\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}",
    r"\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}",
    r"\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+",
);
const DEEPSEEK_V3_WORDS: &str = r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##;

impl PreTokenizer {
    /// Maps a `tokenizer.ggml.pre` value to a variant; names llama.cpp treats alike
    /// map alike, and unknown names get [`PreTokenizer::Default`].
    pub fn from_name(name: &str) -> PreTokenizer {
        match name {
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "dbrx" | "smaug-bpe" => {
                PreTokenizer::Llama3
            }
            "qwen2" | "deepseek-r1-qwen" | "stablelm2" | "megrez" => PreTokenizer::Qwen2,
            "deepseek-llm" => PreTokenizer::DeepseekLlm,
            "deepseek-coder" => PreTokenizer::DeepseekCoder,
            "deepseek-v3" => PreTokenizer::DeepseekV3,
            "gpt-2" | "gpt2" | "phi-2" | "mpt" | "olmo" => PreTokenizer::Gpt2,
            _ => PreTokenizer::Default,
        }
    }

    /// The expressions, applied in order.
    fn patterns(self) -> Vec<&'static str> {
        match self {
            PreTokenizer::Default => {
                vec![r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"]
            }
            PreTokenizer::Gpt2 => vec![GPT2],
            PreTokenizer::Llama3 => vec![LLAMA3],
            PreTokenizer::Qwen2 => vec![QWEN2],
            PreTokenizer::DeepseekLlm => vec![
                r"[\r\n]",
                DEEPSEEK_LLM_LETTERS,
                r"\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+",
                r"\s+$",
                r"[\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+",
                r"\p{N}+",
            ],
            PreTokenizer::DeepseekCoder => vec![
                r"[\r\n]",
                r"\s?\p{L}+",
                r"\s?\p{P}+",
                r"[\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+",
                r"\p{N}",
            ],
            PreTokenizer::DeepseekV3 => vec![
                r"\p{N}{1,3}",
                r"[\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+",
                DEEPSEEK_V3_WORDS,
            ],
        }
    }

    /// Whether a word that is already a token skips merging (Llama 3's tokenizer sets
    /// `ignore_merges`).
    pub(crate) fn ignores_merges(self) -> bool {
        self == PreTokenizer::Llama3
    }
}

/// The tail several patterns share: a run of whitespace followed by a word gives its
/// last character to that word.
const LOOKAHEAD_TAIL: &str = r"|\s+(?!\S)|\s+";

/// One compiled expression.
#[derive(Debug, Clone)]
enum Matcher {
    /// A pattern ending in [`LOOKAHEAD_TAIL`], compiled without the look-ahead for the
    /// `regex` crate's linear-time engine; [`split_one_fast`] restores its effect.
    Fast(regex::Regex),
    /// Anything else, with `fancy-regex`'s backtracking engine.
    Fancy(Regex),
}

/// A compiled pre-tokenizer.
#[derive(Debug, Clone)]
pub(crate) struct Splitter {
    matchers: Vec<Matcher>,
}

impl Splitter {
    pub(crate) fn new(kind: PreTokenizer) -> Result<Splitter, TokenizerError> {
        let error = |p: &str, e: String| TokenizerError::Regex {
            pattern: p.to_owned(),
            message: e,
        };
        let matchers = kind
            .patterns()
            .into_iter()
            .map(|p| match p.strip_suffix(LOOKAHEAD_TAIL) {
                Some(head) => regex::Regex::new(&format!(r"{head}|\s+"))
                    .map(Matcher::Fast)
                    .map_err(|e| error(p, e.to_string())),
                None => Regex::new(p)
                    .map(Matcher::Fancy)
                    .map_err(|e| error(p, e.to_string())),
            })
            .collect::<Result<_, _>>()?;
        Ok(Splitter { matchers })
    }

    /// Cuts `text` into words; the words concatenate back to `text`.
    pub(crate) fn split<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let mut pieces = vec![text];
        for matcher in &self.matchers {
            let mut next = Vec::with_capacity(pieces.len() * 2);
            for piece in pieces {
                match matcher {
                    Matcher::Fast(re) => split_one_fast(re, piece, &mut next),
                    Matcher::Fancy(re) => split_one(re, piece, &mut next),
                }
            }
            pieces = next;
        }
        pieces.retain(|p| !p.is_empty());
        pieces
    }
}

/// Splits one piece into matches of `re` and the gaps between them.
fn split_one<'t>(re: &Regex, piece: &'t str, out: &mut Vec<&'t str>) {
    let mut pos = 0;
    for m in re.find_iter(piece) {
        let Ok(m) = m else {
            // The backtracking limit was hit (pathological input): keep the rest whole
            // rather than fail; it is still encoded, only with fewer word boundaries.
            break;
        };
        if m.start() == m.end() {
            continue;
        }
        if m.start() > pos {
            out.push(&piece[pos..m.start()]);
        }
        out.push(m.as_str());
        pos = m.end();
    }
    if pos < piece.len() {
        out.push(&piece[pos..]);
    }
}

/// [`split_one`] for a pattern whose `\s+(?!\S)|\s+` tail was compiled as `\s+`.
///
/// Only those two alternatives can produce a match that is all whitespace and does not
/// end in a line break (the alternative before them, `\s*[\r\n]+`, always ends in
/// one). `\s+` takes the whole run; `\s+(?!\S)`, which has priority, would stop one
/// character short when a non-space follows and the run has two or more characters.
/// Cutting that last character and resuming the search at it gives the same words.
fn split_one_fast<'t>(re: &regex::Regex, piece: &'t str, out: &mut Vec<&'t str>) {
    let mut pos = 0;
    while let Some(m) = re.find_at(piece, pos) {
        if m.start() == m.end() {
            // Cannot happen with these patterns; never loop on an empty match.
            break;
        }
        let mut end = m.end();
        let matched = m.as_str();
        let mut chars = matched.chars();
        let last = chars.next_back();
        let trailing_run = end < piece.len()
            && last.is_some_and(|c| c != '\n' && c != '\r')
            && chars.clone().next().is_some()
            && matched.chars().all(char::is_whitespace);
        if trailing_run {
            end -= last.map_or(0, char::len_utf8);
        }
        if m.start() > pos {
            out.push(&piece[pos..m.start()]);
        }
        out.push(&piece[m.start()..end]);
        pos = end;
    }
    if pos < piece.len() {
        out.push(&piece[pos..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(kind: PreTokenizer, text: &str) -> Vec<String> {
        let s = Splitter::new(kind).expect("patterns compile");
        let words: Vec<String> = s.split(text).into_iter().map(str::to_owned).collect();
        assert_eq!(words.concat(), text, "words must cover the text");
        words
    }

    #[test]
    fn fast_path_splits_exactly_like_the_look_ahead_pattern() {
        // Random strings over characters that exercise every alternative: spaces of
        // several kinds, line breaks, letters, digits, marks, punctuation, quotes.
        let alphabet: Vec<char> = " \n\r\ta'Zs1.é中\u{3000}\u{a0}\u{301}!".chars().collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for pattern in [QWEN2, LLAMA3, DEEPSEEK_V3_WORDS] {
            let head = pattern.strip_suffix(LOOKAHEAD_TAIL).expect("shared tail");
            let fast = regex::Regex::new(&format!(r"{head}|\s+")).expect("fast");
            let fancy = Regex::new(pattern).expect("fancy");
            for _ in 0..20_000 {
                let len = (next() % 12) as usize;
                let text: String = (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect();
                let (mut a, mut b) = (Vec::new(), Vec::new());
                split_one_fast(&fast, &text, &mut a);
                split_one(&fancy, &text, &mut b);
                assert_eq!(a, b, "{text:?} with {pattern}");
            }
        }
    }

    #[test]
    fn every_variant_compiles() {
        use PreTokenizer::*;
        for kind in [
            Default,
            Gpt2,
            Llama3,
            Qwen2,
            DeepseekLlm,
            DeepseekCoder,
            DeepseekV3,
        ] {
            assert!(Splitter::new(kind).is_ok(), "{kind:?}");
        }
    }

    #[test]
    fn names_map_like_llama_cpp() {
        assert_eq!(PreTokenizer::from_name("qwen2"), PreTokenizer::Qwen2);
        assert_eq!(
            PreTokenizer::from_name("deepseek-r1-qwen"),
            PreTokenizer::Qwen2
        );
        assert_eq!(PreTokenizer::from_name("llama-bpe"), PreTokenizer::Llama3);
        assert_eq!(
            PreTokenizer::from_name("deepseek-v3"),
            PreTokenizer::DeepseekV3
        );
        assert_eq!(
            PreTokenizer::from_name("deepseek-llm"),
            PreTokenizer::DeepseekLlm
        );
        assert_eq!(
            PreTokenizer::from_name("something-new"),
            PreTokenizer::Default
        );
    }

    #[test]
    fn qwen2_contractions_are_case_insensitive() {
        assert_eq!(split(PreTokenizer::Qwen2, "don't"), ["don", "'t"]);
        assert_eq!(
            split(PreTokenizer::Qwen2, "DON'T we'll"),
            ["DON", "'T", " we", "'ll"]
        );
        // GPT-2's rule is lowercase only: the quote stands alone.
        assert_eq!(split(PreTokenizer::Gpt2, "DON'T"), ["DON", "'", "T"]);
    }

    #[test]
    fn qwen2_splits_every_digit_and_llama3_groups_three() {
        assert_eq!(
            split(PreTokenizer::Qwen2, "x 12345"),
            ["x", " ", "1", "2", "3", "4", "5"]
        );
        assert_eq!(
            split(PreTokenizer::Llama3, "x 12345"),
            ["x", " ", "123", "45"]
        );
        assert_eq!(split(PreTokenizer::DeepseekV3, "12345"), ["123", "45"]);
        // Non-ASCII digits are numbers too.
        assert_eq!(split(PreTokenizer::Qwen2, "٣٤"), ["٣", "٤"]);
    }

    #[test]
    fn whitespace_runs_leave_their_last_space_to_the_next_word() {
        assert_eq!(split(PreTokenizer::Qwen2, "a   b"), ["a", "  ", " b"]);
        assert_eq!(split(PreTokenizer::Qwen2, "hi  "), ["hi", "  "]);
        assert_eq!(split(PreTokenizer::Gpt2, "a   b"), ["a", "  ", " b"]);
    }

    #[test]
    fn newlines_gather_with_preceding_spaces() {
        assert_eq!(split(PreTokenizer::Qwen2, "a\n\n b"), ["a", "\n\n", " b"]);
        assert_eq!(
            split(PreTokenizer::Qwen2, "x  \n  y"),
            ["x", "  \n", " ", " y"]
        );
        assert_eq!(
            split(PreTokenizer::Llama3, "end.\n\nNext"),
            ["end", ".\n\n", "Next"]
        );
    }

    #[test]
    fn punctuation_and_letters() {
        assert_eq!(
            split(PreTokenizer::Qwen2, "Hello, world!"),
            ["Hello", ",", " world", "!"]
        );
        assert_eq!(split(PreTokenizer::Qwen2, "(hello)"), ["(hello", ")"]);
        assert_eq!(split(PreTokenizer::DeepseekV3, "$x^2"), ["$x", "^", "2"]);
    }

    #[test]
    fn cjk_runs() {
        assert_eq!(
            split(PreTokenizer::Qwen2, "你好世界 ok"),
            ["你好世界", " ok"]
        );
        assert_eq!(
            split(PreTokenizer::DeepseekV3, "日本語のテキストabc"),
            ["日本語のテキスト", "abc"]
        );
        assert_eq!(split(PreTokenizer::DeepseekLlm, "中文abc"), ["中文", "abc"]);
    }

    #[test]
    fn deepseek_llm_applies_its_expressions_in_turn() {
        assert_eq!(
            split(PreTokenizer::DeepseekLlm, "Hello, world! 123"),
            ["Hello", ",", " world", "!", " ", "123"]
        );
        assert_eq!(split(PreTokenizer::DeepseekLlm, "a\nb"), ["a", "\n", "b"]);
        // Greek and Cyrillic are in its letter class.
        assert_eq!(
            split(PreTokenizer::DeepseekLlm, "Γειά σου мир"),
            ["Γειά", " σου", " мир"]
        );
        // Later expressions cut earlier matches too: the Kelvin sign is a letter to
        // the second expression, but the fifth (whose range U+0800..U+4E00 is meant
        // for CJK) takes it apart from its space.
        assert_eq!(
            split(PreTokenizer::DeepseekLlm, "a \u{212A}"),
            ["a", " ", "\u{212A}"]
        );
    }
}
