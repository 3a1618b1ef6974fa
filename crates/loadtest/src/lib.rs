//! `renkei loadtest`: replays the month-start peak against a running relay.
//!
//! Every participating office sends sealed 送信単位 of 5–200 KB to its partners while every
//! office fetches its inbox, downloads and acknowledges what arrives — the relay sees exactly the
//! traffic real clients make (mutual TLS, two-stage login, signed envelopes, idempotency keys).
//! The run ends with one JSON line: `files_per_s`, `p50_ms`, `p99_ms`, `errors` and more.
//!
//! Before the load, the same run measures the limit the disk sets: how many fsync'd file writes
//! of the same sizes it completes per second in the relay's data directory
//! ([`measure_fsync_writes`]). The ratio of the two is what docs/PERFORMANCE.md reports.
//!
//! Offices come from a running `renkei demo` ([`Participant::from_demo`]) or from homes given
//! explicitly; [`run`] does the rest.

mod fsync;
pub mod spawn;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use renkei_client::api::messages::{AckOutcome, AckRequest, ListQuery, MessageState};
use renkei_client::relay::RelayClient;
use renkei_client::{Credentials, Home};
use renkei_ids::{FileSeq, OfficeNumber};
use renkei_pki::{DeviceKeys, OfficeCert};
use serde::Serialize;
use sha2::Digest as _;

pub use fsync::{measure_fsync_writes, FsyncBaseline};

/// Errors that stop a load run before it starts.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The demo directory or a home could not be used.
    #[error("準備できません / cannot prepare: {0}")]
    Setup(String),
    /// The relay refused the participants' login or directory lookups.
    #[error("中継サーバーに接続できません / relay: {0}")]
    Relay(String),
}

/// What to offer.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// How long to send.
    pub duration: Duration,
    /// Offered sends per second across all offices (0 = as fast as `concurrency` allows).
    pub rate: f64,
    /// Concurrent in-flight sends.
    pub concurrency: usize,
    /// Smallest file, bytes.
    pub min_bytes: usize,
    /// Largest file, bytes.
    pub max_bytes: usize,
    /// Seed of the size and partner choices (a run is repeatable).
    pub seed: u64,
    /// Seal every envelope during the load, on the machine under test. By default envelopes
    /// are sealed before the clock starts (a pool per sending pair, each sent under fresh
    /// idempotency keys): in service every office seals on its own PC, so the relay's machine
    /// should not pay for it.
    pub seal_each: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(10),
            rate: 0.0,
            concurrency: 8,
            min_bytes: 5 * 1024,
            max_bytes: 200 * 1024,
            seed: 1,
            seal_each: false,
        }
    }
}

/// One office taking part: its relay client (logged in), keys and certificate.
pub struct Participant {
    office: OfficeNumber,
    keys: DeviceKeys,
    cert_serial: String,
    relay: RelayClient,
}

impl std::fmt::Debug for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Participant")
            .field("office", &self.office)
            .finish_non_exhaustive()
    }
}

impl Participant {
    /// Open a client home with its passphrase and log in with its remembered credentials.
    pub async fn from_home(dir: &Path, passphrase: &str) -> Result<Self, LoadError> {
        let home =
            Home::open(dir).map_err(|e| LoadError::Setup(format!("{}: {e}", dir.display())))?;
        let keystore = home
            .unlock(passphrase)
            .map_err(|e| LoadError::Setup(format!("{}: {e}", dir.display())))?;
        let cert_pem = keystore
            .certificate_pem()
            .ok_or_else(|| LoadError::Setup(format!("{}: not enrolled", dir.display())))?
            .to_owned();
        let creds: Credentials = keystore.credentials().cloned().ok_or_else(|| {
            LoadError::Setup(format!("{}: no remembered credentials", dir.display()))
        })?;
        let cert = OfficeCert::parse_pem(&cert_pem).map_err(|e| LoadError::Setup(e.to_string()))?;
        let keys = DeviceKeys::import(&keystore.device_keys().export())
            .map_err(|e| LoadError::Setup(e.to_string()))?;
        let relay = RelayClient::new(
            &home.config().relay_url,
            home.ca_pem(),
            &cert_pem,
            keys.signing_pkcs8(),
        )
        .map_err(|e| LoadError::Setup(e.to_string()))?;
        relay
            .login(&creds)
            .await
            .map_err(|e| LoadError::Relay(e.to_string()))?;
        Ok(Self {
            office: cert.office().clone(),
            keys,
            cert_serial: cert.serial_hex().to_owned(),
            relay,
        })
    }

    /// Every office of a running `renkei demo --data-dir DIR`.
    pub async fn from_demo(dir: &Path) -> Result<Vec<Self>, LoadError> {
        let json = std::fs::read(dir.join("demo.json"))
            .map_err(|e| LoadError::Setup(format!("{}/demo.json: {e}", dir.display())))?;
        let demo: serde_json::Value =
            serde_json::from_slice(&json).map_err(|e| LoadError::Setup(e.to_string()))?;
        let mut out = Vec::new();
        for office in demo["offices"].as_array().into_iter().flatten() {
            let home = Path::new(office["client_home"].as_str().unwrap_or_default()).to_owned();
            let pass = std::fs::read_to_string(home.join("demo-passphrase"))
                .map_err(|e| LoadError::Setup(format!("{}: {e}", home.display())))?;
            out.push(Self::from_home(&home, pass.trim_end()).await?);
        }
        if out.len() < 2 {
            return Err(LoadError::Setup(
                "the demo needs at least two offices".into(),
            ));
        }
        Ok(out)
    }

    /// The office number.
    pub fn office(&self) -> &OfficeNumber {
        &self.office
    }
}

/// The final figures of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Completed send → fetch → ack round trips per second.
    pub files_per_s: f64,
    /// Median send latency (upload until the signed `stored` receipt), ms.
    pub p50_ms: f64,
    /// 99th percentile send latency, ms.
    pub p99_ms: f64,
    /// Failed sends, downloads or acks.
    pub errors: u64,
    /// Units sent (stored).
    pub sent: u64,
    /// Units downloaded and acknowledged.
    pub acked: u64,
    /// Seconds of sending.
    pub seconds: f64,
    /// Offered rate (0 = unthrottled).
    pub offered_per_s: f64,
    /// Offices taking part.
    pub offices: usize,
    /// Mean payload size, bytes.
    pub mean_bytes: f64,
    /// The disk's fsync'd file writes per second measured in the same run (if measured).
    pub fsync_writes_per_s: Option<f64>,
    /// `files_per_s / fsync_writes_per_s`.
    pub ratio_to_fsync: Option<f64>,
    /// CPU of the process per fsync'd write while the baseline ran (the relay idle), ms.
    pub fsync_cpu_ms_per_write: Option<f64>,
    /// The highest `ratio_to_fsync` this process's CPU allows (`--spawn`, unthrottled): the
    /// machine's cores × 1000 / `cpu_ms_per_file` round trips per second, over
    /// `fsync_writes_per_s`.
    pub ratio_cpu_ceiling: Option<f64>,
    /// Messages already stored before the load (`--prefill`).
    pub prefilled: u64,
    /// Resident memory of the process (relay and load generator, `--spawn`) when the load
    /// started, MiB.
    pub rss_mib_start: Option<f64>,
    /// Resident memory when the load ended, MiB.
    pub rss_mib_end: Option<f64>,
    /// Peak resident memory of the whole run, prefill included, MiB.
    pub rss_mib_peak: Option<f64>,
    /// CPU time (user + system) of the whole process from the start of the load to the last
    /// ack, seconds (`--spawn`: relay and load generator together; the pool of envelopes is
    /// sealed before, and not counted).
    pub cpu_s: Option<f64>,
    /// `cpu_s` per completed round trip, ms: with `n` cores the process cannot complete more
    /// than `n × 1000 / cpu_ms_per_file` round trips per second.
    pub cpu_ms_per_file: Option<f64>,
    /// Envelopes sealed during the load (`seal_each`) rather than before it.
    pub sealed_during_load: bool,
}

impl Report {
    /// Fill in the disk's limit measured in the same run ([`measure_fsync_writes`]) and what
    /// follows from it: the ratio, and (unthrottled, with CPU measured) its CPU ceiling.
    pub fn set_baseline(&mut self, b: &FsyncBaseline) {
        let rate = b.writes_per_s.max(f64::EPSILON);
        self.fsync_writes_per_s = Some(b.writes_per_s);
        self.ratio_to_fsync = Some(self.files_per_s / rate);
        self.fsync_cpu_ms_per_write = b.cpu_ms_per_write;
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        // Only where the run went as fast as it could: a paced run's CPU per round trip
        // includes the idle waiting between ticks.
        self.ratio_cpu_ceiling = self
            .cpu_ms_per_file
            .filter(|_| self.offered_per_s == 0.0)
            .map(|ms| cores * 1000.0 / ms.max(f64::EPSILON) / rate);
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// A file that looks like a care software export: CSV-shaped ASCII lines of the chosen size
/// (the relay only ever sees ciphertext; the size is what matters).
fn payload(rng: &mut impl Rng, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        let line = format!(
            "202407,131011,{:010},20251201,202512,1310000019,\"テスト\",{}\r\n",
            rng.gen_range(0..1_000_000_000u64),
            rng.gen_range(100..999)
        );
        v.extend_from_slice(line.as_bytes());
    }
    v.truncate(len);
    v
}

struct Shared {
    sent: AtomicU64,
    acked: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
    latencies: Mutex<Vec<f64>>,
    seq: AtomicU64,
}

/// Run the load: `participants` send to each other for `opts.duration` while each of them
/// fetches and acknowledges its inbox; then drain the inboxes and report.
pub async fn run(participants: Vec<Participant>, opts: &LoadOptions) -> Result<Report, LoadError> {
    if participants.len() < 2 {
        return Err(LoadError::Setup("at least two offices are needed".into()));
    }
    let participants: Vec<Arc<Participant>> = participants.into_iter().map(Arc::new).collect();
    // Each office's view of its partners' certificates, from the relay's directory.
    let mut certs = Vec::new();
    for p in &participants {
        let entry = participants[0]
            .relay
            .office(&p.office)
            .await
            .map_err(|e| LoadError::Relay(e.to_string()))?;
        let pem = entry
            .certificate
            .ok_or_else(|| LoadError::Relay(format!("{} has no certificate", p.office)))?
            .pem;
        certs.push(Arc::new(
            OfficeCert::parse_pem(&pem).map_err(|e| LoadError::Relay(e.to_string()))?,
        ));
    }
    let shared = Arc::new(Shared {
        sent: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        latencies: Mutex::new(Vec::new()),
        seq: AtomicU64::new(0),
    });
    let pool = if opts.seal_each {
        None
    } else {
        Some(Arc::new(seal_pool(&participants, &certs, opts, &shared)?))
    };
    // CPU is counted from here: the pool above is sealed before the clock starts.
    let cpu_start = spawn::process_cpu_seconds();
    let start = Instant::now();
    let deadline = start + opts.duration;

    // Receivers: poll, download, ack, until sending is over and the inbox is empty.
    let stop_receivers = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut receivers = tokio::task::JoinSet::new();
    for p in &participants {
        let (p, shared, stop) = (p.clone(), shared.clone(), stop_receivers.clone());
        receivers.spawn(async move { receive_loop(p, shared, stop).await });
    }

    // Senders: a fixed pool of workers taking ticks (permits) from a pacer; the pacer closes
    // the semaphore at the deadline, which ends the workers waiting for a tick.
    let ticks = Arc::new(tokio::sync::Semaphore::new(0));
    let mut senders = tokio::task::JoinSet::new();
    for w in 0..opts.concurrency.max(1) {
        let (participants, certs, shared, ticks, pool) = (
            participants.clone(),
            certs.clone(),
            shared.clone(),
            ticks.clone(),
            pool.clone(),
        );
        let opts = opts.clone();
        senders.spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed.wrapping_add(w as u64));
            loop {
                if Instant::now() >= deadline {
                    return;
                }
                if opts.rate > 0.0 {
                    match ticks.acquire().await {
                        Ok(tick) => tick.forget(),
                        Err(_) => return,
                    }
                }
                if let Some(pool) = &pool {
                    let sealed = &pool[rng.gen_range(0..pool.len())];
                    send_sealed(&participants[sealed.from], sealed, &shared).await;
                    continue;
                }
                let (from, to) = pair(&mut rng, participants.len());
                let len = rng.gen_range(opts.min_bytes..=opts.max_bytes.max(opts.min_bytes));
                let body = payload(&mut rng, len);
                match seal_one(&participants, &certs, (from, to), body, &shared) {
                    Ok(sealed) => send_sealed(&participants[from], &sealed, &shared).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "seal failed");
                        shared.errors.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        });
    }
    if opts.rate > 0.0 {
        let interval = Duration::from_secs_f64(1.0 / opts.rate);
        let mut next = Instant::now();
        while Instant::now() < deadline {
            ticks.add_permits(1);
            next += interval;
            tokio::time::sleep_until(next.into()).await;
        }
        ticks.close();
    }
    while senders.join_next().await.is_some() {}
    let send_secs = start.elapsed().as_secs_f64();
    // Let the receivers drain what is left (bounded).
    let drain_deadline = Instant::now() + Duration::from_secs(60);
    while shared.acked.load(Ordering::SeqCst) + shared.errors.load(Ordering::SeqCst)
        < shared.sent.load(Ordering::SeqCst)
        && Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The clock stops at the last ack, not when the receivers' pending long polls end.
    let total_secs = start.elapsed().as_secs_f64();
    let cpu_s = cpu_start
        .zip(spawn::process_cpu_seconds())
        .map(|(a, b)| b - a);
    stop_receivers.store(true, Ordering::SeqCst);
    while receivers.join_next().await.is_some() {}

    let mut lat = shared
        .latencies
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    lat.sort_by(|a, b| a.total_cmp(b));
    let sent = shared.sent.load(Ordering::SeqCst);
    let acked = shared.acked.load(Ordering::SeqCst);
    Ok(Report {
        files_per_s: acked as f64 / total_secs.max(f64::EPSILON),
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        errors: shared.errors.load(Ordering::SeqCst),
        sent,
        acked,
        seconds: send_secs,
        offered_per_s: opts.rate,
        offices: participants.len(),
        mean_bytes: if sent == 0 {
            0.0
        } else {
            shared.bytes.load(Ordering::SeqCst) as f64 / sent as f64
        },
        fsync_writes_per_s: None,
        ratio_to_fsync: None,
        fsync_cpu_ms_per_write: None,
        ratio_cpu_ceiling: None,
        prefilled: 0,
        rss_mib_start: None,
        rss_mib_end: None,
        rss_mib_peak: None,
        cpu_s,
        cpu_ms_per_file: cpu_s
            .filter(|_| acked > 0)
            .map(|c| c * 1000.0 / acked as f64),
        sealed_during_load: opts.seal_each,
    })
}

fn next_seq(shared: &Shared) -> FileSeq {
    // Unique, valid YYYYMMDDHHMMSS values: a base day plus a counter in seconds.
    let n = shared.seq.fetch_add(1, Ordering::SeqCst);
    let (h, m, s) = ((n / 3600) % 24, (n / 60) % 60, n % 60);
    let day = 1 + (n / 86_400) % 28;
    format!("202512{day:02}{h:02}{m:02}{s:02}")
        .parse()
        .expect("valid sequence")
}

/// A sender and receiver, different, chosen at random among `n` offices.
fn pair(rng: &mut impl Rng, n: usize) -> (usize, usize) {
    let from = rng.gen_range(0..n);
    let mut to = rng.gen_range(0..n - 1);
    if to >= from {
        to += 1;
    }
    (from, to)
}

/// One sealed 送信単位, ready to send (any number of times, each under a new key).
struct Sealed {
    from: usize,
    envelope: Vec<u8>,
    /// Payload (CSV) bytes.
    len: u64,
}

/// Most sending pairs given envelopes of their own before the load.
const POOL_PAIRS: usize = 1024;
/// Envelopes per sending pair in the pool (of independent random sizes), at least.
const POOL_PER_PAIR: usize = 2;
/// Envelopes in the pool, at least (few offices get more per pair, so that sizes still spread
/// over the whole range).
const POOL_MIN: usize = 256;

/// Envelopes for the load, sealed before it: every sending pair (at most [`POOL_PAIRS`], chosen
/// at random when there are more) gets [`POOL_PER_PAIR`] or more of random sizes, [`POOL_MIN`]
/// in all at least.
fn seal_pool(
    participants: &[Arc<Participant>],
    certs: &[Arc<OfficeCert>],
    opts: &LoadOptions,
    shared: &Shared,
) -> Result<Vec<Sealed>, LoadError> {
    let n = participants.len();
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed ^ 0x5EA1);
    let pairs: Vec<(usize, usize)> = if n * (n - 1) <= POOL_PAIRS {
        (0..n)
            .flat_map(|f| (0..n).filter(move |&t| t != f).map(move |t| (f, t)))
            .collect()
    } else {
        (0..POOL_PAIRS).map(|_| pair(&mut rng, n)).collect()
    };
    let per_pair = POOL_PER_PAIR.max(POOL_MIN.div_ceil(pairs.len()));
    let mut pool = Vec::with_capacity(pairs.len() * per_pair);
    for (from, to) in pairs {
        for _ in 0..per_pair {
            let len = rng.gen_range(opts.min_bytes..=opts.max_bytes.max(opts.min_bytes));
            let body = payload(&mut rng, len);
            let sealed = seal_one(participants, certs, (from, to), body, shared)
                .map_err(|e| LoadError::Setup(format!("seal: {e}")))?;
            pool.push(sealed);
        }
    }
    Ok(pool)
}

/// Seal `body` as one UPPLAN unit from office `pair.0` to office `pair.1`.
fn seal_one(
    participants: &[Arc<Participant>],
    certs: &[Arc<OfficeCert>],
    pair: (usize, usize),
    body: Vec<u8>,
    shared: &Shared,
) -> Result<Sealed, renkei_envelope::EnvelopeError> {
    let (from_idx, to_idx) = pair;
    let (from, to, to_cert) = (
        &participants[from_idx],
        &participants[to_idx],
        &certs[to_idx],
    );
    let seq = next_seq(shared);
    let name = format!(
        "UPPLAN_202512_{}_43_{}_11_{}.CSV",
        from.office, to.office, seq
    );
    let len = body.len() as u64;
    let files = vec![(name, body)];
    let envelope = renkei_envelope::seal(
        &renkei_envelope::SealInput {
            sender: &from.office,
            sender_cert_serial: &from.cert_serial,
            recipient_cert: to_cert,
            file_seq: &seq,
            files: &files,
            created_at: renkei_pki::now_millis(),
        },
        &from.keys,
    )?;
    Ok(Sealed {
        from: from_idx,
        envelope,
        len,
    })
}

async fn send_sealed(from: &Participant, sealed: &Sealed, shared: &Shared) {
    let key = uuid::Uuid::now_v7().to_string();
    let t0 = Instant::now();
    match from.relay.send(&sealed.envelope, &key).await {
        Ok(_) => {
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            if let Ok(mut l) = shared.latencies.lock() {
                l.push(ms);
            }
            shared.sent.fetch_add(1, Ordering::SeqCst);
            shared.bytes.fetch_add(sealed.len, Ordering::SeqCst);
        }
        Err(e) => {
            tracing::warn!(error = %e, "send failed");
            shared.errors.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Seconds a receiver's inbox listing waits for a message (long poll).
const RECEIVER_WAIT_SECS: u32 = 2;

async fn receive_loop(
    p: Arc<Participant>,
    shared: Arc<Shared>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    loop {
        let page = p
            .relay
            .inbox(&ListQuery {
                state: Some(MessageState::Stored),
                before: None,
                limit: Some(100),
                // Long poll, as the client's watch does: the relay answers when a message
                // arrives. Short enough that receivers notice the end of the run quickly.
                wait: Some(RECEIVER_WAIT_SECS),
            })
            .await;
        let items = match page {
            Ok(page) => page.items,
            Err(e) => {
                tracing::warn!(error = %e, "inbox failed");
                shared.errors.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if items.is_empty() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            continue;
        }
        for m in items {
            let ok = match p.relay.download(m.id).await {
                Ok(bytes) => {
                    let digest = hex::encode(sha2::Sha256::digest(&bytes));
                    if digest != m.digest {
                        tracing::warn!(id = %m.id.0, "digest mismatch on download");
                        false
                    } else {
                        p.relay
                            .ack(
                                m.id,
                                &AckRequest {
                                    outcome: AckOutcome::Imported,
                                    reasons: Vec::new(),
                                },
                            )
                            .await
                            .is_ok()
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "download failed");
                    false
                }
            };
            if ok {
                shared.acked.fetch_add(1, Ordering::SeqCst);
            } else {
                shared.errors.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}
