//! The search's settings as command-line flags, defined once beside
//! [`SearchConfig`]: every flag left out keeps the preset's value. With the `clap`
//! feature [`SearchFlags`] is a `clap::Args` that commands flatten (`verimath prove`);
//! it also reads from JSON with the same names in snake case (the server's prove
//! jobs), a duration as seconds and `pass_mean` as a number or `"off"`.

use crate::config::SearchConfig;
use std::time::Duration;

/// Changes to a preset, one per setting of [`SearchConfig`] a user may set.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct SearchFlags {
    /// Initial proofs per problem.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub proofs: Option<u32>,
    /// Verifications of every proof.
    #[cfg_attr(feature = "clap", arg(long, value_name = "M"))]
    pub verifications: Option<u32>,
    /// Proofs refined per round (the best by mean verification score).
    #[cfg_attr(feature = "clap", arg(long, value_name = "K"))]
    pub refine: Option<u32>,
    /// Critiques shown with each refined proof.
    #[cfg_attr(feature = "clap", arg(long, value_name = "C"))]
    pub critiques: Option<u32>,
    /// Of those, at most this many with any one score [default: 4, as released].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub critiques_per_score: Option<u32>,
    /// Remove <think>…</think> reasoning from critiques shown to the refiner
    /// [default: true].
    #[cfg_attr(feature = "clap", arg(long, value_name = "BOOL"))]
    pub strip_think: Option<bool>,
    /// Refinement rounds after the first.
    #[cfg_attr(feature = "clap", arg(long, value_name = "R"))]
    pub rounds: Option<u32>,
    /// Judge critiques with the meta-verifier; unreasonable ones are set aside.
    #[cfg_attr(feature = "clap", arg(long))]
    pub meta: bool,
    /// With --meta, judge only verifications scoring at most this [default: 0.75].
    #[cfg_attr(feature = "clap", arg(long, value_name = "SCORE"))]
    pub meta_max_score: Option<f64>,
    /// A proof also passes once all its verifications are in and their mean exceeds
    /// this; `off` keeps only "every verification passed" [default: 0.99999].
    #[cfg_attr(feature = "clap", arg(long, value_name = "MEAN|off", value_parser = parse_pass_mean))]
    pub pass_mean: Option<PassMean>,
    /// Stop a problem as soon as a proof passes; `false` finishes the round first, so
    /// the run records every planned verification (for `bench search --replay`)
    /// [default: true].
    #[cfg_attr(feature = "clap", arg(long, value_name = "BOOL"))]
    pub stop_on_pass: Option<bool>,
    /// Verify in waves and stop verifying a proof once it can no longer pass nor
    /// reach the best ranks.
    #[cfg_attr(feature = "clap", arg(long))]
    pub adaptive: bool,
    /// Verifications per wave with --adaptive [default: 8].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub wave: Option<u32>,
    /// With --adaptive, a stopped proof whose mean could still cross the best proof's
    /// (or the refinement cut's) within this many standard errors gets another wave
    /// [default: 1].
    #[cfg_attr(feature = "clap", arg(long, value_name = "Z", value_parser = parse_z))]
    pub adaptive_z: Option<f64>,
    /// Token limit per sample.
    #[cfg_attr(feature = "clap", arg(long, value_name = "T"))]
    pub max_tokens: Option<u32>,
    /// Token budget of the whole run (prompt + completion).
    #[cfg_attr(feature = "clap", arg(long, value_name = "T"))]
    pub max_total_tokens: Option<u64>,
    /// Wall-clock limit: seconds, or a number with s, m or h.
    #[cfg_attr(feature = "clap", arg(long, value_name = "TIME", value_parser = parse_duration))]
    #[serde(deserialize_with = "seconds")]
    pub time_limit: Option<Duration>,
    /// Requests in flight at once.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub concurrency: Option<usize>,
    /// Most samples asked for in one request (`n`).
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub batch: Option<u32>,
    /// Sampling temperature.
    #[cfg_attr(feature = "clap", arg(long))]
    pub temperature: Option<f32>,
    /// Verify and refine proofs that break the output protocol too (they never pass).
    /// Default: true in the quick preset, false in the heavy one.
    #[cfg_attr(feature = "clap", arg(long, value_name = "BOOL"))]
    pub verify_unparsable: Option<bool>,
}

/// The value of `--pass-mean`: a bar, or none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PassMean(pub Option<f64>);

impl<'de> serde::Deserialize<'de> for PassMean {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PassMean, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Given {
            Bar(f64),
            Word(String),
        }
        let text = match Given::deserialize(d)? {
            Given::Bar(v) => v.to_string(),
            Given::Word(w) => w,
        };
        parse_pass_mean(&text).map_err(serde::de::Error::custom)
    }
}

/// A duration given in JSON as a number of seconds.
fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let secs: Option<f64> = serde::Deserialize::deserialize(d)?;
    secs.map(|s| {
        Duration::try_from_secs_f64(s)
            .map_err(|_| serde::de::Error::custom(format!("{s} is not a number of seconds")))
    })
    .transpose()
}

impl SearchFlags {
    /// `cfg` with every given flag applied.
    pub fn apply(&self, mut c: SearchConfig) -> SearchConfig {
        fn set<T: Copy>(slot: &mut T, v: Option<T>) {
            if let Some(v) = v {
                *slot = v;
            }
        }
        set(&mut c.proofs, self.proofs);
        set(&mut c.verifications, self.verifications);
        set(&mut c.refine, self.refine);
        set(&mut c.critiques, self.critiques);
        set(&mut c.critiques_per_score, self.critiques_per_score);
        set(&mut c.strip_think, self.strip_think);
        set(&mut c.rounds, self.rounds);
        c.meta |= self.meta;
        set(&mut c.meta_max_score, self.meta_max_score);
        if let Some(PassMean(bar)) = self.pass_mean {
            c.pass_mean = bar;
        }
        set(&mut c.stop_on_pass, self.stop_on_pass);
        c.adaptive |= self.adaptive;
        set(&mut c.wave, self.wave);
        set(&mut c.adaptive_z, self.adaptive_z);
        c.max_tokens = self.max_tokens.or(c.max_tokens);
        c.max_total_tokens = self.max_total_tokens.or(c.max_total_tokens);
        c.time_limit = self.time_limit.or(c.time_limit);
        set(&mut c.concurrency, self.concurrency);
        set(&mut c.batch, self.batch);
        set(&mut c.temperature, self.temperature);
        set(&mut c.verify_unparsable, self.verify_unparsable);
        c
    }
}

/// `--pass-mean`: a mean score between 0 and 1, or `off`.
pub fn parse_pass_mean(s: &str) -> Result<PassMean, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(PassMean(None));
    }
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(PassMean(Some(v))),
        _ => Err(format!("`{s}` is not a mean score between 0 and 1, or off")),
    }
}

/// `--adaptive-z`: a number of standard errors, 0 or more.
pub fn parse_z(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(z) if z.is_finite() && z >= 0.0 => Ok(z),
        _ => Err(format!(
            "`{s}` is not a number of standard errors (0 or more)"
        )),
    }
}

/// A duration given as seconds, or a number with `s`, `m` or `h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, 's'),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (try 90, 90s, 15m or 2h)"))?;
    let secs = match unit {
        's' => v,
        'm' => v * 60.0,
        'h' => v * 3600.0,
        _ => return Err(format!("unknown unit in {s:?}: use s, m or h")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{s:?} is not a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Preset;

    #[test]
    fn given_flags_change_the_preset_and_the_rest_stays() {
        let flags = SearchFlags {
            proofs: Some(3),
            meta: true,
            pass_mean: Some(PassMean(None)),
            time_limit: Some(Duration::from_secs(60)),
            ..SearchFlags::default()
        };
        let c = flags.apply(Preset::Quick.config());
        let quick = Preset::Quick.config();
        assert_eq!((c.proofs, c.meta, c.pass_mean), (3, true, None));
        assert_eq!(c.time_limit, Some(Duration::from_secs(60)));
        assert_eq!(
            (c.verifications, c.rounds),
            (quick.verifications, quick.rounds)
        );
        assert_eq!(SearchFlags::default().apply(quick.clone()), quick);
    }

    #[test]
    fn values_parse_or_say_why_not() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("2x").is_err() && parse_duration("-1").is_err());
        assert_eq!(parse_pass_mean("off").unwrap(), PassMean(None));
        assert_eq!(parse_pass_mean("0.9").unwrap(), PassMean(Some(0.9)));
        assert!(parse_pass_mean("1.5").is_err());
        assert_eq!(parse_z("1.5").unwrap(), 1.5);
        assert!(parse_z("-1").is_err() && parse_z("inf").is_err() && parse_z("x").is_err());
    }

    #[test]
    fn json_uses_the_same_names() {
        let flags: SearchFlags = serde_json::from_str(
            r#"{"proofs": 2, "adaptive": true, "wave": 4, "time_limit": 90, "pass_mean": "off"}"#,
        )
        .expect("parses");
        let c = flags.apply(Preset::Quick.config());
        assert_eq!((c.proofs, c.adaptive, c.wave), (2, true, 4));
        assert_eq!(
            (c.time_limit, c.pass_mean),
            (Some(Duration::from_secs(90)), None)
        );
        let bar: SearchFlags = serde_json::from_str(r#"{"pass_mean": 0.5}"#).expect("parses");
        assert_eq!(bar.pass_mean, Some(PassMean(Some(0.5))));
        for bad in [
            r#"{"proof": 2}"#,
            r#"{"proofs": -1}"#,
            r#"{"pass_mean": 2}"#,
            r#"{"meta": "yes"}"#,
        ] {
            assert!(serde_json::from_str::<SearchFlags>(bad).is_err(), "{bad}");
        }
    }
}
