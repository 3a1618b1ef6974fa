//! Fuzz target: reader, validator, units, renderer, diff and round trip on arbitrary bytes.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| renkei_format_fuzz::run(data));

/// Stable driver: `read_validate FILE…` replays inputs; `read_validate --mutate SECONDS DIR…`
/// mutates the files found under DIR (seeds) until time runs out, and on a panic writes the
/// input to `fuzz/artifacts/crash-<n>` and exits 1.
#[cfg(not(fuzzing))]
fn main() {
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    fn collect(p: &Path, out: &mut Vec<Vec<u8>>) {
        if p.is_dir() {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    collect(&e.path(), out);
                }
            }
        } else if let Ok(b) = std::fs::read(p) {
            if b.len() < 1 << 20 {
                out.push(b);
            }
        }
    }

    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--seeds") {
        // `--seeds OUT DIR…`: every file under DIR, prefixed with the selector byte of its name,
        // written to OUT (a seed corpus for libFuzzer).
        let out = PathBuf::from(args.get(1).expect("--seeds OUT DIR…"));
        std::fs::create_dir_all(&out).expect("create OUT");
        fn walk(p: &Path, out: &Path, n: &mut usize) {
            if p.is_dir() {
                for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                    walk(&e.path(), out, n);
                }
            } else if let (Some(name), Ok(b)) = (p.file_name(), std::fs::read(p)) {
                let name = name.to_string_lossy();
                let mut seed = vec![renkei_format_fuzz::selector_for(&name)];
                seed.extend_from_slice(&b);
                *n += 1;
                std::fs::write(out.join(format!("seed-{n:05}")), seed).expect("write seed");
            }
        }
        let mut n = 0;
        for d in &args[2..] {
            walk(Path::new(d), &out, &mut n);
        }
        println!("{n} seeds written to {}", out.display());
        return;
    }
    if args.first().map(String::as_str) != Some("--mutate") {
        for a in &args {
            let data = std::fs::read(a).unwrap_or_else(|e| panic!("{a}: {e}"));
            renkei_format_fuzz::run(&data);
        }
        println!("{} inputs ok", args.len());
        return;
    }
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    let mut seeds = Vec::new();
    for d in &args[2..] {
        collect(&PathBuf::from(d), &mut seeds);
    }
    if seeds.is_empty() {
        seeds.push(b"202407,131011,0000012345\r\n".to_vec());
    }
    let mut state: u64 = 0x2545_F491_4F6C_DD1D ^ std::process::id() as u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let specials: [&[u8]; 12] = [
        b"\"",
        b",",
        b"\r\n",
        b"\n",
        b"\r",
        b"\"\"",
        &[0xF0, 0x40],
        &[0x81],
        &[0x80],
        &[0xEF, 0xBB, 0xBF],
        b"9999",
        b"202208",
    ];
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut runs: u64 = 0;
    std::panic::set_hook(Box::new(|_| {}));
    while Instant::now() < deadline {
        for _ in 0..256 {
            let seed = &seeds[(rnd() % seeds.len() as u64) as usize];
            let mut d = Vec::with_capacity(seed.len() + 16);
            d.push(rnd() as u8);
            d.extend_from_slice(seed);
            for _ in 0..(1 + rnd() % 6) {
                let i = (rnd() as usize) % d.len();
                match rnd() % 6 {
                    0 => d[i] ^= 1 << (rnd() % 8),
                    1 => d[i] = rnd() as u8,
                    2 => {
                        let s = specials[(rnd() % specials.len() as u64) as usize];
                        d.splice(i..i, s.iter().copied());
                    }
                    3 => {
                        let n = (rnd() as usize % 16).min(d.len() - i);
                        d.drain(i..i + n);
                    }
                    4 => {
                        let other = &seeds[(rnd() % seeds.len() as u64) as usize];
                        let j = (rnd() as usize) % other.len().max(1);
                        let n = (rnd() as usize % 64).min(other.len().saturating_sub(j));
                        d.splice(i..i, other[j..j + n].iter().copied());
                    }
                    _ => d.truncate(i.max(1)),
                }
                if d.is_empty() {
                    d.push(0);
                }
            }
            runs += 1;
            let input = d.clone();
            if std::panic::catch_unwind(move || renkei_format_fuzz::run(&input)).is_err() {
                let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(format!("crash-{runs}"));
                let _ = std::fs::write(&path, &d);
                let _ = std::panic::take_hook();
                eprintln!("panic after {runs} runs; input saved to {}", path.display());
                renkei_format_fuzz::run(&d);
                std::process::exit(1);
            }
        }
    }
    println!("{runs} runs in {secs} s, {} seeds, no panic", seeds.len());
}
