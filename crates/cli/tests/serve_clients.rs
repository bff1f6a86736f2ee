//! `verimath serve` as users reach it: the official `openai` Python client against the
//! OpenAI API on the test model, and the web UI in headless Chromium rendering a live
//! proof-search job (run against the scripted OpenAI server) with KaTeX.
//!
//! Both tools come from `scripts/setup.sh` (`.venv-openai`, Debian's `chromium`); a
//! missing tool fails the test rather than skipping it.

use scripted_server::{Reply, ScriptedServer, ServerOptions};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `verimath serve`; killed on drop.
struct Serve {
    child: Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the binary on port 0 and read its address from the line it prints.
fn serve(args: &[&str]) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_verimath"))
        .arg("serve")
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start verimath serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let started = Instant::now();
    let base = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .expect("read stderr");
        if let Some(rest) = line.strip_prefix("verimath serving on ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "serve never listened"
        );
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Serve { child, base }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_openai_python_client_talks_to_serve() {
    let python = repo().join(".venv-openai/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/setup.sh (it installs the openai client)",
        python.display()
    );
    let model = engine::test_model_path();
    assert!(model.exists(), "test model missing at {}", model.display());
    let dir = tempfile::tempdir().expect("tempdir");
    let s = serve(&[
        "--model",
        model.to_str().unwrap(),
        "--run-dir",
        dir.path().to_str().unwrap(),
    ]);
    let out = Command::new(&python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/openai_client.py"))
        .arg(format!("{}/v1", s.base))
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("bad request raised 400"), "{stdout}");
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}");
    // The server is still serving.
    let health = reqwest::blocking::get(format!("{}/health", s.base)).expect("health");
    assert_eq!(health.status().as_u16(), 200);
}

#[test]
fn the_web_ui_renders_a_live_job_with_katex() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("chromium missing: run scripts/setup.sh (it installs Debian's chromium)");
    let vendor = repo().join("crates/server/ui/vendor/katex.min.js");
    assert!(
        vendor.exists(),
        "UI libraries missing: run scripts/setup.sh"
    );
    // Slow enough answers that the page opens while the search is still running.
    let backend = ScriptedServer::start_blocking(ServerOptions::default(), |req| {
        let reply = if req.last_user().contains("You are grading a proof") {
            Reply::text("The step $n^2 = 4k^2+4k+1$ is right.\n\nFinal score: \\boxed{1}")
        } else {
            Reply::text(
                "## Solution\nLet $n = 2k+1$. Then $$n^2 = 4k^2 + 4k + 1 = 2(2k^2+2k) + 1,$$ which is odd.\n\n\
                 ## Self Evaluation\nComplete. \\boxed{1}",
            )
        };
        reply.delay(Duration::from_millis(400))
    })
    .expect("backend");
    let dir = tempfile::tempdir().expect("tempdir");
    let s = serve(&[
        "--backend",
        &backend.base_url(),
        "--model",
        "m",
        "--retries",
        "0",
        "--run-dir",
        dir.path().to_str().unwrap(),
    ]);
    let client = reqwest::blocking::Client::new();
    let job: serde_json::Value = client
        .post(format!("{}/api/prove", s.base))
        .header("content-type", "application/json")
        .body(r#"{"problem": "Prove that $n^2$ is odd for odd $n$.", "proofs": 2, "verifications": 3, "rounds": 0}"#)
        .send()
        .and_then(|r| r.json())
        .expect("submit");
    let id = job["id"].as_str().expect("id").to_string();
    let status = |c: &reqwest::blocking::Client| -> serde_json::Value {
        c.get(format!("{}/api/jobs/{id}", s.base))
            .send()
            .and_then(|r| r.json())
            .expect("job")
    };
    let before = status(&client);
    assert_eq!(
        before["state"], "running",
        "the page must open on a running job"
    );
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.path().display()),
            "--virtual-time-budget=15000",
            "--dump-dom",
            &format!("{}/jobs/{id}#best", s.base),
        ])
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    let after = status(&client);
    assert_eq!(after["state"], "done", "{after}");
    // The page shows the finished search: it followed the event stream after it
    // opened on a running job.
    assert!(
        dom.contains("state-done"),
        "page did not update to done:\n{dom}"
    );
    assert!(dom.matches("class=\"card").count() >= 2, "two proof cards");
    assert!(dom.contains("class=\"katex\""), "LaTeX rendered by KaTeX");
    assert!(dom.contains("passed every verification"));
    // The search stops once a proof passes all 3 of its verifications.
    assert!(
        dom.contains("stopped: solved"),
        "the final summary is shown:\n{dom}"
    );
}
