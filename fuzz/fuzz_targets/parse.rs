//! Fuzzes `answer::parse_answer`: arbitrary text must not panic.
#![no_main]

use answer::{parse_answer, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = parse_answer(&text, &Options::default()) {
        let _ = format!("{:?}", p.expr);
    }
});
