//! Checking JSON Lines: one object with `gold` and `pred` per line.
//!
//! A line may carry its own options (`precision`, `strict`, `allow_set_relation_comp`,
//! `match_types`), top-level or inside a `config` object as in the labelled case set;
//! they override the caller's options for that line only. Each output object carries
//! `equivalent`, `status` (see [`crate::Status`]) and `reason`. A malformed line yields
//! `"equivalent": null`, `"status": "undecided"` and a reason instead of stopping the
//! batch.

use crate::{check, Options, Status};
use serde_json::{Map, Value};

/// Applies the option fields found in `obj` (and its `config` object) to `base`.
/// `config.kind == "default"` means the reference library's defaults, where boxes rank
/// after "final answer" phrases (priority 50).
pub fn line_options(obj: &Map<String, Value>, base: &Options) -> Result<Options, String> {
    let mut o = base.clone();
    let scopes = [obj.get("config").and_then(Value::as_object), Some(obj)];
    for scope in scopes.into_iter().flatten() {
        if scope.get("kind").and_then(Value::as_str) == Some("default") {
            o.boxed_priority = 50;
        }
        if let Some(v) = scope.get("precision").filter(|v| !v.is_null()) {
            let p = v
                .as_u64()
                .ok_or("precision must be a non-negative integer")?;
            o.precision = p.min(30) as u32;
        }
        if let Some(v) = scope.get("strict").filter(|v| !v.is_null()) {
            o.strict = v.as_bool().ok_or("strict must be true or false")?;
        }
        if let Some(v) = scope
            .get("allow_set_relation_comp")
            .filter(|v| !v.is_null())
        {
            o.allow_set_relation_comp = v
                .as_bool()
                .ok_or("allow_set_relation_comp must be true or false")?;
        }
        if let Some(v) = scope.get("boxed_priority").filter(|v| !v.is_null()) {
            let p = v
                .as_u64()
                .ok_or("boxed_priority must be a non-negative integer")?;
            o.boxed_priority = p.min(1000) as u32;
        }
        if let Some(v) = scope.get("match_types").filter(|v| !v.is_null()) {
            o.match_types = parse_match_types(v)?;
        }
    }
    Ok(o)
}

fn parse_match_types(v: &Value) -> Result<Vec<String>, String> {
    let items: Vec<String> = match v {
        Value::String(s) => s.split(',').map(|x| x.trim().to_string()).collect(),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or("match_types entries must be strings")
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("match_types must be a list of strings".into()),
    };
    validate_match_types(&items)?;
    Ok(items)
}

/// `latex`, `expr` and `choice` are the known extraction targets; one is needed.
pub fn validate_match_types(items: &[String]) -> Result<(), String> {
    if items.is_empty() {
        return Err("match_types is empty".into());
    }
    for m in items {
        if !matches!(m.as_str(), "latex" | "expr" | "choice") {
            return Err(format!(
                "unknown match type {m:?} (expected latex, expr or choice)"
            ));
        }
    }
    Ok(())
}

/// Checks one input line and returns the output object: the input's fields plus
/// `equivalent`, `status` and `reason`.
pub fn check_line(line: &str, base: &Options) -> Value {
    let mut out = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return failure(Map::new(), "line is not a JSON object"),
        Err(e) => return failure(Map::new(), &format!("malformed JSON: {e}")),
    };
    let text = |k: &str| match out.get(k) {
        Some(Value::String(s)) => Ok(s.clone()),
        // Numeric answers such as `"gold": 42` are common in datasets.
        Some(v @ Value::Number(_)) => Ok(v.to_string()),
        Some(_) => Err(format!("field {k:?} must be a string")),
        None => Err(format!("missing field {k:?}")),
    };
    let (gold, pred) = match (text("gold"), text("pred")) {
        (Ok(g), Ok(p)) => (g, p),
        (Err(e), _) | (_, Err(e)) => return failure(out, &e),
    };
    let opts = match line_options(&out, base) {
        Ok(o) => o,
        Err(e) => return failure(out, &e),
    };
    let v = check(&gold, &pred, &opts);
    out.insert(
        "equivalent".into(),
        v.equivalent.map_or(Value::Null, Value::Bool),
    );
    out.insert("status".into(), Value::String(v.status.as_str().into()));
    out.insert("reason".into(), Value::String(v.reason));
    Value::Object(out)
}

fn failure(mut m: Map<String, Value>, reason: &str) -> Value {
    m.insert("equivalent".into(), Value::Null);
    m.insert(
        "status".into(),
        Value::String(Status::Undecided.as_str().into()),
    );
    m.insert("reason".into(), Value::String(reason.to_string()));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_fields_are_kept_and_verdict_added() {
        let v = check_line(
            r#"{"id": 7, "gold": "$\\frac12$", "pred": "0.5"}"#,
            &Options::default(),
        );
        assert_eq!(v["id"], 7);
        assert_eq!(v["equivalent"], true);
        assert_eq!(v["status"], "equivalent");
        assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }

    #[test]
    fn status_names() {
        let status = |gold: &str, pred: &str| {
            let line = serde_json::json!({"gold": gold, "pred": pred}).to_string();
            check_line(&line, &Options::default())["status"].clone()
        };
        assert_eq!(status("$2$", "$3$"), "different");
        assert_eq!(status("$2$", "there is nothing to see here"), "no_answer");
        assert_eq!(status("$3$", "$x$"), "different");
        assert_eq!(status("no answer in gold at all here", "$3$"), "undecided");
    }

    #[test]
    fn line_options_override() {
        let line = r#"{"gold": "$\\frac13$", "pred": "$0.33$", "config": {"precision": 2}}"#;
        assert_eq!(check_line(line, &Options::default())["equivalent"], true);
        let line = r#"{"gold": "$\\frac13$", "pred": "$0.33$", "precision": 2, "config": {"precision": 6}}"#;
        assert_eq!(check_line(line, &Options::default())["equivalent"], true);
        let line = r#"{"gold": "$\\frac13$", "pred": "$0.33$"}"#;
        assert_eq!(check_line(line, &Options::default())["equivalent"], false);
    }

    #[test]
    fn malformed_lines_give_null() {
        for line in [
            "{not json",
            "[1,2]",
            r#"{"gold": "1"}"#,
            r#"{"gold": "1", "pred": "1", "match_types": ["tex"]}"#,
        ] {
            let v = check_line(line, &Options::default());
            assert_eq!(v["equivalent"], Value::Null, "{line}");
            assert_eq!(v["status"], "undecided", "{line}");
            assert!(v["reason"].is_string());
        }
    }
}
