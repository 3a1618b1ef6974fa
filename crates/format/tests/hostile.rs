//! Bad input never panics, never hangs, and memory stays a small multiple of the input.
//! (nextest runs each test in its own process, so the peak RSS read from /proc is this test's.)

use renkei_format::sample::default_parties;
use renkei_format::{read_file, sample_unit, validate_file, validate_units, FileKind};

const NAME: &str = "UPPLAN_202505_1370000001_43_1370000002_11_20250425090000.CSV";

fn plan() -> Vec<u8> {
    let (cm, provider) = default_parties();
    sample_unit(
        FileKind::Upplan,
        "202505".parse().unwrap(),
        &cm,
        &provider,
        &"20250425090000".parse().unwrap(),
    )
    .unwrap()
    .remove(0)
    .1
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn every_truncation_of_a_valid_file_is_handled() {
    let b = plan();
    for n in 0..b.len() {
        let r = validate_file(NAME, &b[..n]);
        let _ = read_file(NAME, &b[..n]);
        if n > 0 && !b[..n].ends_with(b"\r\n") {
            assert!(
                !r.findings.is_empty(),
                "prefix {n} (cut inside a record) passed silently"
            );
        }
    }
}

#[test]
fn random_mutations_never_panic() {
    let base = plan();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let specials = [b'"', b',', b'\r', b'\n', 0xF0, 0x81, 0x80, 0x00, 0xEF, b'9'];
    for _ in 0..3000 {
        let mut b = base.clone();
        for _ in 0..(rng.next() % 8 + 1) {
            let i = (rng.next() as usize) % b.len().max(1);
            match rng.next() % 4 {
                0 => b[i] = specials[(rng.next() % specials.len() as u64) as usize],
                1 => b[i] ^= 1 << (rng.next() % 8),
                2 => b.insert(i, specials[(rng.next() % specials.len() as u64) as usize]),
                _ => {
                    b.remove(i);
                }
            }
            if b.is_empty() {
                b.push(b',');
            }
        }
        let r = validate_file(NAME, &b);
        let _ = validate_units(&[r]);
        if let Ok(doc) = read_file(NAME, &b) {
            assert_eq!(doc.csv.to_bytes(), b);
            let _ = renkei_format::render_html(&doc);
            assert!(renkei_format::diff(&doc, &doc).unwrap().is_empty());
        }
    }
}

#[test]
fn binary_garbage_and_a_50000_column_line() {
    let mut rng = Rng(42);
    let garbage: Vec<u8> = (0..1_000_000).map(|_| rng.next() as u8).collect();
    let r = validate_file(NAME, &garbage);
    assert!(!r.is_conforming());
    assert!(r.findings.len() <= 100 * 40, "findings are capped per code");
    let wide = format!("202407{}\r\n", ",1".repeat(50_000));
    let r = validate_file(NAME, wide.as_bytes());
    assert!(r.findings.iter().any(|f| f.code.as_str() == "F110"));
    let quotes = "\"".repeat(100_001);
    assert!(!validate_file(NAME, quotes.as_bytes()).is_conforming());
}

#[test]
fn a_large_file_stays_within_a_small_multiple_of_its_size() {
    // ~64 MB of valid records followed by garbage, validated in one call.
    let one = plan();
    let mut big = Vec::with_capacity(70 << 20);
    while big.len() < (60 << 20) {
        big.extend_from_slice(&one);
    }
    let mut rng = Rng(7);
    big.extend((0..(4 << 20)).map(|_| rng.next() as u8));
    let before = peak_rss_kib();
    let start = std::time::Instant::now();
    let r = validate_file(NAME, &big);
    let took = start.elapsed();
    assert!(!r.is_conforming());
    assert!(r.records > 100_000);
    if let (Some(b), Some(a)) = (before, peak_rss_kib()) {
        let grown = (a.saturating_sub(b)) * 1024;
        assert!(
            grown < 2 * big.len() as u64,
            "validation grew RSS by {grown} bytes for {} input",
            big.len()
        );
    }
    assert!(took.as_secs() < 120, "took {took:?}");
}

/// Inputs the fuzzer found (tests/regressions/*.bin: first byte picks the name as in
/// fuzz/src/lib.rs, the rest is the file).
#[test]
fn fuzz_regressions() {
    let names = [
        "UPPLAN_202505_1370000001_43_1370000002_11_20250425090000.CSV",
        "UPJSK_202505_1370000002_11_1370000001_43_20250425090000.CSV",
        "UPSIKYU_202505_1370000001_43_1370000002_11_20250425090000.CSV",
        "UPHOSOKU_202505_1370000001_43_1370000002_11_20250425090000.CSV",
        "UPHOSOKU_000000_1370000001_43_1370000002_11_20250425090000.CSV",
        "UP1KYO_1370000001_43_1370000002_11_20250425090000.CSV",
        "UP2KYO_1370000001_43_1370000002_11_20250425090000.CSV",
        "UP3KYO_1370000001_43_1370000002_11_20250425090000.CSV",
        "DLTPLAN_202505_1370000001_43_1370000002_11_20250425090000.CSV",
        "DLTJSK_202505_1370000002_11_1370000001_43_20250425090000.CSV",
        "UPPLAN_202503_1370000001_1370000002_20250325090000.CSV",
        "not-a-standard-name.csv",
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    for e in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        let (first, bytes) = data.split_first().unwrap();
        let name = names[usize::from(*first) % names.len()];
        let _ = validate_file(name, bytes);
        // Every kind's renderer, whatever the name says.
        for n in names {
            if let Ok(doc) = read_file(n, bytes) {
                let _ = renkei_format::render_html(&doc);
            }
        }
    }
}
