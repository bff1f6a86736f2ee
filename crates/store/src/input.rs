//! Reading problems from JSON or JSONL files in the DeepSeekMath-V2 inputs layout:
//! objects with `question` (or `problem`), an optional `problem_idx` (or `id`) and an
//! optional gold `answer`; every other field is kept as the problem's `info`.
//!
//! A file is read as one JSON document (an array of problems, or one problem) when it
//! parses as one, and otherwise as JSONL, one problem per non-empty line. Errors name
//! the line, so a user can fix a broken file.

use crate::Problem;
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;

/// Why a problem file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("could not read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Bad {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: no problems in the file")]
    Empty { path: String },
}

/// Load the problems of `path`.
pub fn load_problems(path: &Path) -> Result<Vec<Problem>, InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_problems(&text, &path.display().to_string())
}

/// Parse problems from the text of a file named `path` (used in messages only).
pub fn parse_problems(text: &str, path: &str) -> Result<Vec<Problem>, InputError> {
    let bad = |line: usize, message: String| InputError::Bad {
        path: path.to_string(),
        line,
        message,
    };
    // (line number, object) pairs.
    let mut items: Vec<(usize, Value)> = Vec::new();
    let trimmed = text.trim_start();
    let whole: Option<Value> = if trimmed.starts_with('[') || trimmed.starts_with('{') {
        serde_json::from_str(text).ok()
    } else {
        None
    };
    match whole {
        Some(Value::Array(values)) => {
            // Line numbers of array elements are not kept by serde_json; report the
            // element's position instead, as a line of the array.
            items.extend(values.into_iter().enumerate().map(|(i, v)| (i + 1, v)));
        }
        Some(v @ Value::Object(_)) => items.push((1, v)),
        _ if trimmed.starts_with('[') => {
            let e = serde_json::from_str::<Value>(text).err();
            let line = e.as_ref().map_or(1, |e| e.line());
            return Err(bad(
                line,
                format!(
                    "not valid JSON: {}",
                    e.map_or_else(String::new, |e| e.to_string())
                ),
            ));
        }
        _ => {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(line)
                    .map_err(|e| bad(i + 1, format!("not valid JSON: {e}")))?;
                items.push((i + 1, v));
            }
        }
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (position, (line, value)) in items.into_iter().enumerate() {
        let obj = value
            .as_object()
            .ok_or_else(|| bad(line, "expected a JSON object".into()))?;
        let question = ["question", "problem"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(Value::as_str))
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| {
                bad(
                    line,
                    "missing a non-empty `question` (or `problem`) string".into(),
                )
            })?;
        let idx = match obj.get("problem_idx").or_else(|| obj.get("id")) {
            None | Some(Value::Null) => (position + 1).to_string(),
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => {
                return Err(bad(
                    line,
                    format!("`problem_idx` must be a string or a number, not {other}"),
                ))
            }
        };
        if !seen.insert(idx.clone()) {
            return Err(bad(line, format!("duplicate problem_idx {idx:?}")));
        }
        let answer = match obj.get("answer") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let rest: serde_json::Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "question" | "problem" | "problem_idx" | "answer"
                )
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.push(Problem {
            key: idx.clone(),
            problem_idx: idx,
            question: question.to_string(),
            position: position as i64,
            answer,
            info: (!rest.is_empty()).then(|| Value::Object(rest).to_string()),
        });
    }
    if out.is_empty() {
        return Err(InputError::Empty {
            path: path.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_json_array_and_single_object() {
        let jsonl = "{\"question\": \"Q1\", \"problem_idx\": \"A-1\"}\n\n{\"problem\": \"Q2\", \"problem_idx\": 7}\n{\"problem\": \"Q3\"}\n";
        let p = parse_problems(jsonl, "f").unwrap();
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, vec!["A-1", "7", "3"]);
        assert_eq!(p[1].question, "Q2");
        let arr = parse_problems("[{\"question\": \"a\"}, {\"question\": \"b\"}]", "f").unwrap();
        assert_eq!(arr.len(), 2);
        let one = parse_problems("{\"question\": \"a\", \"problem_idx\": \"x\"}", "f").unwrap();
        assert_eq!(one[0].key, "x");
    }

    #[test]
    fn errors_name_the_line() {
        let e =
            parse_problems("{\"question\": \"ok\"}\n{\"question\": \n", "in.jsonl").unwrap_err();
        assert!(
            e.to_string().starts_with("in.jsonl:2: not valid JSON"),
            "{e}"
        );
        let e = parse_problems("{\"question\": \"ok\"}\n\n{\"answer\": 3}\n", "f").unwrap_err();
        assert!(e.to_string().starts_with("f:3: missing"), "{e}");
        let e = parse_problems(
            "{\"question\": \"a\", \"id\": 1}\n{\"question\": \"b\", \"id\": 1}",
            "f",
        )
        .unwrap_err();
        assert!(e.to_string().contains("f:2: duplicate"), "{e}");
        assert!(matches!(
            parse_problems("\n\n", "f"),
            Err(InputError::Empty { .. })
        ));
        let e = parse_problems("[{\"question\": \"a\"},\n{oops}]", "f").unwrap_err();
        assert!(e.to_string().starts_with("f:2: not valid JSON"), "{e}");
    }

    #[test]
    fn the_shared_inputs_layout_loads() {
        let line = r#"{"id": "CMO2024-1", "problem": "Let $\\alpha > 1$ ...", "answer": null}"#;
        let p = parse_problems(line, "f").unwrap();
        assert_eq!((p[0].key.as_str(), p[0].position), ("CMO2024-1", 0));
        assert_eq!(p[0].answer, None);
        let p = parse_problems(
            r#"{"problem": "x", "answer": 18, "level": 3, "subject": "Algebra"}"#,
            "f",
        )
        .unwrap();
        assert_eq!(p[0].answer.as_deref(), Some("18"));
        assert_eq!(p[0].info_str("subject").as_deref(), Some("Algebra"));
        assert_eq!(p[0].info_str("level").as_deref(), Some("3"));
    }
}
