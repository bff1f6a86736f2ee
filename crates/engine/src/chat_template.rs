//! Chat prompts: the model's own Jinja chat template, or a plain prompt without one.
//!
//! Instruction-tuned GGUF models carry the template their makers wrote
//! (`tokenizer.chat_template`, Hugging Face Jinja). It is rendered with minijinja set up
//! the way Hugging Face renders it — `trim_blocks` and `lstrip_blocks` on, loop
//! controls, Python string methods (`.strip()`, `.startswith()`, `.split()`) — plus the
//! helpers real templates call: `raise_exception`, `strftime_now`, and a `tojson` that
//! writes JSON the way Python's `json.dumps` does (`", "` and `": "` separators, no
//! HTML escaping).
//!
//! Base models (the test model is one) have no template. They were never trained on
//! role markers, so [`PlainPrompt`] gives them the messages' contents only, in order,
//! separated by blank lines: the system text reads as a preamble and the user text as
//! the passage to continue. Nothing is appended for the generation prompt.
//!
//! Rendered templates contain control-token texts (`<|im_start|>`, `<start_of_turn>`);
//! encode them with `parse_special` so those become single tokens.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{context, Environment, Error, ErrorKind, Value};

/// The name the template is stored under in its environment.
const NAME: &str = "chat";

/// Why a template could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template does not parse.
    #[error("chat template does not compile: {0}")]
    Syntax(String),
    /// Rendering failed, including the template's own `raise_exception`.
    #[error("chat template failed to render: {0}")]
    Render(String),
}

/// A compiled Jinja chat template with the BOS/EOS texts it may print.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Compiles `source`; `bos_token` / `eos_token` are the texts the template sees.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_template_owned(NAME, source.to_owned())
            .map_err(|e| TemplateError::Syntax(describe(&e)))?;
        Ok(ChatTemplate {
            env,
            source: source.to_owned(),
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
        })
    }

    /// The model's template, `None` when the file has none. A template that does not
    /// compile is an error rather than a silent switch to the plain prompt.
    pub fn from_gguf(file: &gguf::GgufFile) -> Option<Result<Self, TemplateError>> {
        let source = file.get_str("tokenizer.chat_template")?;
        let token_text = |key: &str| -> String {
            let tokens = file
                .get("tokenizer.ggml.tokens")
                .and_then(gguf::Value::as_array);
            file.get_u64(key)
                .and_then(|id| tokens?.get(usize::try_from(id).ok()?))
                .and_then(gguf::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Some(ChatTemplate::new(
            source,
            &token_text("tokenizer.ggml.bos_token_id"),
            &token_text("tokenizer.ggml.eos_token_id"),
        ))
    }

    /// Renders the conversation; `add_generation_prompt` opens the assistant's turn.
    pub fn render(
        &self,
        messages: &[llm::Message],
        add_generation_prompt: bool,
    ) -> Result<String, TemplateError> {
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| TemplateError::Render(describe(&e)))?;
        template
            .render(context! {
                messages => Value::from_serialize(messages),
                add_generation_prompt => add_generation_prompt,
                bos_token => self.bos_token.as_str(),
                eos_token => self.eos_token.as_str(),
            })
            .map_err(|e| TemplateError::Render(describe(&e)))
    }

    /// The template text as the model file gives it.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// The prompt format of models without a chat template (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlainPrompt;

impl PlainPrompt {
    /// The messages' contents in order, blank lines between, no role markers.
    pub fn render(&self, messages: &[llm::Message], _add_generation_prompt: bool) -> String {
        let parts: Vec<&str> = messages
            .iter()
            .map(|m| m.content.as_str())
            .filter(|c| !c.is_empty())
            .collect();
        parts.join("\n\n")
    }
}

/// How a model's chat is turned into prompt text: its template, or the plain prompt.
#[derive(Debug)]
pub enum PromptFormat {
    /// Boxed: a compiled environment is large, the plain prompt is nothing.
    Template(Box<ChatTemplate>),
    Plain(PlainPrompt),
}

impl PromptFormat {
    /// The model's template when it has one, else the plain prompt.
    pub fn from_gguf(file: &gguf::GgufFile) -> Result<Self, TemplateError> {
        match ChatTemplate::from_gguf(file) {
            Some(t) => Ok(PromptFormat::Template(Box::new(t?))),
            None => Ok(PromptFormat::Plain(PlainPrompt)),
        }
    }

    /// Renders with the template, or joins the contents for the plain prompt.
    pub fn render(
        &self,
        messages: &[llm::Message],
        add_generation_prompt: bool,
    ) -> Result<String, TemplateError> {
        match self {
            PromptFormat::Template(t) => t.render(messages, add_generation_prompt),
            PromptFormat::Plain(p) => Ok(p.render(messages, add_generation_prompt)),
        }
    }

    /// Whether the rendered text holds special-token markers to parse when encoding.
    pub fn has_markers(&self) -> bool {
        matches!(self, PromptFormat::Template(_))
    }
}

/// minijinja's error with its source location and cause chain.
fn describe(e: &Error) -> String {
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let _ = write!(s, ": {c}");
        cause = c.source();
    }
    s
}

/// `raise_exception(msg)`: templates reject conversations they cannot format.
fn raise_exception(msg: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, msg))
}

/// `x | tojson` / `tojson(indent=2)`, formatted like Python's `json.dumps`.
fn tojson(value: &Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let indent = match indent {
        Some(v) => Some(v),
        None => kwargs.get::<Option<Value>>("indent")?,
    };
    kwargs.assert_all_used().ok();
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => Some(usize::try_from(v)?),
    };
    let mut out = String::new();
    write_json(&mut out, value, indent, 0)?;
    Ok(Value::from_safe_string(out))
}

fn write_json(
    out: &mut String,
    v: &Value,
    indent: Option<usize>,
    depth: usize,
) -> Result<(), Error> {
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', n * depth));
        }
    };
    let sep = if indent.is_some() { "," } else { ", " };
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            let n = serde_json::to_string(v)
                .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?;
            out.push_str(&n);
        }
        ValueKind::String | ValueKind::Bytes | ValueKind::Invalid | ValueKind::Plain => {
            let text = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            let quoted = serde_json::to_string(&text)
                .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?;
            out.push_str(&quoted);
        }
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                newline(out, depth + 1);
                write_json(out, &item, indent, depth + 1)?;
            }
            if v.len().unwrap_or(0) > 0 {
                newline(out, depth);
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            let mut any = false;
            for (i, key) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                newline(out, depth + 1);
                let name = key
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| key.to_string());
                let quoted = serde_json::to_string(&name)
                    .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?;
                out.push_str(&quoted);
                out.push_str(": ");
                write_json(out, &v.get_item(&key)?, indent, depth + 1)?;
                any = true;
            }
            if any {
                newline(out, depth);
            }
            out.push('}');
        }
        _ => {
            let quoted = serde_json::to_string(&v.to_string())
                .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?;
            out.push_str(&quoted);
        }
    }
    Ok(())
}

/// `strftime_now(format)`: the current UTC time, for templates that print today's date.
fn strftime_now(format: String) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    strftime(secs, &format)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Formats seconds since the Unix epoch (UTC) with the common `strftime` fields:
/// `%Y %y %m %d %e %H %I %M %S %p %B %b %A %a %j %%`, and `%-d`-style unpadded forms.
pub(crate) fn strftime(secs: u64, format: &str) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // 1970-01-01 was a Thursday (index 3 from Monday).
    let weekday = (days + 3).rem_euclid(7) as usize;
    let yday = days - days_from_civil(year, 1, 1) + 1;
    let month_name = MONTHS[(month - 1) as usize];
    let day_name = WEEKDAYS[weekday];

    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = chars.next();
        let unpadded = spec == Some('-');
        if unpadded {
            spec = chars.next();
        }
        let num = |out: &mut String, v: i64, width: usize| {
            if unpadded {
                let _ = write!(out, "{v}");
            } else {
                let _ = write!(out, "{v:0width$}");
            }
        };
        match spec {
            Some('Y') => {
                let _ = write!(out, "{year}");
            }
            Some('y') => num(&mut out, year.rem_euclid(100), 2),
            Some('m') => num(&mut out, month as i64, 2),
            Some('d') => num(&mut out, day as i64, 2),
            Some('e') => {
                let _ = write!(out, "{day:>2}");
            }
            Some('H') => num(&mut out, hour as i64, 2),
            Some('I') => num(&mut out, ((hour + 11) % 12 + 1) as i64, 2),
            Some('M') => num(&mut out, minute as i64, 2),
            Some('S') => num(&mut out, second as i64, 2),
            Some('p') => out.push_str(if hour < 12 { "AM" } else { "PM" }),
            Some('B') => out.push_str(month_name),
            Some('b') | Some('h') => out.push_str(&month_name[..3]),
            Some('A') => out.push_str(day_name),
            Some('a') => out.push_str(&day_name[..3]),
            Some('j') => num(&mut out, yday, 3),
            Some('%') => out.push('%'),
            // Unknown fields are kept as written, as C's strftime leaves them undefined.
            Some(other) => {
                out.push('%');
                if unpadded {
                    out.push('-');
                }
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar,
/// counting in 400-year eras that start on March 1st (so leap days end a year).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips_and_knows_leap_years() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(
            days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28),
            2
        );
        assert_eq!(
            days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28),
            1
        );
        for d in (-800_000..800_000).step_by(997) {
            let (y, m, day) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, day), d);
        }
    }

    #[test]
    fn strftime_fields() {
        // 2024-07-26 13:05:09 UTC, a Friday.
        let t = days_from_civil(2024, 7, 26) as u64 * 86_400 + 13 * 3600 + 5 * 60 + 9;
        assert_eq!(strftime(t, "%d %b %Y"), "26 Jul 2024");
        assert_eq!(strftime(t, "%A, %B %-d, %y"), "Friday, July 26, 24");
        assert_eq!(strftime(t, "%H:%M:%S %I%p %j %%"), "13:05:09 01PM 208 %");
        assert_eq!(strftime(t, "%Q"), "%Q");
        assert_eq!(strftime(0, "%a %Y-%m-%d"), "Thu 1970-01-01");
    }
}
