//! Stable sample identities.
//!
//! Every sample is named before it is requested, from what it is: the problem, the
//! round, the role, the proof it judges and its index among its siblings. A restart
//! plans the same names, finds which are stored, and requests only the rest.

/// Id of proof `idx` of `round`: `{problem}/r{round}/p{idx}`.
pub fn proof_id(problem_key: &str, round: u32, idx: u32) -> String {
    format!("{problem_key}/r{round}/p{idx}")
}

/// Id of verification `idx` of a proof: `{proof_id}/v{idx}`.
pub fn verification_id(proof_id: &str, idx: u32) -> String {
    format!("{proof_id}/v{idx}")
}

/// Id of meta-verification `idx` of a verification: `{verification_id}/m{idx}`.
pub fn meta_id(verification_id: &str, idx: u32) -> String {
    format!("{verification_id}/m{idx}")
}

/// Id of solution `idx` of final-answer mode: `{problem}/s{idx}`. Its verifications
/// are named by [`verification_id`].
pub fn solution_id(problem_key: &str, idx: u32) -> String {
    format!("{problem_key}/s{idx}")
}

/// Group sorted missing indices into runs of consecutive indices of at most `max`
/// each: one request with `n` = run length covers one run.
pub fn chunks(missing: &[u32], max: u32) -> Vec<(u32, u32)> {
    let max = max.max(1);
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &i in missing {
        match out.last_mut() {
            Some((start, len)) if *start + *len == i && *len < max => *len += 1,
            _ => out.push((i, 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_nest_and_chunks_follow_gaps() {
        let p = proof_id("CMO-1", 2, 7);
        assert_eq!(meta_id(&verification_id(&p, 3), 0), "CMO-1/r2/p7/v3/m0");
        assert_eq!(chunks(&[0, 1, 2, 3, 4], 2), vec![(0, 2), (2, 2), (4, 1)]);
        assert_eq!(chunks(&[1, 2, 5, 6, 7], 16), vec![(1, 2), (5, 3)]);
        assert!(chunks(&[], 4).is_empty());
        assert_eq!(chunks(&[0, 1], 0), vec![(0, 1), (1, 1)]);
    }
}
