//! Prints a GGUF file's metadata (long arrays abbreviated) and tensor index.
//!
//! `cargo run --release -p gguf --example inspect -- model.gguf`

use gguf::{GgufFile, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: inspect FILE.gguf")?;
    let t = std::time::Instant::now();
    let f = GgufFile::open(&path)?;
    println!("opened in {:?}: GGUF v{}", t.elapsed(), f.version());
    for (k, v) in f.metadata() {
        match v {
            Value::Array(a) if a.len() > 8 => println!("{k} = [{} items]", a.len()),
            Value::String(s) if s.len() > 80 => {
                println!("{k} = {:?}...", &s[..s.floor_char_boundary(80)])
            }
            _ => println!("{k} = {v:?}"),
        }
    }
    for t in f.tensors() {
        println!(
            "{:40} {:6} {:?} @ {}",
            t.name,
            t.dtype.name(),
            t.dims,
            t.offset
        );
    }
    Ok(())
}
