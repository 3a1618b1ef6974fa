//! Watch folders: the care software exports into a folder; each complete 送信単位 is sent to
//! the office named in its file names, then moved to `sent/` once the relay stored it (or
//! `failed/` when it was refused) with a small receipt file
//! `<連番>_<送信先>.receipt.json` beside it. A unit waiting for the relay stays where it is
//! and is reported `queued` on every pass until it is stored or refused.
//!
//! A file is picked up only when its name parses, its size and modification time were the
//! same on two scans in a row and it was last modified at least the quiet time
//! ([`DEFAULT_QUIET`]) ago; a unit only when every file of it is stable. A unit that lacks a
//! member the standard requires (say 第6表 without its 第7表 yet) is reported `incomplete` and
//! left in place while its newest file is younger than [`INCOMPLETE_PATIENCE`]: care software
//! may write the files of one unit minutes apart. After that it goes to `failed/`.
//!
//! The same content is never sent twice to the same office (the content hash is kept in the
//! history) unless the earlier send failed, was rejected or expired.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use renkei_format::FileName;
use serde::Serialize;

use crate::atomic::{move_file, write_atomic_mode};
use crate::office::{Office, Queued, SendStage};
use crate::state::UnitFile;
use crate::units::{describe_findings, prepare_units};
use crate::ClientError;

/// Sub-folder for units sent.
pub const SENT_DIR: &str = "sent";
/// Sub-folder for units refused (validation errors, unknown recipient …).
pub const FAILED_DIR: &str = "failed";
/// How long a file must be left alone before it is picked up.
pub const DEFAULT_QUIET: Duration = Duration::from_secs(2);
/// How long a unit lacking a required member waits for it (counted from its newest file).
pub const INCOMPLETE_PATIENCE: Duration = Duration::from_secs(10 * 60);

/// What a scan saw of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    len: u64,
    modified: Option<SystemTime>,
}

/// Remembers sizes between scans (one per watched folder).
#[derive(Debug)]
pub struct FolderScanner {
    last: HashMap<PathBuf, Seen>,
    quiet: Duration,
    incomplete_patience: Duration,
}

impl Default for FolderScanner {
    fn default() -> Self {
        Self::with_quiet_time(DEFAULT_QUIET)
    }
}

/// A unit whose files are complete and stable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StableUnit {
    /// ファイル連番.
    pub seq: String,
    /// 送信先の事業所番号 from the names.
    pub recipient: String,
    /// Paths, in name order.
    pub paths: Vec<PathBuf>,
    /// When the unit's newest file was last modified (the Unix epoch when unknown).
    pub newest: SystemTime,
}

impl FolderScanner {
    /// A scanner with no history: the first scan never reports anything.
    pub fn new() -> Self {
        Self::default()
    }

    /// A scanner that also requires files to be untouched for `quiet` (a care software that
    /// writes a file in several bursts may leave it unchanged between two scans).
    pub fn with_quiet_time(quiet: Duration) -> Self {
        Self {
            last: HashMap::new(),
            quiet,
            incomplete_patience: INCOMPLETE_PATIENCE,
        }
    }

    /// How long a unit that lacks a required member is left in place waiting for it
    /// (default [`INCOMPLETE_PATIENCE`]); zero sends such a unit to `failed/` at once.
    pub fn with_incomplete_patience(mut self, patience: Duration) -> Self {
        self.incomplete_patience = patience;
        self
    }

    /// Scan `dir` (top level only; `sent/`, `failed/` and dot files are ignored) and return
    /// units whose files were unchanged since the previous scan. Files whose names do not
    /// parse are ignored (they may be the care software's temporary files).
    pub fn scan(&mut self, dir: &Path) -> Result<Vec<StableUnit>, ClientError> {
        let mut now = HashMap::new();
        let clock = SystemTime::now();
        let entries = std::fs::read_dir(dir).map_err(|e| ClientError::io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ClientError::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(m) if m.is_file() => m,
                _ => continue,
            };
            now.insert(
                entry.path(),
                Seen {
                    len: meta.len(),
                    modified: meta.modified().ok(),
                },
            );
        }
        type Group = Vec<(PathBuf, bool, Option<SystemTime>)>;
        let mut groups: BTreeMap<(String, String, String), Group> = BTreeMap::new();
        for (path, seen) in &now {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Ok(parsed) = FileName::parse(&name) else {
                continue;
            };
            let quiet = seen
                .modified
                .and_then(|m| clock.duration_since(m).ok())
                .is_some_and(|age| age >= self.quiet);
            let stable = quiet && self.last.get(path) == Some(seen);
            groups
                .entry((
                    parsed.seq.to_string(),
                    parsed.sender.to_string(),
                    parsed.recipient.to_string(),
                ))
                .or_default()
                .push((path.clone(), stable, seen.modified));
        }
        self.last = now;
        let mut out = Vec::new();
        for ((seq, _, recipient), mut files) in groups {
            if files.iter().all(|(_, stable, _)| *stable) {
                files.sort();
                let newest = files
                    .iter()
                    .filter_map(|(_, _, m)| *m)
                    .max()
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                out.push(StableUnit {
                    seq,
                    recipient,
                    newest,
                    paths: files.into_iter().map(|(p, _, _)| p).collect(),
                });
            }
        }
        Ok(out)
    }
}

/// What happened to one unit of the watched folder.
#[derive(Debug, Clone, Serialize)]
pub struct WatchOutcome {
    /// ファイル連番.
    pub seq: String,
    /// File names.
    pub files: Vec<String>,
    /// `sent`, `queued` (relay unreachable: the files stay and go out later), `incomplete` (a
    /// required member is not there yet: the files stay), `duplicate` or `failed`.
    pub result: String,
    /// Details (message id, reason).
    pub detail: String,
}

/// The receipt file of a unit: by 連番 and 送信先 (one export may address several offices
/// with the same 連番).
pub fn receipt_name(seq: &str, recipient: &str) -> String {
    format!("{seq}_{recipient}.receipt.json")
}

fn receipt_text(o: &WatchOutcome) -> String {
    serde_json::to_string_pretty(o).unwrap_or_default()
}

impl Office {
    /// One pass over the watched folder: send the stable units, move them to `sent/` (stored
    /// by the relay, or sent before) or `failed/` (refused) with a
    /// `<seq>_<recipient>.receipt.json` beside them; units still waiting for the relay stay.
    pub async fn watch_once(
        &self,
        dir: &Path,
        scanner: &mut FolderScanner,
    ) -> Result<Vec<WatchOutcome>, ClientError> {
        let mut outcomes = Vec::new();
        for unit in scanner.scan(dir)? {
            let mut files = Vec::new();
            for p in &unit.paths {
                let bytes = std::fs::read(p).map_err(|e| ClientError::io(p, e))?;
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                files.push(UnitFile { name, bytes });
            }
            let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
            let patient = SystemTime::now()
                .duration_since(unit.newest)
                .map_or(true, |age| age < scanner.incomplete_patience);
            let outcome = self.watch_send(files, patient).await;
            let (folder, result, detail) = match outcome {
                Ok((r, d)) => (
                    match r.as_str() {
                        "failed" => Some(FAILED_DIR),
                        "queued" | "incomplete" => None,
                        _ => Some(SENT_DIR),
                    },
                    r,
                    d,
                ),
                Err(e) if e.is_unreachable() => (None, "queued".to_owned(), e.to_string()),
                Err(e) => (Some(FAILED_DIR), "failed".to_owned(), e.to_string()),
            };
            let o = WatchOutcome {
                seq: unit.seq.clone(),
                files: names,
                result,
                detail,
            };
            if let Some(folder) = folder {
                let target = dir.join(folder);
                for p in &unit.paths {
                    if let Some(name) = p.file_name() {
                        move_file(p, &target.join(name))?;
                    }
                }
                write_atomic_mode(
                    &target.join(receipt_name(&unit.seq, &unit.recipient)),
                    receipt_text(&o).as_bytes(),
                    0o644,
                )?;
            }
            outcomes.push(o);
        }
        Ok(outcomes)
    }

    /// Send one stable unit. With `patient`, a unit that only lacks members is `incomplete`
    /// rather than `failed`.
    async fn watch_send(
        &self,
        files: Vec<UnitFile>,
        patient: bool,
    ) -> Result<(String, String), ClientError> {
        let units = prepare_units(files, self.office())?;
        let [unit] = units.as_slice() else {
            return Err(ClientError::Protocol("one unit expected".into()));
        };
        let errors = unit.errors();
        if patient && unit.only_lacks_members() {
            let missing: Vec<&str> = unit.missing.iter().map(|k| k.prefix()).collect();
            return Ok((
                "incomplete".into(),
                format!(
                    "送信単位のファイルがそろうのを待っています（{} がまだありません）/ waiting for {}",
                    missing.join("、"),
                    missing.join(", ")
                ),
            ));
        }
        if !errors.is_empty() {
            return Ok(("failed".into(), describe_findings(&errors).join("\n")));
        }
        let id = match self.queue_unit(unit, "watch", false, true).await? {
            Queued::Duplicate(prev) => {
                let earlier = self.db.send(prev).await?;
                if earlier.is_some_and(|s| s.message_id.is_some()) {
                    return Ok((
                        "duplicate".into(),
                        format!(
                            "同じ内容を送信済みです（履歴 {prev}）/ already sent (history {prev})"
                        ),
                    ));
                }
                // Queued on an earlier pass and not stored yet: try again below.
                prev
            }
            Queued::New(id) => id,
        };
        let mut last = None;
        self.flush_outbox(|p| {
            if p.send_id == id {
                last = Some(p.stage.clone());
            }
        })
        .await?;
        Ok(match last {
            Some(SendStage::Stored { message_id }) => {
                ("sent".into(), format!("message_id {message_id}"))
            }
            Some(SendStage::Failed(why)) => ("failed".into(), why),
            Some(SendStage::Waiting(why)) => (
                "queued".into(),
                format!("送信待ち（接続が戻ると送信します）/ queued: {why}"),
            ),
            // Not in this flush (another process sent or refused it meanwhile): ask the history.
            _ => match self.db.send(id).await? {
                Some(s) if s.message_id.is_some() => (
                    "sent".into(),
                    format!("message_id {}", s.message_id.unwrap_or_default()),
                ),
                Some(s) if s.state == "failed" => {
                    ("failed".into(), s.error.unwrap_or_else(|| "failed".into()))
                }
                _ => ("queued".into(), "送信待ち / queued".into()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_format::{sample::default_parties, sample_unit, FileKind};

    #[test]
    fn only_stable_complete_units_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (cm, provider) = default_parties();
        let files = sample_unit(
            FileKind::Upplan,
            "202505".parse().unwrap(),
            &cm,
            &provider,
            &"20250425090000".parse().unwrap(),
        )
        .unwrap();
        let mut scanner = FolderScanner::with_quiet_time(Duration::ZERO);
        // Two files written; the third is still "being written".
        for (n, b) in &files[..2] {
            std::fs::write(dir.path().join(n.to_string()), b).unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        assert!(
            scanner.scan(dir.path()).unwrap().is_empty(),
            "first scan never reports"
        );
        let (n3, b3) = &files[2];
        std::fs::write(dir.path().join(n3.to_string()), &b3[..b3.len() / 2]).unwrap();
        assert!(
            scanner.scan(dir.path()).unwrap().is_empty(),
            "a new file makes the unit unstable"
        );
        std::fs::write(dir.path().join(n3.to_string()), b3).unwrap();
        assert!(
            scanner.scan(dir.path()).unwrap().is_empty(),
            "a growing file makes the unit unstable"
        );
        let ready = scanner.scan(dir.path()).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].paths.len(), 3);
        assert_eq!(ready[0].seq, "20250425090000");
        assert_eq!(ready[0].recipient, provider.0.to_string());
    }

    #[test]
    fn files_touched_within_the_quiet_time_wait() {
        let dir = tempfile::tempdir().unwrap();
        let (cm, provider) = default_parties();
        let files = sample_unit(
            FileKind::Upplan,
            "202505".parse().unwrap(),
            &cm,
            &provider,
            &"20250425090000".parse().unwrap(),
        )
        .unwrap();
        for (n, b) in &files {
            std::fs::write(dir.path().join(n.to_string()), b).unwrap();
        }
        let mut scanner = FolderScanner::with_quiet_time(Duration::from_secs(60));
        for _ in 0..3 {
            assert!(
                scanner.scan(dir.path()).unwrap().is_empty(),
                "unchanged but written just now"
            );
        }
        // Written a minute and a half ago: stable on the next scan that sees it unchanged.
        let past = SystemTime::now() - Duration::from_secs(90);
        for (n, _) in &files {
            let f = std::fs::File::options()
                .write(true)
                .open(dir.path().join(n.to_string()))
                .unwrap();
            f.set_modified(past).unwrap();
        }
        assert!(scanner.scan(dir.path()).unwrap().is_empty());
        assert_eq!(scanner.scan(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn receipts_are_named_by_seq_and_recipient() {
        assert_ne!(
            receipt_name("20250425090000", "1370000002"),
            receipt_name("20250425090000", "1370000010")
        );
        assert_eq!(
            receipt_name("20250425090000", "1370000002"),
            "20250425090000_1370000002.receipt.json"
        );
    }
}
