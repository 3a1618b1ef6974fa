//! Landing received files in the import folder.
//!
//! Two rules protect the care software's import folder from a sender (or a relay) that names
//! files badly:
//!
//! - every name must be a plain file name of the standard whose 送信元, 送信先 and ファイル連番
//!   are those of the verified envelope header ([`check_names`]);
//! - nothing already in the folder is replaced by different content ([`land_unit`]). All temp
//!   files of a unit are written and synced first, then moved into place together with a
//!   no-clobber link, so a crash never leaves half a unit visible.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use renkei_api::RejectReason;
use renkei_format::FileName;
use renkei_ids::{FileSeq, OfficeNumber};

use crate::atomic::sync_dir;
use crate::state::UnitFile;
use crate::ClientError;

/// Device names Windows reserves in any directory (with or without an extension).
const WINDOWS_RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

fn name_reason(file: &str, code: &str, ja: &str, en: &str) -> RejectReason {
    RejectReason {
        file: Some(file.to_owned()),
        line: None,
        item: None,
        code: code.into(),
        message: Some(format!("{ja} / {en}")),
    }
}

/// Why `name` cannot be a file in a folder on any platform, if so (checked before any path is
/// joined: separators, drive and stream colons, control characters, dot names, trailing dots
/// or spaces, Windows device names).
pub(crate) fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() || name == "." || name == ".." {
        return Some("empty or dot name");
    }
    if name.starts_with('.') {
        return Some("hidden name");
    }
    if name.chars().any(|c| {
        matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') || c.is_control()
    }) {
        return Some("path or reserved character");
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Some("trailing dot or space");
    }
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    if WINDOWS_RESERVED
        .iter()
        .any(|r| r.eq_ignore_ascii_case(stem))
    {
        return Some("Windows reserved device name");
    }
    None
}

/// Reasons to refuse the files of an envelope whose verified header names `sender`,
/// `recipient` (us) and `seq`; empty when every name is safe, parses as a name of the
/// standard, matches the header and occurs once.
pub(crate) fn check_names(
    files: &[UnitFile],
    sender: &OfficeNumber,
    recipient: &OfficeNumber,
    seq: &FileSeq,
) -> Vec<RejectReason> {
    let mut reasons = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for f in files {
        let name = f.name.as_str();
        if let Some(why) = unsafe_name(name) {
            reasons.push(name_reason(
                name,
                "unsafe_file_name",
                "ファイル名に使えない文字または名前が含まれています",
                &format!("unsafe file name ({why})"),
            ));
            continue;
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            reasons.push(name_reason(
                name,
                "duplicate_file_name",
                "同じファイル名が2回含まれています",
                "the same file name occurs twice",
            ));
            continue;
        }
        let parsed = match FileName::parse(name) {
            Ok(p) => p,
            Err(e) => {
                reasons.push(name_reason(
                    name,
                    "file_name",
                    "標準仕様のファイル名ではありません",
                    &format!("not a file name of the standard ({e})"),
                ));
                continue;
            }
        };
        if &parsed.sender != sender {
            reasons.push(name_reason(
                name,
                "file_name_sender",
                &format!(
                    "ファイル名の送信元 {} が送信元事業所 {sender} と一致しません",
                    parsed.sender
                ),
                &format!(
                    "sender {} in the name is not the envelope's {sender}",
                    parsed.sender
                ),
            ));
        }
        if &parsed.recipient != recipient {
            reasons.push(name_reason(
                name,
                "file_name_recipient",
                &format!(
                    "ファイル名の送信先 {} が当事業所 {recipient} ではありません",
                    parsed.recipient
                ),
                &format!(
                    "recipient {} in the name is not us ({recipient})",
                    parsed.recipient
                ),
            ));
        }
        if &parsed.seq != seq {
            reasons.push(name_reason(
                name,
                "file_name_seq",
                &format!(
                    "ファイル名の連番 {} が封筒の連番 {seq} と一致しません",
                    parsed.seq
                ),
                &format!(
                    "file seq {} in the name is not the envelope's {seq}",
                    parsed.seq
                ),
            ));
        }
    }
    reasons
}

fn conflict(path: &Path) -> ClientError {
    ClientError::ImportConflict(path.display().to_string())
}

/// Whether `path` holds exactly `bytes` (`Ok(None)` when it does not exist).
fn same_content(path: &Path, bytes: &[u8]) -> Result<Option<bool>, ClientError> {
    match fs::read(path) {
        Ok(existing) => Ok(Some(existing == bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ClientError::io(path, e)),
    }
}

/// Put `path` in place from `tmp` without replacing anything: a hard link fails when the
/// target exists (atomically); where links are not supported, check and rename.
fn place_no_clobber(tmp: &Path, path: &Path) -> std::io::Result<()> {
    match fs::hard_link(tmp, path) {
        Ok(()) => fs::remove_file(tmp),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            if path.exists() {
                return Err(std::io::ErrorKind::AlreadyExists.into());
            }
            fs::rename(tmp, path)
        }
    }
}

/// Write the files of one unit into `dir` (names already checked with [`check_names`]).
/// A file already there with the same content is left as it is (a repeated import is
/// harmless); a file there with different content stops the import before anything is
/// written ([`ClientError::ImportConflict`]). Returns the paths, in the order of `files`.
pub(crate) fn land_unit(dir: &Path, files: &[UnitFile]) -> Result<Vec<PathBuf>, ClientError> {
    for f in files {
        if unsafe_name(&f.name).is_some() {
            return Err(ClientError::bad_input(
                format!("ファイル名 {} は使えません", f.name),
                format!("unsafe file name {}", f.name),
            ));
        }
    }
    fs::create_dir_all(dir).map_err(|e| ClientError::io(dir, e))?;
    // Which files still need writing; refuse before writing anything.
    let mut todo = Vec::new();
    for f in files {
        let path = dir.join(&f.name);
        match same_content(&path, &f.bytes)? {
            Some(true) => {}
            Some(false) => return Err(conflict(&path)),
            None => todo.push((f, path)),
        }
    }
    // 1. every temp file, synced.
    let mut temps: Vec<PathBuf> = Vec::new();
    let cleanup = |temps: &[PathBuf]| {
        for t in temps {
            let _ = fs::remove_file(t);
        }
    };
    for (f, path) in &todo {
        let tmp = dir.join(format!(".{}.{}.tmp", f.name, uuid::Uuid::new_v4().simple()));
        let written = (|| {
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o644);
            }
            let mut file = opts.open(&tmp)?;
            file.write_all(&f.bytes)?;
            file.sync_all()
        })();
        temps.push(tmp);
        if let Err(e) = written {
            cleanup(&temps);
            return Err(ClientError::io(path, e));
        }
    }
    // 2. all into place; on a race with another writer, take back what this call placed.
    let mut placed: Vec<&PathBuf> = Vec::new();
    for (i, (f, path)) in todo.iter().enumerate() {
        if let Err(e) = place_no_clobber(&temps[i], path) {
            let identical = e.kind() == std::io::ErrorKind::AlreadyExists
                && matches!(same_content(path, &f.bytes), Ok(Some(true)));
            if identical {
                let _ = fs::remove_file(&temps[i]);
                continue;
            }
            for p in &placed {
                let _ = fs::remove_file(p);
            }
            cleanup(&temps[i..]);
            return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
                conflict(path)
            } else {
                ClientError::io(path, e)
            });
        }
        placed.push(path);
    }
    sync_dir(dir).map_err(|e| ClientError::io(dir, e))?;
    Ok(files.iter().map(|f| dir.join(&f.name)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_format::{sample::default_parties, sample_unit, FileKind};

    fn plan() -> (Vec<UnitFile>, OfficeNumber, OfficeNumber, FileSeq) {
        let (cm, provider) = default_parties();
        let seq: FileSeq = "20250425090000".parse().unwrap();
        let files = sample_unit(
            FileKind::Upplan,
            "202505".parse().unwrap(),
            &cm,
            &provider,
            &seq,
        )
        .unwrap();
        let files: Vec<UnitFile> = files
            .into_iter()
            .map(|(n, b)| UnitFile {
                name: n.to_string(),
                bytes: b,
            })
            .collect();
        let first = FileName::parse(&files[0].name).unwrap();
        (files, first.sender, first.recipient, seq)
    }

    #[test]
    fn names_must_match_the_verified_header() {
        let (files, sender, recipient, seq) = plan();
        assert!(check_names(&files, &sender, &recipient, &seq).is_empty());
        // A different recipient (us), sender or 連番 than the header: every file refused.
        let codes = |r: Vec<RejectReason>| r.into_iter().map(|r| r.code).collect::<Vec<_>>();
        let other: FileSeq = "20250425090001".parse().unwrap();
        let got = codes(check_names(&files, &sender, &recipient, &other));
        assert_eq!(got.len(), files.len());
        assert!(got.iter().all(|c| c == "file_name_seq"), "{got:?}");
        let got = codes(check_names(&files, &recipient, &recipient, &seq));
        assert!(got.iter().all(|c| c == "file_name_sender"), "{got:?}");
        let got = codes(check_names(&files, &sender, &sender, &seq));
        assert!(got.iter().all(|c| c == "file_name_recipient"), "{got:?}");
        // Names that are not of the standard, or twice in one unit.
        let mut bad = files.clone();
        bad.push(UnitFile {
            name: "notes.txt".into(),
            bytes: vec![],
        });
        bad.push(files[0].clone());
        let got = codes(check_names(&bad, &sender, &recipient, &seq));
        assert_eq!(got, ["file_name", "duplicate_file_name"]);
    }

    #[test]
    fn unsafe_names_are_refused_before_any_path_is_joined() {
        for n in [
            "",
            "..",
            "../x.csv",
            "a/b.csv",
            "a\\b.csv",
            "C:x.csv",
            "x.csv:stream",
            "CON",
            "con.csv",
            "Lpt1.txt",
            "x.csv.",
            "x.csv ",
            ".hidden",
            "a\u{0}b",
        ] {
            assert!(unsafe_name(n).is_some(), "{n:?} must be refused");
        }
        assert!(unsafe_name("UPPLAN_202505_1310100010_1310100028_20250425090000.csv").is_none());
        assert!(unsafe_name("console.csv").is_none());
        let (sender, recipient) = default_parties();
        let files = vec![UnitFile {
            name: "x.csv:zone".into(),
            bytes: vec![],
        }];
        let r = check_names(
            &files,
            &sender.0,
            &recipient.0,
            &"20250425090000".parse().unwrap(),
        );
        assert_eq!(r[0].code, "unsafe_file_name");
        let dir = tempfile::tempdir().unwrap();
        assert!(land_unit(dir.path(), &files).is_err());
    }

    #[test]
    fn landing_never_replaces_different_content_and_is_idempotent() {
        let (files, ..) = plan();
        let dir = tempfile::tempdir().unwrap();
        let written = land_unit(dir.path(), &files).unwrap();
        assert_eq!(written.len(), files.len());
        for f in &files {
            assert_eq!(fs::read(dir.path().join(&f.name)).unwrap(), f.bytes);
        }
        // The same unit again: fine, nothing changes, no temp files left.
        land_unit(dir.path(), &files).unwrap();
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut want: Vec<_> = files.iter().map(|f| f.name.clone()).collect();
        want.sort();
        assert_eq!(names, want);

        // A different file already there under one name: refused, nothing written at all.
        let other = tempfile::tempdir().unwrap();
        fs::write(other.path().join(&files[1].name), b"someone else's").unwrap();
        let err = land_unit(other.path(), &files).unwrap_err();
        assert!(matches!(err, ClientError::ImportConflict(_)), "{err}");
        assert_eq!(
            fs::read(other.path().join(&files[1].name)).unwrap(),
            b"someone else's"
        );
        let left: Vec<_> = fs::read_dir(other.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no other file and no temp file");
    }
}
