//! Resume after a crash: the real binary is killed with SIGKILL mid-run, restarted
//! with the same `--run`, and must end with exactly the planned samples, none
//! duplicated, without the server ever being asked again for a stored sample.

mod prove_support;

use prove_support::*;
use scripted_server::{Reply, ScriptedServer};
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_run_then_resume_requests_only_missing_samples() {
    // Slow enough answers that the kill lands mid-run.
    let server = ScriptedServer::start(|req| {
        let reply = if is_verification(req) {
            Reply::text(review("Step 2 is terse.", "0.5"))
        } else {
            Reply::text(proof("n = 2k+1, so n^2 = 2(2k^2+2k)+1."))
        };
        reply.delay(Duration::from_millis(40))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run.sqlite");
    let run_s = run.to_str().unwrap().to_string();
    let url = server.base_url();
    let mut args: Vec<String> = [
        "prove",
        PROBLEM,
        "--backend",
        &url,
        "--run",
        &run_s,
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(small(4, 8, 2, 2));
    args.extend(["--batch", "2", "--concurrency", "2"].map(String::from));
    // 4 + 2 + 2 proofs, 8 verifications each.
    let (want_proofs, want_verifs) = (8u64, 64u64);

    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = verimath(&argv)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let stored = if run.exists() {
            let (p, v, _) = counts(&run);
            p + v
        } else {
            0
        };
        if stored >= 12 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never stored samples"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the kill"
        );
    }
    child.kill().unwrap(); // SIGKILL on Unix: no cleanup, no final write
    child.wait().unwrap();
    // Let any request already on the wire reach the server before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let requests_before = server.request_count() as usize;
    let (p1, v1, _) = counts(&run);
    let stored_before = p1 + v1;
    assert!(stored_before < want_proofs + want_verifs, "killed too late");

    let out = prove_json(url.clone(), &run, {
        let mut f = small(4, 8, 2, 2);
        f.extend(["--batch", "2", "--concurrency", "2"].map(String::from));
        f
    })
    .await;
    let o: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(o["rounds"], 2);

    let samples = store::Store::open(&run).unwrap().all_samples().unwrap();
    let ids: HashSet<&str> = samples.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), samples.len(), "duplicate samples");
    assert_eq!(counts(&run), (want_proofs, want_verifs, 0));
    // The restarted run asked for exactly the samples that were missing: every
    // sample it received is stored, so any request for a stored one would show up
    // as an excess here.
    let asked_after: u64 = server.requests_seen()[requests_before..]
        .iter()
        .map(|r| u64::from(r.n))
        .sum();
    assert_eq!(asked_after, want_proofs + want_verifs - stored_before);
    // And a third run has nothing left to ask.
    let before_third = server.request_count();
    prove_json(url, &run, {
        let mut f = small(4, 8, 2, 2);
        f.extend(["--batch", "2"].map(String::from));
        f
    })
    .await;
    assert_eq!(server.request_count(), before_third);
}
