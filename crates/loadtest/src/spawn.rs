//! `renkei loadtest --spawn`: a relay + portal started in this process on the storage named by
//! URL (SQLite by default, or PostgreSQL and S3), with N offices registered and enrolled through
//! the same code paths as `renkei demo`. The load still goes over real mutual-TLS HTTP on
//! loopback, so what is measured is the relay as clients see it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use renkei_client::KdfParams;
use renkei_portal::NewOffice;
use renkei_server::config::ServerConfig;
use renkei_server::demo::{demo_password, provision_office};
use renkei_server::RunningServer;

use renkei_ids::OfficeNumber;

use crate::{LoadError, Participant};

/// A spawned server with its participants.
pub struct Spawned {
    /// The server (stop it with `shutdown`).
    pub server: RunningServer,
    /// The enrolled, logged-in offices.
    pub participants: Vec<Participant>,
    /// Its data directory (the fsync baseline is measured here).
    pub data_dir: PathBuf,
}

impl std::fmt::Debug for Spawned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawned")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// Start a server under `data_dir` on `database_url`/`blob_url` (empty = SQLite and a local
/// directory under `data_dir`) and enroll `offices` offices.
pub async fn spawn(
    data_dir: &Path,
    database_url: &str,
    blob_url: &str,
    offices: usize,
) -> Result<Spawned, LoadError> {
    let mut config = ServerConfig::default();
    config.server.data_dir = data_dir.join("server");
    config.server.portal_listen = "127.0.0.1:0".parse().expect("valid");
    config.server.relay_listen = "127.0.0.1:0".parse().expect("valid");
    config.server.portal_tls = false;
    config.storage.database_url = database_url.to_owned();
    config.storage.blob_url = blob_url.to_owned();
    let server = renkei_server::start(&config)
        .await
        .map_err(|e| LoadError::Setup(e.to_string()))?;
    server.set_ready();
    let operator = "loadtest";
    let now = renkei_store::now_millis();
    server
        .portal
        .create_operator(operator, "負荷試験", &demo_password(), now)
        .await
        .map_err(|e| LoadError::Setup(e.to_string()))?;
    // Keys of throwaway homes need no expensive passphrase hashing.
    let kdf = KdfParams {
        m_cost: 1024,
        t_cost: 1,
        p_cost: 1,
    };
    let mut participants = Vec::new();
    for i in 0..offices {
        let number = format!("13{:08}", 10_000 + i);
        let (kind, name) = if i % 2 == 0 {
            ("43", "負荷試験 居宅介護支援")
        } else {
            ("11", "負荷試験 訪問介護")
        };
        let spec = NewOffice {
            number: number.clone(),
            name: format!("{name} {i}"),
            name_kana: String::new(),
            kind: kind.into(),
            postal_code: String::new(),
            address: "東京都".into(),
            phone: "03-0000-0000".into(),
        };
        let home = data_dir.join("clients").join(&number);
        provision_office(&server, operator, &spec, &home, kdf)
            .await
            .map_err(|e| LoadError::Setup(e.to_string()))?;
        let pass = std::fs::read_to_string(home.join("demo-passphrase"))
            .map_err(|e| LoadError::Setup(e.to_string()))?;
        participants.push(Participant::from_home(&home, pass.trim_end()).await?);
    }
    Ok(Spawned {
        server,
        participants,
        data_dir: data_dir.to_owned(),
    })
}

/// Fill the spawned relay with `count` finished exchanges between its offices (rows, signed
/// receipts and audit entries, through the relay's own commit path; no payloads), spread over
/// the last 30 days, with `concurrency` writers. Prints progress to stderr; returns the time
/// taken.
pub async fn prefill(
    spawned: &Spawned,
    count: u64,
    concurrency: usize,
) -> Result<Duration, LoadError> {
    let offices: Vec<OfficeNumber> = spawned
        .participants
        .iter()
        .map(|p| p.office().clone())
        .collect();
    if offices.len() < 2 || count == 0 {
        return Ok(Duration::ZERO);
    }
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let now = renkei_store::now_millis();
    let month_ms: i64 = 30 * 24 * 60 * 60 * 1000;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let state = spawned.server.relay.clone();
        let offices = offices.clone();
        let next = next.clone();
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<(), LoadError>(());
                }
                let n = offices.len() as u64;
                let sender = &offices[(i % n) as usize];
                let recipient = &offices[((i + 1 + (i / n) % (n - 1)) % n) as usize];
                // Spread over the month, oldest first, so ids (UUIDv7) and times agree roughly.
                let at = now - month_ms + (month_ms * i as i64) / count as i64;
                renkei_relay::seed_imported(&state, sender, recipient, format!("prefill-{i}"), at)
                    .await
                    .map_err(|e| LoadError::Setup(format!("prefill: {e}")))?;
                if (i + 1).is_multiple_of(100_000) {
                    eprintln!("履歴を投入中 / prefilled {} of {count}", i + 1);
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| LoadError::Setup(format!("prefill task: {e}")))??;
    }
    Ok(started.elapsed())
}

/// Resident memory of this process (`VmRSS`, `VmHWM` from /proc/self/status), in MiB; `None`
/// where the platform does not say.
pub fn process_memory_mib() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU time (user + system) this process has used so far, in seconds, from `/proc/self/stat`
/// (Linux's `USER_HZ` is 100 on every architecture's user ABI); `None` elsewhere.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // Fields 14 (utime) and 15 (stime) of proc(5); `rest` starts at field 3.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let Some(before) = process_cpu_seconds() else {
            return; // not Linux
        };
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(300) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = process_cpu_seconds().unwrap();
        assert!(after - before >= 0.1, "{before} → {after}");
    }
}
