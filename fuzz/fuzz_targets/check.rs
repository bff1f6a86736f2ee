//! Fuzzes `answer::check` on a gold/prediction pair, split at the first NUL byte.
//!
//! Invariants: no panic; `equivalent` is `None` exactly when `status` is undecided;
//! an answer whose parse succeeds is never `different` from itself.
#![no_main]

use answer::{check, parse_answer, Options, Status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (gold, pred) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[..0]),
    };
    let gold = String::from_utf8_lossy(gold);
    let pred = String::from_utf8_lossy(pred);
    let opts = Options::default();

    let v = check(&gold, &pred, &opts);
    assert_eq!(
        v.equivalent.is_none(),
        v.status == Status::Undecided,
        "equivalent {:?} with status {}",
        v.equivalent,
        v.status
    );
    assert_eq!(v.equivalent, v.status.equivalent());

    if parse_answer(&gold, &opts).is_ok() {
        let same = check(&gold, &gold, &opts);
        assert_ne!(
            same.status,
            Status::Different,
            "an answer differs from itself: {}",
            same.reason
        );
    }
});
