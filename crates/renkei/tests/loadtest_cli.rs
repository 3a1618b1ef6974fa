//! `renkei loadtest --spawn` end to end, small: every round trip it counts really completed
//! (sent, downloaded, acknowledged), in both sealing modes and paced, with the JSON line the
//! PERFORMANCE figures are read from. (Not a benchmark: no figure is asserted beyond > 0.)

use std::process::Command;

fn loadtest(extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(["loadtest", "--spawn", "--offices", "3", "--seconds", "2"])
        .args(["--min-kb", "5", "--max-kb", "20"])
        .arg("--data-dir")
        .arg(dir.path())
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("a JSON line");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"))
}

fn check(r: &serde_json::Value, sealed_during_load: bool) {
    assert_eq!(r["errors"], 0, "{r}");
    let sent = r["sent"].as_u64().unwrap();
    assert!(sent > 0, "{r}");
    assert_eq!(
        r["acked"].as_u64().unwrap(),
        sent,
        "every send fetched and acked: {r}"
    );
    assert!(r["files_per_s"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["p99_ms"].as_f64().unwrap() >= r["p50_ms"].as_f64().unwrap());
    assert_eq!(r["offices"], 3);
    assert_eq!(r["sealed_during_load"], sealed_during_load);
    let cpu = r["cpu_ms_per_file"]
        .as_f64()
        .expect("CPU measured with --spawn");
    assert!(cpu > 0.0, "{r}");
    let mean = r["mean_bytes"].as_f64().unwrap();
    assert!((5.0 * 1024.0..=20.0 * 1024.0).contains(&mean), "{r}");
}

#[test]
fn spawned_load_completes_every_round_trip_in_both_sealing_modes() {
    check(&loadtest(&["--no-baseline"]), false);
    check(&loadtest(&["--no-baseline", "--seal-each"]), true);
}

#[test]
fn paced_load_sends_about_the_offered_rate() {
    let r = loadtest(&["--rate", "10"]);
    check(&r, false);
    // 2 s at 10/s: the pacer hands out about 20 ticks (allow for start-up and rounding).
    let sent = r["sent"].as_u64().unwrap();
    assert!((10..=22).contains(&sent), "{r}");
    // A ratio, but no ceiling from a paced run (its CPU per round trip includes the waiting).
    assert!(r["ratio_to_fsync"].as_f64().is_some(), "{r}");
    assert!(r["ratio_cpu_ceiling"].is_null(), "{r}");
}

/// With the fsync baseline: the ratio, the CPU the disk's own writes cost, and the ceiling the
/// process's CPU puts on the ratio, all consistent with the other figures.
#[test]
fn the_baseline_reports_the_ratio_and_its_cpu_ceiling() {
    let r = loadtest(&[]);
    check(&r, false);
    let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {r}"));
    let (rate, files) = (f("fsync_writes_per_s"), f("files_per_s"));
    assert!(rate > 0.0, "{r}");
    assert!((f("ratio_to_fsync") - files / rate).abs() < 1e-9, "{r}");
    assert!(f("fsync_cpu_ms_per_write") >= 0.0, "{r}");
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let ceiling = cores * 1000.0 / f("cpu_ms_per_file") / rate;
    assert!((f("ratio_cpu_ceiling") - ceiling).abs() < 1e-9, "{r}");
}
