//! Small statistics: the unbiased pass@k estimator, confidence intervals, and rank
//! correlations — the arithmetic behind every figure of `eval` and `calibrate`.

use serde::{Deserialize, Serialize};

/// A value with its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: f64,
    pub ci95: [f64; 2],
}

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Unbiased pass@k of a problem with `c` correct among `n` samples:
/// 1 − C(n−c, k) / C(n, k) (the estimator of Chen et al., 2021), computed as a
/// product so that large `n` does not overflow. `k > n` is clamped to `n`.
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    let k = k.min(n);
    if n == 0 || k == 0 {
        return 0.0;
    }
    if n - c < k {
        return 1.0;
    }
    // C(n-c, k) / C(n, k) = prod_{i=0}^{k-1} (n-c-i) / (n-i)
    let mut fail = 1.0;
    for i in 0..k {
        fail *= (n - c - i) as f64 / (n - i) as f64;
    }
    1.0 - fail
}

/// Wilson score interval of a proportion `successes / n`.
pub fn wilson(successes: f64, n: usize) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let n = n as f64;
    let p = successes / n;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

/// The mean of per-problem values in [0, 1] with a 95% interval. When every value is
/// 0 or 1 the mean is a proportion and gets the Wilson interval (sensible at 0% and
/// 100% too); otherwise mean ± 1.96 standard errors over problems (problems are the
/// unit that is sampled, so samples of one problem are not counted as independent),
/// clipped to [0, 1].
pub fn mean_estimate(values: &[f64]) -> Estimate {
    let n = values.len();
    if n == 0 {
        return Estimate {
            value: 0.0,
            ci95: [0.0, 1.0],
        };
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if values.iter().all(|&v| v == 0.0 || v == 1.0) {
        return Estimate {
            value: mean,
            ci95: wilson(mean * n as f64, n),
        };
    }
    let var = if n > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    let half = Z95 * (var / n as f64).sqrt();
    Estimate {
        value: mean,
        ci95: [(mean - half).max(0.0), (mean + half).min(1.0)],
    }
}

/// A proportion over `n` units with its Wilson interval.
pub fn proportion(successes: usize, n: usize) -> Estimate {
    Estimate {
        value: if n == 0 {
            0.0
        } else {
            successes as f64 / n as f64
        },
        ci95: wilson(successes as f64, n),
    }
}

/// Ranks with ties sharing their mean rank (1-based).
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            r[o] = mean_rank;
        }
        i = j + 1;
    }
    r
}

/// Pearson correlation; `None` when either side is constant or there are fewer than
/// two points.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (dx, dy) = (x[i] - mx, y[i] - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Spearman's rank correlation (Pearson on mid-ranks, so ties are handled).
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    pearson(&ranks(x), &ranks(y))
}

/// Kendall's tau-b, which corrects for ties on either side.
pub fn kendall(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    let (mut concordant, mut discordant, mut tie_x, mut tie_y) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let dx = x[i] - x[j];
            let dy = y[i] - y[j];
            if dx == 0.0 && dy == 0.0 {
                continue;
            } else if dx == 0.0 {
                tie_x += 1;
            } else if dy == 0.0 {
                tie_y += 1;
            } else if (dx > 0.0) == (dy > 0.0) {
                concordant += 1;
            } else {
                discordant += 1;
            }
        }
    }
    let n1 = (concordant + discordant + tie_x) as f64;
    let n2 = (concordant + discordant + tie_y) as f64;
    (n1 > 0.0 && n2 > 0.0).then(|| (concordant - discordant) as f64 / (n1 * n2).sqrt())
}

/// The values of k reported for K samples: 1, 2, 4, … up to K, and K itself.
pub fn ks(samples: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut k = 1;
    while k < samples {
        out.push(k);
        k *= 2;
    }
    if samples > 0 {
        out.push(samples);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn pass_at_k_matches_the_combinatorial_formula() {
        // n = 8, c = 2: pass@1 = 2/8; pass@2 = 1 - C(6,2)/C(8,2) = 1 - 15/28.
        assert!(close(pass_at_k(8, 2, 1), 0.25));
        assert!(close(pass_at_k(8, 2, 2), 1.0 - 15.0 / 28.0));
        assert!(close(pass_at_k(8, 0, 4), 0.0));
        assert!(close(pass_at_k(8, 7, 2), 1.0));
        assert!(close(pass_at_k(4, 1, 9), 1.0), "k clamps to n");
        assert!(close(pass_at_k(1000, 1, 1), 0.001));
    }

    #[test]
    fn intervals_contain_the_value_and_shrink_with_n() {
        let small = proportion(3, 10);
        let large = proportion(300, 1000);
        assert!(small.ci95[0] < 0.3 && 0.3 < small.ci95[1]);
        assert!(large.ci95[1] - large.ci95[0] < small.ci95[1] - small.ci95[0]);
        // Wilson at 0 of 20: [0, ~0.161].
        let zero = proportion(0, 20);
        assert!(zero.ci95[0] == 0.0 && (zero.ci95[1] - 0.1611).abs() < 1e-3);
        let m = mean_estimate(&[0.5, 0.25, 0.75, 0.5]);
        assert!(close(m.value, 0.5) && m.ci95[0] < 0.5 && m.ci95[1] > 0.5);
    }

    #[test]
    fn rank_correlations() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [2.0, 4.0, 6.0, 8.0, 100.0];
        assert!(close(spearman(&x, &y).unwrap(), 1.0));
        assert!(close(kendall(&x, &y).unwrap(), 1.0));
        let rev: Vec<f64> = y.iter().rev().copied().collect();
        assert!(close(kendall(&x, &rev).unwrap(), -1.0));
        // Ties: x = [1,1,2], y = [1,2,3]: tau-b = 2 / sqrt(2 * 3).
        assert!(close(
            kendall(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]).unwrap(),
            2.0 / 6f64.sqrt()
        ));
        assert!(spearman(&[1.0, 1.0], &[1.0, 2.0]).is_none());
        assert_eq!(ks(8), vec![1, 2, 4, 8]);
        assert_eq!(ks(6), vec![1, 2, 4, 6]);
        assert_eq!(ks(1), vec![1]);
    }
}
