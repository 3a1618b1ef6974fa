//! Preparing what the user picked: group files into 送信単位 by ファイル連番 and validate every
//! unit with `renkei-format` before anything leaves the machine.

use std::collections::BTreeSet;

use renkei_format::layout::Role;
use renkei_format::{validate_file, validate_units, FileName, Finding, Severity};
use renkei_ids::{FileSeq, OfficeNumber};
use sha2::{Digest, Sha256};

use crate::state::UnitFile;
use crate::ClientError;

/// One 送信単位 ready to be queued: files in name order, with the validator's findings.
#[derive(Debug, Clone)]
pub struct PreparedUnit {
    /// 送信先 named in the file names.
    pub recipient: OfficeNumber,
    /// ファイル連番.
    pub seq: FileSeq,
    /// Files, in name order.
    pub files: Vec<UnitFile>,
    /// Every finding about the files and the unit.
    pub findings: Vec<Finding>,
    /// 対象年月 named by the files (YYYYMM, space separated).
    pub months: String,
    /// 被保険者番号 in the files (space separated), for history search.
    pub clients: String,
    /// Kinds the unit lacks to be a combination the standard allows (F501).
    pub missing: Vec<renkei_format::FileKind>,
}

impl PreparedUnit {
    /// The findings that block sending.
    pub fn errors(&self) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .collect()
    }

    /// Whether the only thing wrong is that members of the unit are absent (files the care
    /// software may still be writing): every error is F501 and some kind is missing.
    pub fn only_lacks_members(&self) -> bool {
        let errors = self.errors();
        !self.missing.is_empty()
            && !errors.is_empty()
            && errors.iter().all(|f| f.code == renkei_format::Code::F501)
    }

    /// SHA-256 over the names and contents: the "same content" of the never-send-twice rule.
    pub fn content_sha256(&self) -> String {
        content_sha256(&self.files)
    }

    /// File names.
    pub fn names(&self) -> Vec<String> {
        self.files.iter().map(|f| f.name.clone()).collect()
    }
}

/// SHA-256 over `u32 name_len || name || u64 len || bytes` of each file.
pub fn content_sha256(files: &[UnitFile]) -> String {
    hex::encode(Sha256::digest(crate::state::encode_files(files)))
}

/// Plain-Japanese lines for findings: `ファイル名 3行目 項目「被保険者番号」: …`.
pub fn describe_findings(findings: &[&Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            let mut s = f.file.clone();
            if let Some(l) = f.line {
                s.push_str(&format!(" {l}行目"));
            }
            if let Some(i) = &f.item {
                s.push_str(&format!(" 項目「{}」(No.{})", i.name, i.no));
            }
            format!("{s}: {} [{}]", f.ja, f.code)
        })
        .collect()
}

/// Group `files` into units and validate them. Every file must be named by the standard,
/// sent by `own_office`; files that do not parse are an error naming them.
pub fn prepare_units(
    files: Vec<UnitFile>,
    own_office: &OfficeNumber,
) -> Result<Vec<PreparedUnit>, ClientError> {
    let mut bad = Vec::new();
    let mut reports = Vec::new();
    let mut seen = BTreeSet::new();
    for f in &files {
        if !seen.insert(f.name.clone()) {
            bad.push(format!(
                "{}: 同じファイルが2回選ばれています / the same file is chosen twice",
                f.name
            ));
            continue;
        }
        match FileName::parse(&f.name) {
            Err(e) => bad.push(format!("{}: {e}", f.name)),
            Ok(n) if &n.sender != own_office => bad.push(format!(
                "{}: 送信元の事業所番号 {} がこの事業所（{own_office}）ではありません / the sender in the name is not this office",
                f.name, n.sender
            )),
            Ok(_) => reports.push(validate_file(&f.name, &f.bytes)),
        }
    }
    if !bad.is_empty() {
        return Err(ClientError::Invalid(bad));
    }
    let grouped = validate_units(&reports);
    let mut out = Vec::new();
    for unit in grouped.units {
        let names: BTreeSet<&str> = unit.files.iter().map(|f| f.file.as_str()).collect();
        let mut unit_files: Vec<UnitFile> = files
            .iter()
            .filter(|f| names.contains(f.name.as_str()))
            .cloned()
            .collect();
        unit_files.sort_by(|a, b| a.name.cmp(&b.name));
        let mut findings: Vec<Finding> = reports
            .iter()
            .filter(|r| names.contains(r.file.as_str()))
            .flat_map(|r| r.findings.iter().cloned())
            .collect();
        findings.extend(
            grouped
                .findings
                .iter()
                .filter(|f| names.contains(f.file.as_str()))
                .cloned(),
        );
        let months: BTreeSet<String> = reports
            .iter()
            .filter(|r| names.contains(r.file.as_str()))
            .filter_map(|r| r.name.as_ref()?.month.map(|m| m.to_string()))
            .collect();
        let clients = clients_in(&unit_files);
        out.push(PreparedUnit {
            recipient: unit.recipient,
            seq: unit.seq,
            files: unit_files,
            findings,
            months: months.into_iter().collect::<Vec<_>>().join(" "),
            clients,
            missing: unit.missing,
        });
    }
    Ok(out)
}

/// 被保険者番号 (and names where the file has them) found in the files, for search and for the
/// inbox's "client" column.
pub fn clients_in(files: &[UnitFile]) -> String {
    let mut set = BTreeSet::new();
    for f in files {
        if let Ok(doc) = renkei_format::read_file(&f.name, &f.bytes) {
            for r in 0..doc.csv.len() {
                let insured = doc.role(r, Role::Insured);
                if !insured.is_empty() {
                    set.insert(insured.to_owned());
                }
                let name = doc.role(r, Role::Name);
                if !name.is_empty() {
                    set.insert(name.to_owned());
                }
            }
        }
    }
    set.into_iter().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_format::{sample::default_parties, sample_unit, FileKind};

    fn sample(kind: FileKind, seq: &str) -> Vec<UnitFile> {
        let (cm, provider) = default_parties();
        sample_unit(
            kind,
            "202505".parse().unwrap(),
            &cm,
            &provider,
            &seq.parse().unwrap(),
        )
        .unwrap()
        .into_iter()
        .map(|(n, b)| UnitFile {
            name: n.to_string(),
            bytes: b,
        })
        .collect()
    }

    #[test]
    fn groups_by_seq_and_validates() {
        let (cm, _) = default_parties();
        let mut files = sample(FileKind::Upplan, "20250425090000");
        files.extend(sample(FileKind::Upplan, "20250425090100"));
        let office = FileName::parse(&files[0].name).unwrap().sender;
        let _ = cm;
        let units = prepare_units(files, &office).unwrap();
        assert_eq!(units.len(), 2);
        for u in &units {
            assert!(u.errors().is_empty(), "{:?}", u.findings);
            assert_eq!(u.files.len(), 3);
            assert_eq!(u.months, "202505");
            assert!(!u.clients.is_empty());
        }
        assert_ne!(units[0].content_sha256(), units[1].content_sha256());
    }

    #[test]
    fn foreign_sender_and_bad_names_are_refused() {
        let files = sample(FileKind::Upplan, "20250425090000");
        let other: OfficeNumber = "4700000001".parse().unwrap();
        let err = prepare_units(files.clone(), &other).unwrap_err();
        assert!(err.to_string().contains("この事業所"), "{err}");
        let err = prepare_units(
            vec![UnitFile {
                name: "memo.txt".into(),
                bytes: vec![],
            }],
            &other,
        )
        .unwrap_err();
        assert!(matches!(err, ClientError::Invalid(_)));
    }

    #[test]
    fn broken_content_gives_row_and_item() {
        let mut files = sample(FileKind::Upplan, "20250425090000");
        let office = FileName::parse(&files[0].name).unwrap().sender;
        // Break the 被保険者番号 field of the first record of the 第6表 file.
        let f = files
            .iter_mut()
            .find(|f| f.name.starts_with("UPPLAN"))
            .unwrap();
        let text = String::from_utf8_lossy(&f.bytes).into_owned();
        let broken = text.replacen(",\"", ",\"X", 1);
        f.bytes = broken.into_bytes();
        let units = prepare_units(files, &office).unwrap();
        let errors = units[0].errors();
        assert!(!errors.is_empty());
        let lines = describe_findings(&errors);
        assert!(lines.iter().any(|l| l.contains("行目")), "{lines:?}");
    }
}
