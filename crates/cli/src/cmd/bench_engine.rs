//! `verimath bench engine`: local engine speed, optionally against llama.cpp.
//!
//! Measures, in several rounds (medians printed): prompt processing tokens/s on a
//! ~512-token prompt; decode tokens/s of one sequence; aggregate decode tokens/s of 4,
//! 16 and 64 sequences (64: the paper's verifications per proof) sharing a 128-token
//! prompt (prefilled once); and the peak resident memory of each engine's process.
//! Decoding is greedy on a prose prompt, so both engines do the same work (only an
//! end-of-text token, which such a prompt makes unlikely, would end one of our
//! sequences early). With `--reference PYTHON` (a Python with llama-cpp-python, see
//! scripts/install-bench-reference.sh) each round of ours is followed by one of
//! llama.cpp on prompts of the same lengths, in a process of its own, through its
//! low-level batch API with the prompt shared by all sequences; the ratio printed is
//! the median of the rounds' ratios, so drift in the machine's speed over the run
//! (these machines are shared) moves both sides of a ratio alike.
//!
//! Every run of ours starts from a prompt of its own (a numbered passage), so the
//! prompt cache never serves a measurement it should not. One more figure measures
//! the cache itself: the prompt time of a request sharing its first 1,500 tokens with
//! the one before, as a share of that first request's prompt time. `--profile` adds
//! where the time goes, by operation (each matrix product by tensor role and type,
//! attention, the rest).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use engine::backend::default_model_path;
use engine::generate::{load_engine, GenerateRequest, LoadOptions, LoadedModel};
use engine::profile;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Flags of this command.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// GGUF model file [default: $VERIMATH_MODEL, else the installed default model].
    #[arg(long)]
    model: Option<PathBuf>,
    /// A Python interpreter with llama-cpp-python to measure llama.cpp in the same run.
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Rounds: each runs every measurement once on each engine (ours, then
    /// llama.cpp's); medians are reported.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Tokens generated per sequence in the decode measurements.
    #[arg(long, default_value_t = 32)]
    decode_tokens: usize,
    /// Threads llama.cpp uses (verimath uses its own thread pool).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Also print where the time goes, by operation, in a 512-token prefill and in
    /// decoding one sequence and 16.
    #[arg(long)]
    profile: bool,
}

const LONG_PROMPT_TOKENS: usize = 512;
const SHARED_PROMPT_TOKENS: usize = 128;
const SEQUENCES: [usize; 4] = [1, 4, 16, 64];
/// Sequences of the profiled batched decode (one sequence is profiled too).
const PROFILE_SEQUENCES: usize = 16;
/// Leading tokens two prompts share in the prompt-cache measurement.
const CACHED_PREFIX_TOKENS: usize = 1500;
/// Context per sequence: room for the longest prompt and the decoded tokens.
const CONTEXT: usize = 2048;
const BATCH: usize = 512;

/// Source text for the prompts: ordinary prose, repeated until long enough.
const PROSE: &str = "The history of mathematics is the story of people asking what can be \
known for certain. Early counting systems recorded trade and harvests; geometry grew \
from measuring fields after floods; algebra arose from problems of inheritance and \
commerce. Over centuries, mathematicians learned to state assumptions plainly and to \
derive every claim from them, so that a proof convinces anyone who checks each step. ";

pub fn run(args: Args) -> anyhow::Result<i32> {
    if args.repeats == 0 || args.decode_tokens < 2 {
        bail!("--repeats must be at least 1 and --decode-tokens at least 2");
    }
    let path = args.model.clone().unwrap_or_else(default_model_path);
    if !path.exists() {
        bail!(
            "model file {} not found: pass --model PATH or install the default model with scripts/setup.sh",
            path.display()
        );
    }
    let options = LoadOptions {
        slots: *SEQUENCES.iter().max().unwrap_or(&16),
        context: CONTEXT,
        ..LoadOptions::default()
    };
    let m = load_engine(&path, options).with_context(|| format!("loading {}", path.display()))?;
    let long_prompt = prompt_tokens(&m, LONG_PROMPT_TOKENS, 0);
    let short_prompt = prompt_tokens(&m, SHARED_PROMPT_TOKENS, 0);
    eprintln!(
        "model {} ({}), {} rounds, {} decoded tokens per sequence",
        path.display(),
        m.config.architecture,
        args.repeats,
        args.decode_tokens
    );

    // Warm-up: page the weights in so the first measurement is not a disk read.
    m.engine
        .generate(GenerateRequest::greedy(prompt_tokens(&m, 16, 9999), 2))?;

    // Rounds alternate between the engines, so a machine whose speed drifts during
    // the run (these are shared machines) moves both sides of a round alike; each
    // ratio printed is the median of the rounds' own ratios.
    let mut ours = Figures::default();
    let mut theirs = args.reference.as_ref().map(|_| Figures::default());
    for r in 0..args.repeats {
        measure_round(&m, r, args.decode_tokens, &mut ours)?;
        if let (Some(python), Some(theirs)) = (&args.reference, theirs.as_mut()) {
            let round = run_reference(python, &path, &args, &long_prompt, &short_prompt, r == 0)?;
            theirs.add_round(round);
        }
    }
    let mut cached = 0;
    for r in 0..args.repeats {
        let prefix = prompt_tokens(&m, CACHED_PREFIX_TOKENS, 1000 + r);
        let ask = |question: &str| {
            let tail = m.tokenizer.encode(question, false, false);
            GenerateRequest::greedy([prefix.clone(), tail].concat(), 1)
        };
        let first = m
            .engine
            .generate(ask(" Question: who measured the fields?"))?;
        let second = m
            .engine
            .generate(ask(" Question: where did algebra come from?"))?;
        cached = second.timings.cached_prompt_tokens;
        ours.reuse.push(
            second.timings.prompt_time.as_secs_f64() / first.timings.prompt_time.as_secs_f64(),
        );
    }
    ours.peak_memory = peak_memory();
    ours.cache_per_token = Some(m.cache_bytes_per_token as u64);
    let profiles = if args.profile {
        Some(profile_runs(&m, args.decode_tokens)?)
    } else {
        None
    };
    drop(m);

    print_table(
        &ours,
        theirs.as_ref(),
        long_prompt.len(),
        short_prompt.len(),
    );
    println!(
        "prompt cache: a prompt sharing its first {cached} tokens with the previous one takes {:.1}% of its prompt time (median)",
        100.0 * median(&ours.reuse)
    );
    if let Some(profiles) = profiles {
        for (title, table) in profiles {
            print_profile(&title, &table);
        }
    }
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        // Other work on the machine skews both sides; the load puts figures in context.
        let avg: Vec<&str> = load.split_whitespace().take(3).collect();
        println!("load average at the end: {}", avg.join(" "));
    }
    Ok(0)
}

/// One round of our measurements: the long prompt, then decoding each number of
/// sequences; prompts are new each round so the prompt cache serves none of them.
fn measure_round(
    m: &LoadedModel,
    round: usize,
    decode_tokens: usize,
    ours: &mut Figures,
) -> anyhow::Result<()> {
    let prompt = prompt_tokens(m, LONG_PROMPT_TOKENS, 1 + round);
    let out = m.engine.generate(GenerateRequest::greedy(prompt, 1))?;
    ours.prompt.push(out.timings.prompt_tokens_per_s());
    for (i, &n) in SEQUENCES.iter().enumerate() {
        let prompt = prompt_tokens(m, SHARED_PROMPT_TOKENS, 100 * (i + 1) + round);
        let mut request = GenerateRequest::greedy(prompt, decode_tokens);
        request.n = n;
        let out = m.engine.generate(request)?;
        ours.decode[i].push(out.timings.decode_tokens_per_s());
    }
    Ok(())
}

/// One profiled prefill and profiled decodes of one and of 16 sequences, each with
/// its table.
fn profile_runs(
    m: &LoadedModel,
    decode_tokens: usize,
) -> anyhow::Result<Vec<(String, BTreeMap<String, profile::Entry>)>> {
    let mut out = Vec::new();
    profile::take();
    profile::enable(true);
    let prompt = prompt_tokens(m, LONG_PROMPT_TOKENS, 7777);
    m.engine.generate(GenerateRequest::greedy(prompt, 1))?;
    out.push((
        format!("prefill of a {LONG_PROMPT_TOKENS}-token prompt"),
        profile::take(),
    ));
    // One sequence gets a short prompt, so that its table is nearly all decoding.
    for (n, prompt_len) in [(1, 8), (PROFILE_SEQUENCES, SHARED_PROMPT_TOKENS)] {
        let mut request =
            GenerateRequest::greedy(prompt_tokens(m, prompt_len, 8888), decode_tokens);
        request.n = n;
        let start = std::time::Instant::now();
        m.engine.generate(request)?;
        let wall = start.elapsed().as_secs_f64();
        // The prompt's own prefill pass is in there too; it is small next to the decode.
        let seqs = if n == 1 { "sequence" } else { "sequences" };
        out.push((
            format!(
                "{n} {seqs}: a prompt of {prompt_len} tokens, then {decode_tokens} decode \
                 steps, {:.0} ms in all",
                1e3 * wall
            ),
            profile::take(),
        ));
    }
    profile::enable(false);
    Ok(out)
}

fn print_profile(title: &str, table: &BTreeMap<String, profile::Entry>) {
    let total = table.get("forward").map_or(0.0, |e| e.time.as_secs_f64());
    let mut rows: Vec<(&String, &profile::Entry)> =
        table.iter().filter(|(k, _)| *k != "forward").collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1.time));
    let accounted: f64 = rows.iter().map(|(_, e)| e.time.as_secs_f64()).sum();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\nprofile: {title} ({:.0} ms in forward passes)",
        1e3 * total
    );
    let _ = writeln!(
        out,
        "{:<32} {:>10} {:>7} {:>8} {:>9}",
        "operation", "ms", "share", "calls", "GFLOP/s"
    );
    let share = |t: f64| if total > 0.0 { 100.0 * t / total } else { 0.0 };
    for (op, e) in rows {
        let t = e.time.as_secs_f64();
        let gflops = if t > 0.0 && e.flops > 0.0 {
            format!("{:.1}", e.flops / t / 1e9)
        } else {
            "-".into()
        };
        let _ = writeln!(
            out,
            "{op:<32} {:>10.1} {:>6.1}% {:>8} {gflops:>9}",
            1e3 * t,
            share(t),
            e.calls
        );
    }
    let other = (total - accounted).max(0.0);
    let _ = writeln!(
        out,
        "{:<32} {:>10.1} {:>6.1}%",
        "other (embedding, residual adds, copies)",
        1e3 * other,
        share(other)
    );
}

/// `len` token ids of prose, starting with BOS when the model wants one; prompts of
/// different `variant`s share nothing after BOS.
fn prompt_tokens(m: &LoadedModel, len: usize, variant: usize) -> Vec<u32> {
    let text = format!("Passage {variant}. {}", PROSE.repeat(len / 8 + 1));
    let mut ids = m.tokenizer.encode(&text, true, false);
    ids.truncate(len);
    ids
}

#[derive(Default)]
struct Figures {
    prompt: Vec<f64>,
    decode: [Vec<f64>; SEQUENCES.len()],
    /// Peak resident memory of the process, in bytes.
    peak_memory: Option<u64>,
    /// Key/value cache bytes per cached token of one sequence.
    cache_per_token: Option<u64>,
    /// Prompt time of a request whose prefix is cached, over the first one's.
    reuse: Vec<f64>,
}

impl Figures {
    /// Appends another round's runs; memory figures keep the largest seen.
    fn add_round(&mut self, round: Figures) {
        self.prompt.extend(round.prompt);
        for (mine, more) in self.decode.iter_mut().zip(round.decode) {
            mine.extend(more);
        }
        self.peak_memory = self.peak_memory.max(round.peak_memory);
        self.cache_per_token = self.cache_per_token.or(round.cache_per_token);
        self.reuse.extend(round.reuse);
    }
}

/// The median of the ratios of runs paired in order (round by round).
fn paired_ratio(ours: &[f64], theirs: &[f64]) -> f64 {
    let ratios: Vec<f64> = ours.iter().zip(theirs).map(|(a, b)| a / b).collect();
    median(&ratios)
}

fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// One printed line: what was measured, our runs, llama.cpp's runs.
type Row<'a> = (String, &'a Vec<f64>, Option<&'a Vec<f64>>);

fn print_table(ours: &Figures, reference: Option<&Figures>, long: usize, short: usize) {
    let rows: Vec<Row> = std::iter::once((
        format!("prompt tokens/s ({long}-token prompt)"),
        &ours.prompt,
        reference.map(|r| &r.prompt),
    ))
    .chain(SEQUENCES.iter().enumerate().map(|(i, n)| {
        let what = if *n == 1 {
            "decode tokens/s, 1 sequence".to_string()
        } else {
            format!("decode tokens/s, {n} sequences (aggregate, shared {short}-token prompt)")
        };
        (what, &ours.decode[i], reference.map(|r| &r.decode[i]))
    }))
    .collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<66} {:>10} {:>10} {:>7}",
        "median of rounds (ratio: median of the rounds' ratios)", "verimath", "llama.cpp", "ratio"
    );
    for (what, ours, theirs) in rows {
        let a = median(ours);
        match theirs {
            Some(t) => {
                let (b, ratio) = (median(t), paired_ratio(ours, t));
                let _ = writeln!(out, "{what:<66} {a:>10.1} {b:>10.1} {ratio:>7.2}");
            }
            None => {
                let _ = writeln!(out, "{what:<66} {a:>10.1} {:>10} {:>7}", "-", "-");
            }
        }
    }
    let mb = |b: Option<u64>| b.map_or("-".to_string(), |b| format!("{:.0}", b as f64 / 1e6));
    let theirs = reference.and_then(|r| r.peak_memory);
    let ratio = match (ours.peak_memory, theirs) {
        (Some(a), Some(b)) if b > 0 => format!("{:.2}", a as f64 / b as f64),
        _ => "-".into(),
    };
    let _ = writeln!(
        out,
        "{:<66} {:>10} {:>10} {ratio:>7}",
        "peak resident memory (MB, whole process)",
        mb(ours.peak_memory),
        mb(theirs)
    );
    let theirs = reference.and_then(|r| r.cache_per_token);
    let show = |b: Option<u64>| b.map_or("-".to_string(), |b| b.to_string());
    let ratio = match (ours.cache_per_token, theirs) {
        (Some(a), Some(b)) if b > 0 => format!("{:.2}", a as f64 / b as f64),
        _ => "-".into(),
    };
    let _ = writeln!(
        out,
        "{:<66} {:>10} {:>10} {ratio:>7}",
        "key/value cache bytes per token of one sequence",
        show(ours.cache_per_token),
        show(theirs)
    );
}

/// The process's peak resident memory (Linux: `VmHWM` in /proc/self/status).
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// One round of llama.cpp through the embedded script, with the same prompts and
/// sizes, in a process of its own.
fn run_reference(
    python: &PathBuf,
    model: &std::path::Path,
    args: &Args,
    long_prompt: &[u32],
    short_prompt: &[u32],
    announce: bool,
) -> anyhow::Result<Figures> {
    let dir = std::env::temp_dir().join(format!("verimath-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("llama_cpp_reference.py");
    std::fs::write(&script, REFERENCE_SCRIPT)?;
    let job = json!({
        "model": model.to_string_lossy(),
        "context": CONTEXT * 2,
        "batch": BATCH,
        "threads": args.threads,
        "seqs": SEQUENCES,
        "repeats": 1,
        "decode_tokens": args.decode_tokens,
        "long_prompt": long_prompt,
        "short_prompt": short_prompt,
    });
    // llama.cpp's OpenMP threads spin while waiting; on a busy machine that costs it
    // far more than it gains (OMP_WAIT_POLICY=passive avoids it). Say which applied.
    let policy = std::env::var("OMP_WAIT_POLICY").unwrap_or_else(|_| "unset (spinning)".into());
    if announce {
        eprintln!(
            "llama.cpp: {}, {} threads, OMP_WAIT_POLICY {policy}; one round each after ours",
            python.display(),
            args.threads
        );
    }
    let mut child = Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", python.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(job.to_string().as_bytes())?;
    }
    let output = child.wait_with_output()?;
    let _ = std::fs::remove_dir_all(&dir);
    if !output.status.success() {
        bail!(
            "the llama.cpp reference failed ({}): {}\nis llama-cpp-python installed? run scripts/install-bench-reference.sh",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let v: Value = serde_json::from_slice(&output.stdout)
        .context("the llama.cpp reference printed no valid JSON")?;
    let list = |x: &Value| -> Vec<f64> {
        x.as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let mut figures = Figures {
        prompt: list(&v["prompt"]),
        peak_memory: v["peak_memory"].as_u64(),
        cache_per_token: v["cache_per_token"].as_u64(),
        ..Figures::default()
    };
    for (i, n) in SEQUENCES.iter().enumerate() {
        figures.decode[i] = list(&v["decode"][n.to_string()]);
    }
    Ok(figures)
}

/// The llama.cpp side, run by `--reference` Python. Kept in the binary so the
/// benchmark needs no files next to it.
const REFERENCE_SCRIPT: &str = r#"# llama.cpp reference for `verimath bench engine`: the same measurements on the same
# GGUF through llama-cpp-python's low-level bindings. Reads a JSON job on stdin,
# prints one JSON object with the runs on stdout.
import ctypes, json, sys, time
import numpy as np
import llama_cpp as L

job = json.load(sys.stdin)
# Keep llama.cpp's log out of the output (it is read for the cache size); the callback
# object must outlive every call into the library.
log = []
_quiet = L.llama_log_callback(lambda level, text, data: log.append(text.decode(errors="replace")))
L.llama_log_set(_quiet, ctypes.c_void_p(0))
L.llama_backend_init()
mp = L.llama_model_default_params()
model = L.llama_model_load_from_file(job["model"].encode(), mp)
if not model:
    sys.exit("llama.cpp could not load " + job["model"])
max_seqs = max(job["seqs"])
cp = L.llama_context_default_params()
cp.n_ctx = job["context"]
cp.n_batch = cp.n_ubatch = job["batch"]
cp.n_seq_max = max_seqs
cp.n_threads = cp.n_threads_batch = job["threads"]
# One KV buffer for all sequences, so a prompt token can belong to every sequence:
# the prompt is stored once and shared, as in llama.cpp's batched example.
cp.kv_unified = True
ctx = L.llama_init_from_model(model, cp)
if not ctx:
    sys.exit("llama.cpp could not create a context")
n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
mem = L.llama_get_memory(ctx)
batch = L.llama_batch_init(max(job["batch"], max_seqs), 0, max_seqs)

def run(entries):
    """entries: (token, pos, seq ids, wants logits). Returns the argmax of each row."""
    batch.n_tokens = len(entries)
    rows = []
    for i, (tok, pos, seqs, logits) in enumerate(entries):
        batch.token[i] = tok
        batch.pos[i] = pos
        batch.n_seq_id[i] = len(seqs)
        for j, s in enumerate(seqs):
            batch.seq_id[i][j] = s
        batch.logits[i] = logits
        if logits:
            rows.append(i)
    if L.llama_decode(ctx, batch) != 0:
        sys.exit("llama_decode failed")
    out = []
    for i in rows:
        ptr = L.llama_get_logits_ith(ctx, i)
        out.append(int(np.ctypeslib.as_array(ptr, shape=(n_vocab,)).argmax()))
    return out

def prefill(tokens, seqs):
    """Feed a prompt to the given sequences; returns the first greedy token."""
    first = None
    for start in range(0, len(tokens), job["batch"]):
        chunk = tokens[start:start + job["batch"]]
        entries = [(t, start + k, seqs, start + k == len(tokens) - 1) for k, t in enumerate(chunk)]
        got = run(entries)
        if got:
            first = got[0]
    return first

result = {"prompt": [], "decode": {}, "peak_memory": None, "cache_per_token": None}
# llama.cpp logs its cache as "size = X MiB (N cells, ...)": bytes per cell is per token.
import re
sizes = re.findall(r"size =\s*([0-9.]+) MiB \(\s*([0-9]+) cells", "".join(log))
if sizes:
    result["cache_per_token"] = round(sum(float(mib) * 2**20 / int(cells) for mib, cells in sizes))
for _ in range(job["repeats"]):
    L.llama_memory_clear(mem, True)
    t0 = time.perf_counter()
    prefill(job["long_prompt"], [0])
    result["prompt"].append(len(job["long_prompt"]) / (time.perf_counter() - t0))
for n in job["seqs"]:
    runs = []
    for _ in range(job["repeats"]):
        L.llama_memory_clear(mem, True)
        prompt = job["short_prompt"]
        first = prefill(prompt, list(range(n)))
        last = [first] * n
        steps = job["decode_tokens"] - 1
        t0 = time.perf_counter()
        for step in range(steps):
            pos = len(prompt) + step
            last = run([(last[s], pos, [s], True) for s in range(n)])
        runs.append(n * steps / (time.perf_counter() - t0))
    result["decode"][str(n)] = runs
# VmHWM is this process's own peak (ru_maxrss would include the parent's, from fork).
with open("/proc/self/status") as f:
    for line in f:
        if line.startswith("VmHWM:"):
            result["peak_memory"] = int(line.split()[1]) * 1024
print(json.dumps(result))
"#;
