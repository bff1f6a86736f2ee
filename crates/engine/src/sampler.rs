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

/// Below this weight relative to the best token (e^-40) a token cannot change a draw
/// even summed over a 262k vocabulary, so it is dropped before the selection that
/// top-k and top-p need; that keeps truncated sampling cheap on large vocabularies.
const NEGLIGIBLE_WEIGHT: f32 = 4.25e-18;

/// Draws tokens for one sequence with its own random stream.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: Rng,
    /// Reused buffers: every token's weight, and (token, weight) of the candidates
    /// left for truncation.
    weights: Vec<f32>,
    candidates: Vec<(u32, f32)>,
}

impl Sampler {
    pub fn new(params: SamplingParams, seed: u64) -> Self {
        Sampler {
            params,
            rng: Rng::new(seed),
            weights: Vec::new(),
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
        // Every token's weight relative to the best one, exp((l - max) / t): the best
        // weighs 1 and no later step needs another exponential. One dense pass the
        // compiler vectorizes; a NaN logit gets a weight too small to ever be drawn.
        let weights = &mut self.weights;
        weights.clear();
        weights.extend(logits.iter().map(|&l| fast_exp((l - max) * inv_t)));
        let p = self.params;
        let truncates = (p.top_k > 0 && p.top_k < weights.len()) || p.top_p < 1.0 || p.min_p > 0.0;
        if !truncates {
            let target = self.rng.next_f64() * sum(weights);
            return pick(weights, target);
        }
        let candidates = &mut self.candidates;
        candidates.clear();
        candidates.extend(
            weights
                .iter()
                .enumerate()
                .filter(|&(_, &w)| w >= NEGLIGIBLE_WEIGHT)
                .map(|(i, &w)| (i as u32, w)),
        );
        // The argmax itself weighs 1, so there is always at least one candidate.
        truncate_top_k(candidates, p.top_k);
        if p.top_p < 1.0 {
            truncate_top_p(candidates, p.top_p);
        }
        if p.min_p > 0.0 {
            // Weights are p_i / p_max already.
            candidates.retain(|&(_, w)| w >= p.min_p);
        }
        let total: f64 = candidates.iter().map(|&(_, w)| w as f64).sum();
        let mut target = self.rng.next_f64() * total;
        for &(id, w) in candidates.iter() {
            target -= w as f64;
            if target < 0.0 {
                return id;
            }
        }
        // Rounding can leave a sliver of `target`; it belongs to the last candidate.
        candidates.last().map(|&(id, _)| id).unwrap_or(0)
    }
}

/// Sum of weights, over eight lanes so the loop vectorizes.
fn sum(weights: &[f32]) -> f64 {
    let mut lanes = [0f32; 8];
    let chunks = weights.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &w) in lanes.iter_mut().zip(chunk) {
            *lane += w;
        }
    }
    lanes.iter().chain(tail).map(|&x| x as f64).sum()
}

/// The token where the running sum of weights passes `target`: whole blocks are
/// skipped by their (vectorized) sums, then one block is walked.
fn pick(weights: &[f32], mut target: f64) -> u32 {
    const BLOCK: usize = 1024;
    for (b, block) in weights.chunks(BLOCK).enumerate() {
        let mass = sum(block);
        if target >= mass {
            target -= mass;
            continue;
        }
        for (i, &w) in block.iter().enumerate() {
            target -= w as f64;
            if target < 0.0 {
                return (b * BLOCK + i) as u32;
            }
        }
    }
    // Rounding left a sliver: it belongs to the last token with any weight.
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0) as u32
}

/// Keep the `k` heaviest candidates (all when `k` is 0 or not smaller than the set).
fn truncate_top_k(candidates: &mut Vec<(u32, f32)>, k: usize) {
    if k == 0 || k >= candidates.len() {
        return;
    }
    candidates.select_nth_unstable_by(k - 1, by_score_desc);
    candidates.truncate(k);
}

/// Keep the smallest prefix of the heaviest candidates whose mass reaches `p`.
///
/// Sorting a whole 262k vocabulary costs milliseconds per token, yet the nucleus is
/// usually a few dozen tokens. So the heaviest `k` are selected in linear time and only
/// they are sorted, with `k` growing fourfold until their mass reaches the goal.
fn truncate_top_p(candidates: &mut Vec<(u32, f32)>, p: f32) {
    let total: f64 = candidates.iter().map(|&(_, w)| w as f64).sum();
    let goal = p as f64 * total;
    let mut k = 64.min(candidates.len());
    loop {
        if k < candidates.len() {
            candidates.select_nth_unstable_by(k - 1, by_score_desc);
        }
        candidates[..k].sort_unstable_by(by_score_desc);
        let mut mass = 0.0;
        for i in 0..k {
            mass += candidates[i].1 as f64;
            if mass >= goal {
                candidates.truncate(i + 1);
                return;
            }
        }
        if k == candidates.len() {
            return; // rounding kept the goal out of reach: keep everything
        }
        k = (k * 4).min(candidates.len());
    }
}

/// exp(x) for x <= 0 — relative error about 2e-7 near 0, growing to a few 1e-6 at -87
/// from rounding x·log2(e) to f32, far below what sampling can notice — in a form the compiler turns
/// into vector instructions. std's exp is a library call per element, which made the
/// sampler's pass over a 262k vocabulary cost more than a millisecond.
#[inline]
fn fast_exp(x: f32) -> f32 {
    // exp(x) = 2^t with t = x·log2(e), split as 2^n · 2^f, n integer, |f| <= 1/2.
    // Below -87 the result is under f32's normal range: clamp (NaN also lands here).
    let t = x.max(-87.0) * std::f32::consts::LOG2_E;
    // Round to nearest by the float magic-number trick (vectorizes, unlike round()).
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23
    let shifted = t + MAGIC;
    let n = shifted - MAGIC;
    let f = t - n;
    // The low mantissa bits of `shifted` hold n itself: integer operations only, which
    // vectorize where a float-to-int cast does not.
    let n_int = shifted.to_bits() as i32 - MAGIC.to_bits() as i32;
    // Taylor series of 2^f = e^(f ln 2) to degree 6.
    let p = 1.0
        + f * (std::f32::consts::LN_2
            + f * (0.240_226_5
                + f * (0.055_504_11
                    + f * (0.009_618_129 + f * (0.001_333_355_8 + f * 0.000_154_035_3)))));
    let scale = f32::from_bits(((n_int + 127) as u32) << 23);
    p * scale
}

/// Higher score first; ties by lower token id so results do not depend on sort internals.
fn by_score_desc(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Index and value of the largest finite-or-infinite, non-NaN logit (first on ties).
pub fn argmax(logits: &[f32]) -> Option<(u32, f32)> {
    // First the maximum, over eight lanes so the loop vectorizes (`f32::max` skips
    // NaN), then the first position holding it.
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = logits.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &l) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(l);
        }
    }
    let max = lanes
        .iter()
        .chain(tail)
        .fold(f32::NEG_INFINITY, |m, &l| m.max(l));
    if max == f32::NEG_INFINITY {
        return None;
    }
    let index = logits.iter().position(|&l| l == max)?;
    Some((index as u32, max))
}

/// log softmax(logits)[index], given the maximum logit for numerical stability.
/// The `n` most likely tokens of `logits` with their log-probabilities under the raw
/// (temperature 1) distribution, most likely first.
pub fn top_logprobs(logits: &[f32], n: usize) -> Vec<(u32, f32)> {
    let Some((_, max)) = argmax(logits) else {
        return Vec::new();
    };
    let n = n.min(logits.len());
    let mut idx: Vec<u32> = (0..logits.len() as u32).collect();
    let key = |i: &u32| {
        let l = logits[*i as usize];
        if l.is_nan() {
            f32::NEG_INFINITY
        } else {
            l
        }
    };
    if n < idx.len() {
        idx.select_nth_unstable_by(n, |a, b| key(b).total_cmp(&key(a)));
        idx.truncate(n);
    }
    idx.sort_by(|a, b| key(b).total_cmp(&key(a)));
    let log_z = log_partition(logits, max);
    idx.into_iter()
        .map(|i| (i, ((logits[i as usize] - max) as f64 - log_z) as f32))
        .collect()
}

fn log_softmax_at(logits: &[f32], max: f32, index: usize) -> f32 {
    let value = logits.get(index).copied().unwrap_or(f32::NEG_INFINITY);
    ((value - max) as f64 - log_partition(logits, max)) as f32
}

/// ln sum exp(l - max) over the logits.
fn log_partition(logits: &[f32], max: f32) -> f64 {
    // Eight running sums let the loop vectorize; NaN logits add (almost) nothing.
    let mut lanes = [0f32; 8];
    let chunks = logits.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &l) in lanes.iter_mut().zip(chunk) {
            *lane += fast_exp(l - max);
        }
    }
    let mut sum: f64 = lanes.iter().map(|&x| x as f64).sum();
    sum += tail.iter().map(|&l| fast_exp(l - max) as f64).sum::<f64>();
    sum.ln()
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
    fn top_logprobs_are_the_most_likely_in_order() {
        let logits = [0.5f32, 3.0, -1.0, 2.0, f32::NAN];
        let top = top_logprobs(&logits, 2);
        assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![1, 3]);
        let z: f32 = [0.5f32, 3.0, -1.0, 2.0].iter().map(|l| l.exp()).sum();
        assert!((top[0].1 - (3.0 - z.ln())).abs() < 1e-4, "{top:?}");
        assert!(top[0].1 >= top[1].1);
        assert_eq!(top_logprobs(&logits, 10).len(), 5);
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
    fn fast_exp_is_accurate() {
        let mut x = -87.0f32;
        while x <= 0.0 {
            let (fast, exact) = (fast_exp(x) as f64, (x as f64).exp());
            // Rounding x·log2(e) to f32 costs relative precision in proportion to |x|.
            let tol = (1e-6 + 5e-8 * x.abs() as f64) * exact;
            assert!((fast - exact).abs() <= tol, "exp({x}): {fast} vs {exact}");
            x += 0.0137;
        }
        assert_eq!(fast_exp(0.0), 1.0);
        assert!(fast_exp(f32::NEG_INFINITY) < 1e-37);
    }

    #[test]
    fn top_p_on_a_large_vocabulary_keeps_the_nucleus() {
        // 1000 tokens: ten strong ones share 90% of the mass, the rest the remaining 10%.
        let mut logits = vec![0f32; 1000];
        for l in logits.iter_mut().take(10) {
            *l = (0.09f32 / (0.1 / 990.0)).ln();
        }
        let h = histogram(params(1.0, 0, 0.85, 0.0), &logits, 5_000, 3);
        assert_eq!(h[10..].iter().sum::<f64>(), 0.0);
        // Reaching 0.95 needs the strong ten and about half the weak mass.
        let h = histogram(params(1.0, 0, 0.95, 0.0), &logits, 5_000, 3);
        assert!(h[10..].iter().sum::<f64>() > 0.0);
    }

    #[test]
    fn rng_is_uniform_enough() {
        let mut r = Rng::new(123);
        let n = 100_000;
        let mean: f64 = (0..n).map(|_| r.next_f64()).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.005);
    }
}
