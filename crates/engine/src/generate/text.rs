//! Turning a sample's tokens into text as they arrive, and cutting it at stop strings.
//!
//! Tokens carry bytes, not characters: a character may span tokens (emoji, CJK in
//! byte-fallback vocabularies), so bytes wait in `pending` until they form complete
//! UTF-8. A stop string may also span tokens, so text that could still turn out to be
//! the start of a stop string is held back from the stream until the next tokens
//! decide it. The stop string itself is never part of the output.

/// The growing text of one sample.
#[derive(Debug, Default)]
pub(crate) struct TextState {
    /// Decoded text so far (only complete characters).
    text: String,
    /// Bytes of an unfinished UTF-8 character.
    pending: Vec<u8>,
    /// Bytes of `text` already handed to the stream.
    emitted: usize,
    /// Set once a stop string matched; `text` ends right before it.
    stopped: bool,
}

/// What appending a token produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Appended {
    /// Text now safe to stream (never part of a stop string).
    pub delta: String,
    /// A stop string was found; the sample is finished.
    pub hit_stop: bool,
}

impl TextState {
    /// Add a token's bytes and check the stop strings.
    pub fn push(&mut self, bytes: &[u8], stops: &[String]) -> Appended {
        if self.stopped {
            return Appended {
                delta: String::new(),
                hit_stop: true,
            };
        }
        let before = self.text.len();
        self.pending.extend_from_slice(bytes);
        self.drain_pending(false);
        // A match must end in the new text, so it starts no earlier than the longest
        // stop string before the new text's start.
        let longest = stops.iter().map(String::len).max().unwrap_or(0);
        let from = floor_char_boundary(&self.text, before.saturating_sub(longest));
        let found = stops
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| self.text[from..].find(s.as_str()).map(|i| from + i))
            .min();
        if let Some(at) = found {
            self.text.truncate(at);
            self.pending.clear();
            self.stopped = true;
            return Appended {
                delta: self.take_delta(self.text.len()),
                hit_stop: true,
            };
        }
        let safe = self.text.len() - held_back(&self.text, stops);
        Appended {
            delta: self.take_delta(safe),
            hit_stop: false,
        }
    }

    /// The sample ended for another reason: release everything held back, including
    /// an unfinished character (as U+FFFD, the way lossy decoding shows it).
    pub fn finish(&mut self) -> String {
        if !self.stopped {
            self.drain_pending(true);
        }
        self.take_delta(self.text.len())
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    fn take_delta(&mut self, upto: usize) -> String {
        let upto = floor_char_boundary(&self.text, upto.max(self.emitted));
        let delta = self.text[self.emitted..upto].to_string();
        self.emitted = upto;
        delta
    }

    /// Move complete characters from `pending` to `text`. Invalid bytes become U+FFFD;
    /// an incomplete tail waits for more bytes unless `flush`.
    fn drain_pending(&mut self, flush: bool) {
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    self.text.push_str(s);
                    self.pending.clear();
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // Safe: `valid_up_to` marks the end of the valid prefix.
                    self.text
                        .push_str(std::str::from_utf8(&self.pending[..valid]).unwrap_or(""));
                    match e.error_len() {
                        Some(bad) => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                        None => {
                            self.pending.drain(..valid);
                            if flush {
                                self.text.push(char::REPLACEMENT_CHARACTER);
                                self.pending.clear();
                            }
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of a stop string:
/// those bytes may still become a stop string and must not be streamed yet.
fn held_back(text: &str, stops: &[String]) -> usize {
    let mut hold = 0;
    for stop in stops {
        let max = stop.len().saturating_sub(1).min(text.len());
        for k in (hold + 1..=max).rev() {
            if text.is_char_boundary(text.len() - k)
                && stop.is_char_boundary(k)
                && text.as_bytes()[text.len() - k..] == stop.as_bytes()[..k]
            {
                hold = k;
                break;
            }
        }
    }
    hold
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stops(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn multibyte_character_split_over_tokens_waits() {
        let mut t = TextState::default();
        let smile = "🙂".as_bytes();
        assert_eq!(t.push(&smile[..2], &[]).delta, "");
        assert_eq!(t.push(&smile[2..], &[]).delta, "🙂");
        assert_eq!(t.text(), "🙂");
    }

    #[test]
    fn stop_string_split_across_tokens_is_cut_and_never_streamed() {
        let s = stops(&["\n\nQ:"]);
        let mut t = TextState::default();
        let mut streamed = String::new();
        for piece in ["The answer", " is 4.\n", "\nQ", ": next"] {
            let a = t.push(piece.as_bytes(), &s);
            streamed.push_str(&a.delta);
            if a.hit_stop {
                break;
            }
        }
        assert_eq!(t.text(), "The answer is 4.");
        assert_eq!(streamed, "The answer is 4.");
    }

    #[test]
    fn held_back_text_is_released_when_it_diverges_or_finishes() {
        let s = stops(&["STOP"]);
        let mut t = TextState::default();
        assert_eq!(t.push(b"ab ST", &s).delta, "ab ");
        assert_eq!(t.push(b"AR", &s).delta, "STAR");
        assert_eq!(t.push(b" ST", &s).delta, " ");
        assert_eq!(t.finish(), "ST");
        assert_eq!(t.text(), "ab STAR ST");
    }

    #[test]
    fn earliest_of_several_stop_strings_wins() {
        let s = stops(&["world", "lo w"]);
        let mut t = TextState::default();
        let a = t.push(b"hello world", &s);
        assert!(a.hit_stop);
        assert_eq!(a.delta, "hel");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut t = TextState::default();
        t.push(&[b'a', 0xff, b'b'], &[]);
        t.push(&[0xe2, 0x82], &[]);
        t.finish();
        assert_eq!(t.text(), "a\u{fffd}b\u{fffd}");
    }
}
