//! Routing streamed text into reasoning and answer as `<think>` tags go by.
//!
//! Models that reason inline open their output with `<think>` and close the block
//! with `</think>`; a streamed delta may hold a tag, part of one, or both sides of
//! it. The splitter holds back just enough text to recognise a tag cut between
//! deltas. It only drives the live deltas: the final answer is split again from the
//! whole text with [`crate::split_think`], which also handles templates that put the
//! opening tag in the prompt.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Only whitespace so far: the text may still open with `<think>`.
    Start,
    Think,
    Answer,
}

/// Incremental `<think>` splitter for one sample.
#[derive(Debug, Clone)]
pub struct ThinkSplitter {
    state: State,
    pending: String,
    /// Just after `</think>`: whitespace before the answer is dropped, as
    /// [`crate::split_think`] drops it from the whole text.
    trim_answer: bool,
}

impl Default for ThinkSplitter {
    fn default() -> Self {
        ThinkSplitter {
            state: State::Start,
            pending: String::new(),
            trim_answer: false,
        }
    }
}

impl ThinkSplitter {
    /// A splitter for a sample whose prompt already opened `<think>` (some chat
    /// templates end with it): the text is reasoning until `</think>`.
    pub fn in_reasoning() -> Self {
        ThinkSplitter {
            state: State::Think,
            ..ThinkSplitter::default()
        }
    }

    /// Feed a delta; returns `(text, is_reasoning)` pieces ready to show.
    pub fn push(&mut self, delta: &str) -> Vec<(String, bool)> {
        self.pending.push_str(delta);
        let mut out = Vec::new();
        loop {
            match self.state {
                State::Start => {
                    let trimmed = self.pending.trim_start();
                    if let Some(rest) = trimmed.strip_prefix(OPEN) {
                        self.pending = rest.to_string();
                        self.state = State::Think;
                    } else if OPEN.starts_with(trimmed) {
                        return out; // whitespace or a partial "<think": wait
                    } else {
                        self.state = State::Answer;
                    }
                }
                State::Think => {
                    if let Some(end) = self.pending.find(CLOSE) {
                        let reasoning = self.pending[..end].to_string();
                        self.pending = self.pending[end + CLOSE.len()..].to_string();
                        emit(&mut out, reasoning, true);
                        self.state = State::Answer;
                        self.trim_answer = true;
                    } else {
                        let keep = partial_suffix(&self.pending, CLOSE);
                        let ready = self.pending.len() - keep;
                        let text: String = self.pending.drain(..ready).collect();
                        emit(&mut out, text, true);
                        return out;
                    }
                }
                State::Answer => {
                    if self.trim_answer {
                        let trimmed = self.pending.trim_start();
                        if trimmed.is_empty() {
                            self.pending.clear();
                            return out; // only whitespace yet: wait for the answer
                        }
                        self.pending = trimmed.to_string();
                        self.trim_answer = false;
                    }
                    let text = std::mem::take(&mut self.pending);
                    emit(&mut out, text, false);
                    return out;
                }
            }
        }
    }

    /// The end of the sample: whatever was held back.
    pub fn finish(&mut self) -> Vec<(String, bool)> {
        let text = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        emit(&mut out, text, self.state == State::Think);
        out
    }
}

fn emit(out: &mut Vec<(String, bool)>, text: String, reasoning: bool) {
    if !text.is_empty() {
        out.push((text, reasoning));
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `tag`.
fn partial_suffix(text: &str, tag: &str) -> usize {
    (1..tag.len())
        .rev()
        .find(|&k| {
            text.len() >= k
                && text.is_char_boundary(text.len() - k)
                && tag.starts_with(&text[text.len() - k..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(deltas: &[&str]) -> (String, String) {
        let mut s = ThinkSplitter::default();
        let mut pieces: Vec<(String, bool)> = deltas.iter().flat_map(|d| s.push(d)).collect();
        pieces.extend(s.finish());
        let pick = |r: bool| {
            pieces
                .iter()
                .filter(|p| p.1 == r)
                .map(|p| p.0.as_str())
                .collect::<String>()
        };
        (pick(false), pick(true))
    }

    #[test]
    fn tags_cut_between_deltas() {
        assert_eq!(
            run(&["  <thi", "nk>ab", "c</th", "ink>answer"]),
            ("answer".to_string(), "abc".to_string())
        );
        assert_eq!(
            run(&["plain ", "text"]),
            ("plain text".into(), String::new())
        );
        assert_eq!(
            run(&["<think>never closed"]),
            (String::new(), "never closed".into())
        );
        assert_eq!(run(&["<", "b>bold"]), ("<b>bold".into(), String::new()));
        assert_eq!(
            run(&["<thi", "nk>let me", " see</th", "ink>\n", "\nAnswer: 4"]),
            ("Answer: 4".to_string(), "let me see".to_string()),
            "whitespace after the block is dropped, as split_think does"
        );
    }

    #[test]
    fn a_template_that_opened_the_block() {
        let mut s = ThinkSplitter::in_reasoning();
        let mut pieces: Vec<(String, bool)> = ["hmm", "</think>", "42"]
            .iter()
            .flat_map(|d| s.push(d))
            .collect();
        pieces.extend(s.finish());
        assert_eq!(
            pieces,
            vec![("hmm".to_string(), true), ("42".to_string(), false)]
        );
    }
}
