//! The disk's limit: how many durable file writes (write, `sync_all`, rename, fsync of the
//! directory — exactly what the local payload store does per file) complete per second, and
//! how much CPU each costs.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

/// What [`measure_fsync_writes`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FsyncBaseline {
    /// Completed durable writes per second.
    pub writes_per_s: f64,
    /// CPU time (user + system) of the whole process per write, ms; `None` where
    /// `/proc/self/stat` is missing. Meaningful when nothing else in the process is busy, as
    /// before the load: each round trip of the load makes one such write, so this is the part
    /// of `cpu_ms_per_file` that the disk's own work costs.
    pub cpu_ms_per_write: Option<f64>,
}

/// Write files of `min_bytes..=max_bytes` durably into a scratch directory under `dir` for
/// `duration`, with `concurrency` writers; return the rate and the CPU per write.
pub fn measure_fsync_writes(
    dir: &Path,
    duration: Duration,
    concurrency: usize,
    min_bytes: usize,
    max_bytes: usize,
) -> std::io::Result<FsyncBaseline> {
    let scratch = dir.join(format!(".renkei-fsync-probe-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let cpu_start = crate::spawn::process_cpu_seconds();
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
    let cpu_s = cpu_start
        .zip(crate::spawn::process_cpu_seconds())
        .map(|(a, b)| b - a);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(FsyncBaseline {
        writes_per_s: total as f64 / secs.max(f64::EPSILON),
        cpu_ms_per_write: cpu_s.map(|c| c * 1000.0 / total.max(1) as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_positive_rate_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let b =
            measure_fsync_writes(dir.path(), Duration::from_millis(300), 2, 1024, 4096).unwrap();
        assert!(b.writes_per_s > 0.0);
        let cpu = b.cpu_ms_per_write.expect("Linux has /proc/self/stat");
        // Each write costs some system time; a second of CPU per write would be absurd.
        assert!((0.0..1000.0).contains(&cpu), "{cpu}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "scratch directory removed"
        );
    }
}
