//! `verimath tokenize`: show how a local GGUF model's tokenizer splits text.
//!
//! The ids are exactly what generation would feed the model: BOS/EOS are added as the
//! model's metadata asks (`--no-special` leaves them out), and special-token texts in
//! the input stay plain text unless `--parse-special` is given.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use engine::tokenizer::Tokenizer;

/// Flags of this command.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// GGUF model whose tokenizer to use [default: the installed default model].
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
    /// Text to tokenize; `-` reads standard input.
    #[arg(value_name = "TEXT")]
    text: String,
    /// Print `{"ids": [...]}` instead of one `id<TAB>piece` line per token.
    #[arg(long)]
    json: bool,
    /// Do not add BOS/EOS even where the model's metadata asks for them.
    #[arg(long)]
    no_special: bool,
    /// Turn special-token texts in TEXT (such as `<start_of_turn>`) into their tokens.
    #[arg(long)]
    parse_special: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let path = args
        .model
        .unwrap_or_else(engine::backend::default_model_path);
    let file = gguf::GgufFile::open(&path).with_context(|| {
        format!(
            "cannot open model {} (pass --model PATH, or install the default model)",
            path.display()
        )
    })?;
    let tokenizer = Tokenizer::from_gguf(&file)
        .with_context(|| format!("cannot read the tokenizer of {}", path.display()))?;

    let text = if args.text == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read standard input")?;
        s
    } else {
        args.text
    };
    let ids = tokenizer.encode(&text, !args.no_special, args.parse_special);

    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::json!({ "ids": ids }))?;
    } else {
        for &id in &ids {
            writeln!(out, "{id}\t{}", escape(tokenizer.token_bytes(id)))?;
        }
    }
    Ok(0)
}

/// A piece made visible on one line: newlines, tabs and other control characters as
/// escapes, bytes that are not UTF-8 on their own (byte-fallback tokens) as `\xNN`.
fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => s.push_str("\\n"),
                '\t' => s.push_str("\\t"),
                '\r' => s.push_str("\\r"),
                '\\' => s.push_str("\\\\"),
                c if c.is_control() => s.push_str(&format!("\\u{{{:04x}}}", c as u32)),
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn pieces_stay_on_one_line() {
        assert_eq!(escape(b" hello"), " hello");
        assert_eq!(escape(b"\n\t\\"), "\\n\\t\\\\");
        assert_eq!(escape(&[0xC3]), "\\xC3");
        assert_eq!(escape("é\u{7}".as_bytes()), "é\\u{0007}");
    }
}
