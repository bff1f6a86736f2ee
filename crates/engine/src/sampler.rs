//! Token sampling: temperature, top-k, top-p, min-p, with a seeded random stream.
//!
//! Order of operations (the convention of vLLM, which serves the large models verimath
//! drives remotely, so local and remote sampling agree): the logits are divided by the
//! temperature, then top-k, top-p and min-p truncate the resulting distribution, and a
//! token is drawn from what is left. Temperature 0 means greedy (argmax).
//!
//! Every sample owns its random stream. A request with seed `s` gives its sample `i` the
//! stream [`derive_seed`]`(s, i)`, so the same request gives the same samples whatever
//! other requests share the batch, and the samples of one request differ from each other.
//! The generator is a small xoshiro256** written here rather than `rand`'s `StdRng`,
//! whose algorithm may change between versions: seeds must mean the same thing forever.
//!
//! The reported log-probability of the chosen token is taken over the full vocabulary
//! of the raw logits (before temperature and truncation), the quantity llama.cpp and the
//! OpenAI API report, so it is comparable across sampling settings.

/// How to pick the next token from logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature; `0` (or below) picks the most likely token.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; `0` keeps all.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches `top_p`;
    /// `1` keeps all.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one; `0` keeps all.
    pub min_p: f32,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding: always the most likely token.
    pub fn greedy() -> Self {
        SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        }
    }

    /// Whether these settings pick the argmax deterministically.
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0 || self.top_k == 1
    }

    /// Check the values a user or client may have sent.
    pub fn validate(&self) -> Result<(), String> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(format!(
                "temperature must be a finite number >= 0, got {}",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!("top_p must be in (0, 1], got {}", self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(format!("min_p must be in [0, 1], got {}", self.min_p));
        }
        Ok(())
    }
}

/// The token drawn and its log-probability under the raw (temperature 1) distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampled {
    pub token: u32,
    pub logprob: f32,
}

/// The seed of sample `index` of a request seeded with `seed`.
///
/// Mixing both through splitmix64 keeps nearby seeds and indices far apart in the
/// generator's state space.
pub fn derive_seed(seed: u64, index: u64) -> u64 {
    splitmix64(splitmix64(seed) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// A seed for requests that give none: distinct per call, not reproducible.
pub fn fresh_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    derive_seed(nanos, COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256**: fast, small state, good statistical quality for sampling.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Fill the state from splitmix64 as the generator's authors recommend: it never
        // yields the all-zero state.
        let mut x = seed;
        let mut s = [0u64; 4];
        for word in &mut s {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            *word = splitmix64(x);
        }
        Rng { s }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Below this log-ratio to the best token a token's probability (< 4e-18 of the best)
/// cannot change a draw even summed over a 262k vocabulary, so it is dropped before the
/// sort that top-k and top-p need; that keeps sampling cheap on large vocabularies.
const NEGLIGIBLE_LOG_RATIO: f32 = -40.0;

/// Draws tokens for one sequence with its own random stream.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: Rng,
    /// Reused candidate buffer: (token, scaled logit).
    candidates: Vec<(u32, f32)>,
}

impl Sampler {
    pub fn new(params: SamplingParams, seed: u64) -> Self {
        Sampler {
            params,
            rng: Rng::new(seed),
            candidates: Vec::new(),
        }
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Pick the next token from `logits` (one value per vocabulary entry).
    ///
    /// Returns `None` for an empty vocabulary or logits that are all NaN or -inf.
    pub fn sample(&mut self, logits: &[f32]) -> Option<Sampled> {
        let (best, max) = argmax(logits)?;
        // An infinite best logit takes all the probability mass: nothing to draw.
        let token = if self.params.is_greedy() || !max.is_finite() {
            best
        } else {
            self.draw(logits, max)
        };
        Some(Sampled {
            token,
            logprob: log_softmax_at(logits, max, token as usize),
        })
    }

    fn draw(&mut self, logits: &[f32], max: f32) -> u32 {
        let inv_t = 1.0 / self.params.temperature;
        let candidates = &mut self.candidates;
        candidates.clear();
        for (i, &l) in logits.iter().enumerate() {
            let scaled = (l - max) * inv_t;
            // NaN compares false, so corrupt logits never become candidates.
            if scaled >= NEGLIGIBLE_LOG_RATIO {
                candidates.push((i as u32, scaled));
            }
        }
        // The argmax itself scales to 0, so there is always at least one candidate.
        truncate_top_k(candidates, self.params.top_k);
        let top_p = self.params.top_p;
        if top_p < 1.0 {
            truncate_top_p(candidates, top_p);
        }
        if self.params.min_p > 0.0 {
            // Relative to the best token (scaled logit 0): p_i / p_max = exp(scaled_i).
            let threshold = self.params.min_p.ln();
            candidates.retain(|&(_, s)| s >= threshold);
        }
        let total: f64 = candidates.iter().map(|&(_, s)| (s as f64).exp()).sum();
        let mut target = self.rng.next_f64() * total;
        for &(id, s) in candidates.iter() {
            target -= (s as f64).exp();
            if target < 0.0 {
                return id;
            }
        }
        // Rounding can leave a sliver of `target`; it belongs to the last candidate.
        candidates.last().map(|&(id, _)| id).unwrap_or(0)
    }
}

/// Keep the `k` best candidates (all when `k` is 0 or not smaller than the set).
fn truncate_top_k(candidates: &mut Vec<(u32, f32)>, k: usize) {
    if k == 0 || k >= candidates.len() {
        return;
    }
    candidates.select_nth_unstable_by(k - 1, by_score_desc);
    candidates.truncate(k);
}

/// Keep the smallest prefix of the best candidates whose probability mass reaches `p`.
fn truncate_top_p(candidates: &mut Vec<(u32, f32)>, p: f32) {
    candidates.sort_unstable_by(by_score_desc);
    let total: f64 = candidates.iter().map(|&(_, s)| (s as f64).exp()).sum();
    let goal = p as f64 * total;
    let mut mass = 0.0;
    let mut keep = candidates.len();
    for (i, &(_, s)) in candidates.iter().enumerate() {
        mass += (s as f64).exp();
        if mass >= goal {
            keep = i + 1;
            break;
        }
    }
    candidates.truncate(keep);
}

/// Higher score first; ties by lower token id so results do not depend on sort internals.
fn by_score_desc(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Index and value of the largest finite-or-infinite, non-NaN logit (first on ties).
pub fn argmax(logits: &[f32]) -> Option<(u32, f32)> {
    let mut best: Option<(u32, f32)> = None;
    for (i, &l) in logits.iter().enumerate() {
        if l.is_nan() {
            continue;
        }
        match best {
            Some((_, b)) if l <= b => {}
            _ => best = Some((i as u32, l)),
        }
    }
    best.filter(|&(_, v)| v > f32::NEG_INFINITY)
}

/// log softmax(logits)[index], given the maximum logit for numerical stability.
fn log_softmax_at(logits: &[f32], max: f32, index: usize) -> f32 {
    let sum: f64 = logits
        .iter()
        .filter(|l| !l.is_nan())
        .map(|&l| ((l - max) as f64).exp())
        .sum();
    let value = logits.get(index).copied().unwrap_or(f32::NEG_INFINITY);
    ((value - max) as f64 - sum.ln()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32, top_k: usize, top_p: f32, min_p: f32) -> SamplingParams {
        SamplingParams {
            temperature,
            top_k,
            top_p,
            min_p,
        }
    }

    /// Frequencies of each token over `n` draws.
    fn histogram(p: SamplingParams, logits: &[f32], n: usize, seed: u64) -> Vec<f64> {
        let mut s = Sampler::new(p, seed);
        let mut counts = vec![0usize; logits.len()];
        for _ in 0..n {
            let t = s.sample(logits).expect("valid logits").token;
            counts[t as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / n as f64).collect()
    }

    fn softmax(logits: &[f32]) -> Vec<f64> {
        let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f64> = logits.iter().map(|&l| ((l - max) as f64).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|x| x / s).collect()
    }

    #[test]
    fn greedy_is_argmax_and_reports_logprob() {
        let logits = [0.5, 3.0, -1.0, 2.9];
        let mut s = Sampler::new(SamplingParams::greedy(), 7);
        for _ in 0..10 {
            let out = s.sample(&logits).unwrap();
            assert_eq!(out.token, 1);
            let expected = softmax(&logits)[1].ln() as f32;
            assert!((out.logprob - expected).abs() < 1e-5);
        }
    }

    #[test]
    fn top_k_one_is_greedy_even_at_high_temperature() {
        let logits = [0.0, 1.0, 0.9];
        let h = histogram(params(5.0, 1, 1.0, 0.0), &logits, 200, 3);
        assert_eq!(h[1], 1.0);
    }

    #[test]
    fn temperature_one_matches_softmax() {
        let logits = [1.0, 2.0, 0.0, 1.5];
        let n = 100_000;
        let h = histogram(SamplingParams::default(), &logits, n, 42);
        for (got, want) in h.iter().zip(softmax(&logits)) {
            // Five standard deviations of a binomial frequency.
            let tol = 5.0 * (want * (1.0 - want) / n as f64).sqrt();
            assert!((got - want).abs() < tol, "got {got}, want {want}");
        }
    }

    #[test]
    fn temperature_sharpens_and_flattens() {
        let logits = [1.0, 2.0, 0.0];
        let n = 50_000;
        let cold = histogram(params(0.5, 0, 1.0, 0.0), &logits, n, 1);
        let scaled: Vec<f32> = logits.iter().map(|l| l / 0.5).collect();
        for (got, want) in cold.iter().zip(softmax(&scaled)) {
            assert!((got - want).abs() < 0.01, "got {got}, want {want}");
        }
        let hot = histogram(params(4.0, 0, 1.0, 0.0), &logits, n, 1);
        assert!(hot[2] > 0.2 && cold[2] < 0.03);
    }

    #[test]
    fn top_k_keeps_only_the_best_k() {
        let logits = [0.0, 3.0, 2.0, 1.0, 2.5];
        let h = histogram(params(1.0, 2, 1.0, 0.0), &logits, 20_000, 5);
        assert_eq!(h[0] + h[2] + h[3], 0.0);
        // Renormalised over the two kept tokens.
        let want = 1.0 / (1.0 + (-0.5f64).exp());
        assert!((h[1] - want).abs() < 0.015, "{h:?}");
    }

    #[test]
    fn top_p_keeps_smallest_set_reaching_mass() {
        // Probabilities 0.5, 0.3, 0.15, 0.05.
        let probs = [0.5f32, 0.3, 0.15, 0.05];
        let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
        // 0.5 + 0.3 = 0.8 reaches 0.75: two tokens kept.
        let h = histogram(params(1.0, 0, 0.75, 0.0), &logits, 20_000, 9);
        assert_eq!(h[2] + h[3], 0.0, "{h:?}");
        assert!((h[0] - 0.625).abs() < 0.015, "{h:?}");
        // 0.8 exactly needs only the first two, 0.81 needs the third.
        let h = histogram(params(1.0, 0, 0.81, 0.0), &logits, 20_000, 9);
        assert!(h[2] > 0.1 && h[3] == 0.0, "{h:?}");
    }

    #[test]
    fn min_p_drops_tokens_below_fraction_of_best() {
        let probs = [0.5f32, 0.3, 0.15, 0.05];
        let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
        // Threshold 0.25 * 0.5 = 0.125 keeps 0.5, 0.3, 0.15.
        let h = histogram(params(1.0, 0, 1.0, 0.25), &logits, 20_000, 11);
        assert_eq!(h[3], 0.0, "{h:?}");
        assert!(h[2] > 0.1, "{h:?}");
    }

    #[test]
    fn same_seed_same_draws_different_seed_different_draws() {
        let logits: Vec<f32> = (0..50).map(|i| (i % 7) as f32 * 0.3).collect();
        let draw = |seed| {
            let mut s = Sampler::new(SamplingParams::default(), seed);
            (0..64)
                .map(|_| s.sample(&logits).unwrap().token)
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(derive_seed(5, 0)), draw(derive_seed(5, 0)));
        assert_ne!(draw(derive_seed(5, 0)), draw(derive_seed(5, 1)));
        assert_ne!(draw(derive_seed(5, 0)), draw(derive_seed(6, 0)));
    }

    #[test]
    fn bad_logits_give_none_and_nan_is_skipped() {
        let mut s = Sampler::new(SamplingParams::default(), 1);
        assert!(s.sample(&[]).is_none());
        assert!(s.sample(&[f32::NAN, f32::NEG_INFINITY]).is_none());
        let out = s.sample(&[f32::NAN, 1.0, f32::NEG_INFINITY]).unwrap();
        assert_eq!(out.token, 1);
    }

    #[test]
    fn validate_rejects_out_of_range_values() {
        assert!(params(-1.0, 0, 1.0, 0.0).validate().is_err());
        assert!(params(f32::NAN, 0, 1.0, 0.0).validate().is_err());
        assert!(params(1.0, 0, 0.0, 0.0).validate().is_err());
        assert!(params(1.0, 0, 1.0, 1.5).validate().is_err());
        assert!(params(0.7, 40, 0.95, 0.05).validate().is_ok());
    }

    #[test]
    fn rng_is_uniform_enough() {
        let mut r = Rng::new(123);
        let n = 100_000;
        let mean: f64 = (0..n).map(|_| r.next_f64()).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.005);
    }
}
