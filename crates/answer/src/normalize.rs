//! Text-level clean-up of an extracted answer before lexing.
//!
//! These rewrites need context the lexer does not have: doubled backslashes from
//! badly escaped strings (`\\frac` for `\frac`), spacing commands glued to the next
//! word (`\quadx_2`), thousands separators spread over spaces (`14 {, }916`), and
//! punctuation that ends a sentence rather than the answer, and currency signs
//! written `\$`.

/// Returns the cleaned answer text.
pub fn normalize(src: &str) -> String {
    // `\$18.90`: an escaped dollar is a currency sign, which carries no value.
    let mut s = src.replace("\\$", " ").trim().to_string();
    // `\\frac` is an escaped `\frac` unless rows of an environment are being separated.
    if !s.contains("\\begin") {
        s = collapse_double_backslash(&s);
    }
    for sp in ["\\qquad", "\\quad"] {
        s = s.replace(sp, " ");
    }
    s = join_brace_thousands(&s);
    let mut s = s
        .trim_end_matches(|c: char| c == '.' || c == ',' || c == ';' || c.is_whitespace())
        .trim_end_matches("\\.")
        .trim()
        .to_string();
    if is_comma_grouped_number(&s) {
        s = s.replace(',', "");
    }
    s
}

fn collapse_double_backslash(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\'
            && chars.get(i + 1) == Some(&'\\')
            && chars.get(i + 2).is_some_and(|c| c.is_ascii_alphabetic())
        {
            i += 1;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// `14 {, }916` and `14{,}916` become `14916`.
fn join_brace_thousands(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '{' && out.trim_end().ends_with(|c: char| c.is_ascii_digit()) {
            let mut k = i + 1;
            while chars.get(k) == Some(&' ') {
                k += 1;
            }
            if chars.get(k) == Some(&',') {
                k += 1;
                while chars.get(k) == Some(&' ') {
                    k += 1;
                }
                if chars.get(k) == Some(&'}') {
                    k += 1;
                    while chars.get(k) == Some(&' ') {
                        k += 1;
                    }
                    if chars.get(k).is_some_and(|c| c.is_ascii_digit()) {
                        let t = out.trim_end().len();
                        out.truncate(t);
                        i = k;
                        continue;
                    }
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The whole answer is one number with comma thousands: `10,455` or `-1,000.5`.
fn is_comma_grouped_number(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match body.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (body, None),
    };
    if frac.is_some_and(|f| f.is_empty() || !f.chars().all(|c| c.is_ascii_digit())) {
        return false;
    }
    let groups: Vec<&str> = int.split(',').collect();
    groups.len() >= 2
        && (1..=3).contains(&groups[0].len())
        && !groups[0].starts_with('0')
        && groups[0].chars().all(|c| c.is_ascii_digit())
        && groups[1..]
            .iter()
            .all(|g| g.len() == 3 && g.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn rewrites() {
        assert_eq!(normalize("\\\\frac{1}{2}"), "\\frac{1}{2}");
        assert_eq!(normalize("x_1=1,\\quadx_2=2"), "x_1=1, x_2=2");
        assert_eq!(normalize("14 {, }916"), "14916");
        assert_eq!(normalize("10,455."), "10455");
        assert_eq!(normalize("32, 349"), "32, 349");
        assert_eq!(normalize("1,22"), "1,22");
        assert_eq!(normalize("\\$ 1,000"), "1000");
        assert_eq!(normalize("\\$18.90"), "18.90");
    }
}
