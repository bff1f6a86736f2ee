//! An incremental decoder for Server-Sent Events, as used by streaming chat APIs.
//!
//! Bytes arrive in arbitrary pieces (a chunk may end mid-line or even mid-UTF-8
//! character), so the decoder buffers until it sees a line end and dispatches an
//! event's `data` at each blank line. Only `data` matters to chat streams; `event`,
//! `id`, `retry` and comment lines are skipped.

/// Upper bound on one buffered line; a server that never sends a newline is broken,
/// and holding its output without limit would only delay the error.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// Turns a byte stream into the `data` payloads of its events.
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    data: Vec<String>,
}

/// A malformed event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseError(pub String);

impl SseDecoder {
    pub fn new() -> Self {
        SseDecoder::default()
    }

    /// Feed bytes; returns the data of every event completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, SseError> {
        let mut events = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                let line = String::from_utf8(line)
                    .map_err(|_| SseError("event stream line is not UTF-8".into()))?;
                if let Some(data) = self.take_line(&line) {
                    events.push(data);
                }
            } else {
                if self.line.len() >= MAX_LINE {
                    return Err(SseError("event stream line too long".into()));
                }
                self.line.push(b);
            }
        }
        Ok(events)
    }

    /// The end of the byte stream: an event not yet closed by a blank line is
    /// dispatched anyway (some servers omit the final blank line).
    pub fn finish(&mut self) -> Result<Option<String>, SseError> {
        if !self.line.is_empty() {
            let line = String::from_utf8(std::mem::take(&mut self.line))
                .map_err(|_| SseError("event stream line is not UTF-8".into()))?;
            if let Some(data) = self.take_line(line.trim_end_matches('\r')) {
                return Ok(Some(data));
            }
        }
        Ok(self.dispatch())
    }

    fn take_line(&mut self, line: &str) -> Option<String> {
        if line.is_empty() {
            return self.dispatch();
        }
        if let Some(value) = line.strip_prefix("data") {
            // "data:x", "data: x" and a bare "data" line are all valid.
            if value.is_empty() || value.starts_with(':') {
                let value = value.strip_prefix(':').unwrap_or(value);
                let value = value.strip_prefix(' ').unwrap_or(value);
                self.data.push(value.to_string());
            }
        }
        None
    }

    fn dispatch(&mut self) -> Option<String> {
        if self.data.is_empty() {
            return None;
        }
        Some(std::mem::take(&mut self.data).join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_pushes_and_crlf() {
        let mut d = SseDecoder::new();
        assert!(d.push(b"data: {\"a\"").expect("ok").is_empty());
        let ev = d
            .push(b":1}\r\n\r\n: comment\n\ndata:x\ndata: y\n\n")
            .expect("ok");
        assert_eq!(ev, vec!["{\"a\":1}".to_string(), "x\ny".to_string()]);
        assert!(d.push(b"data: [DONE]").expect("ok").is_empty());
        assert_eq!(d.finish().expect("ok").as_deref(), Some("[DONE]"));
        assert_eq!(d.finish().expect("ok"), None);
    }

    #[test]
    fn multibyte_characters_split_between_pushes() {
        let mut d = SseDecoder::new();
        let text = "data: é\n\n".as_bytes();
        assert!(d.push(&text[..7]).expect("ok").is_empty());
        assert_eq!(d.push(&text[7..]).expect("ok"), vec!["é".to_string()]);
    }

    #[test]
    fn other_fields_are_ignored_and_bad_utf8_is_an_error() {
        let mut d = SseDecoder::new();
        let ev = d
            .push(b"event: x\nid: 3\ndatum: no\ndata: yes\n\n")
            .expect("ok");
        assert_eq!(ev, vec!["yes".to_string()]);
        assert!(d.push(b"data: \xff\n").is_err());
    }
}
