//! Prints a GGUF file's metadata (long arrays abbreviated) and tensor index.
//!
//! `cargo run --release -p gguf --example inspect -- model.gguf`

use std::io::Write;

use gguf::{GgufFile, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: inspect FILE.gguf")?;
    let t = std::time::Instant::now();
    let f = GgufFile::open(&path)?;
    let opened = t.elapsed();
    match print(&f, opened) {
        // A closed pipe (`| head`) is a normal way to stop reading.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

fn print(f: &GgufFile, opened: std::time::Duration) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "opened in {opened:?}: GGUF v{}", f.version())?;
    for (k, v) in f.metadata() {
        match v {
            Value::Array(a) if a.len() > 8 => writeln!(out, "{k} = [{} items]", a.len())?,
            Value::String(s) if s.len() > 80 => {
                writeln!(out, "{k} = {:?}...", &s[..s.floor_char_boundary(80)])?
            }
            _ => writeln!(out, "{k} = {v:?}")?,
        }
    }
    for t in f.tensors() {
        writeln!(
            out,
            "{:40} {:6} {:?} @ {}",
            t.name,
            t.dtype.name(),
            t.dims,
            t.offset
        )?;
    }
    out.flush()
}
