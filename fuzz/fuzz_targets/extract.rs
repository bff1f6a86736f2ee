//! Fuzzes `answer::extract`: arbitrary text, with and without choice letters, must
//! not panic, and every candidate lies within the text, best priority first.
#![no_main]

use answer::{extract, ExtractOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let plain = ExtractOptions::default();
    let choice = ExtractOptions {
        choice: true,
        ..ExtractOptions::default()
    };
    let chars = text.chars().count();
    for opts in [&plain, &choice] {
        let found = extract(&text, opts);
        for c in &found {
            assert!(
                c.start <= c.end && c.end <= chars,
                "candidate {}..{} outside a text of {chars} characters",
                c.start,
                c.end
            );
            let _ = c.text();
        }
        assert!(
            found.windows(2).all(|w| w[0].priority <= w[1].priority),
            "candidates not sorted by priority"
        );
    }
});
