//! The disk's limit: how many durable file writes (write, `sync_all`, rename, fsync of the
//! directory — exactly what the local payload store does per file) complete per second.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

/// Write files of `min_bytes..=max_bytes` durably into a scratch directory under `dir` for
/// `duration`, with `concurrency` writers, and return completed writes per second.
pub fn measure_fsync_writes(
    dir: &Path,
    duration: Duration,
    concurrency: usize,
    min_bytes: usize,
    max_bytes: usize,
) -> std::io::Result<f64> {
    let scratch = dir.join(format!(".renkei-fsync-probe-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let handles: Vec<_> = (0..concurrency.max(1))
        .map(|w| {
            let scratch = scratch.clone();
            std::thread::spawn(move || -> std::io::Result<u64> {
                let mut rng = rand::rngs::StdRng::seed_from_u64(w as u64);
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let len = rng.gen_range(min_bytes..=max_bytes.max(min_bytes));
                    let body = vec![b'x'; len];
                    let tmp = scratch.join(format!("{w}-{n}.tmp"));
                    let fin = scratch.join(format!("{w}-{n}.blob"));
                    {
                        let mut f = std::fs::File::create(&tmp)?;
                        f.write_all(&body)?;
                        f.sync_all()?;
                    }
                    std::fs::rename(&tmp, &fin)?;
                    std::fs::File::open(&scratch)?.sync_all()?;
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let mut total = 0u64;
    for h in handles {
        total += h
            .join()
            .map_err(|_| std::io::Error::other("writer panicked"))??;
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(total as f64 / secs.max(f64::EPSILON))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_positive_rate_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let rate =
            measure_fsync_writes(dir.path(), Duration::from_millis(300), 2, 1024, 4096).unwrap();
        assert!(rate > 0.0);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "scratch directory removed"
        );
    }
}
