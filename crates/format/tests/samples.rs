//! Every generated sample is valid, in both CSV versions, and forms allowed 送信単位.

use renkei_format::sample::{can_sample, default_parties, sample_kinds};
use renkei_format::CsvVersion;
use renkei_format::{read_file, sample_all, sample_unit, validate_file, validate_units, FileKind};

fn months() -> Vec<renkei_ids::YearMonth> {
    ["202302", "202412", "202503", "202504", "202602", "202801"]
        .iter()
        .map(|m| m.parse().unwrap())
        .collect()
}

#[test]
fn every_sample_unit_validates_without_findings() {
    let (cm, provider) = default_parties();
    let seq = "20250325120000".parse().unwrap();
    for month in months() {
        for kind in sample_kinds() {
            let (from, to) = if kind.sent_by_provider() {
                (&provider, &cm)
            } else {
                (&cm, &provider)
            };
            if !can_sample(kind, CsvVersion::for_month(month)) {
                // 第3表 and the 介護予防 files exist from 202407 only.
                assert!(
                    sample_unit(kind, month, from, to, &seq).is_err(),
                    "{month} {kind}"
                );
                continue;
            }
            let files = sample_unit(kind, month, from, to, &seq).unwrap();
            let reports: Vec<_> = files
                .iter()
                .map(|(n, b)| validate_file(&n.to_string(), b))
                .collect();
            for r in &reports {
                assert!(r.findings.is_empty(), "{month} {kind}: {:#?}", r.findings);
                assert!(r.records > 0);
            }
            let u = validate_units(&reports);
            assert!(u.findings.is_empty(), "{month} {kind}: {:#?}", u.findings);
            assert_eq!(u.units.len(), 1);
            assert!(u.units[0].combination.is_some());
            assert!(u.units[0].missing.is_empty());
        }
    }
}

#[test]
fn a_unit_lacking_a_member_names_what_is_missing() {
    let (cm, provider) = default_parties();
    let files = sample_unit(
        FileKind::Upplan,
        "202505".parse().unwrap(),
        &cm,
        &provider,
        &"20250425090000".parse().unwrap(),
    )
    .unwrap();
    // Only 第6表 of 第6表 + 第7表 + 補足: the other two are missing (F501).
    let reports: Vec<_> = files
        .iter()
        .filter(|(n, _)| n.kind == FileKind::Upplan)
        .map(|(n, b)| validate_file(&n.to_string(), b))
        .collect();
    let u = validate_units(&reports);
    assert_eq!(u.units[0].combination, None);
    assert_eq!(
        u.units[0].missing,
        vec![FileKind::Upsikyu, FileKind::Uphosoku]
    );
    assert!(u.findings.iter().any(|f| f.code.as_str() == "F501"));
}

#[test]
fn sample_all_gives_units_in_import_order_and_plan_matches_results() {
    let (cm, provider) = default_parties();
    let files = sample_all(
        "202505".parse().unwrap(),
        &cm,
        &provider,
        &"20250425090000".parse().unwrap(),
    )
    .unwrap();
    let reports: Vec<_> = files
        .iter()
        .map(|(n, b)| validate_file(&n.to_string(), b))
        .collect();
    assert!(reports.iter().all(|r| r.findings.is_empty()));
    let u = validate_units(&reports);
    assert!(u.findings.is_empty(), "{:#?}", u.findings);
    assert_eq!(u.units.len(), 6);
    let seqs: Vec<_> = u.units.iter().map(|u| u.seq.clone()).collect();
    let mut sorted = seqs.clone();
    sorted.sort();
    assert_eq!(seqs, sorted);
}

#[test]
fn unchanged_sample_round_trips_byte_identical() {
    let (cm, provider) = default_parties();
    let files = sample_unit(
        FileKind::Up1kyo,
        "202505".parse().unwrap(),
        &cm,
        &provider,
        &"20250425090000".parse().unwrap(),
    )
    .unwrap();
    for (name, bytes) in files {
        let doc = read_file(&name.to_string(), &bytes).unwrap();
        assert_eq!(doc.csv.to_bytes(), bytes);
    }
}

#[test]
fn prevention_samples_exist_from_202407_only() {
    let (cm, provider) = default_parties();
    let seq = "20250425090000".parse().unwrap();
    for kind in [FileKind::Upkihon, FileKind::Upyobo, FileKind::Dltkihon] {
        assert!(sample_unit(kind, "202505".parse().unwrap(), &cm, &provider, &seq).is_ok());
        assert!(sample_unit(kind, "202503".parse().unwrap(), &cm, &provider, &seq).is_err());
    }
    // The family-structure image is a JPEG: no sample.
    assert!(sample_unit(
        FileKind::UpkihonImage,
        "202505".parse().unwrap(),
        &cm,
        &provider,
        &seq
    )
    .is_err());
    let kihon = sample_unit(
        FileKind::UpkihonSub2,
        "202505".parse().unwrap(),
        &cm,
        &provider,
        &seq,
    )
    .unwrap();
    let kinds: Vec<FileKind> = kihon.iter().map(|(n, _)| n.kind).collect();
    assert_eq!(
        kinds,
        [
            FileKind::Upkihon,
            FileKind::UpkihonSub1,
            FileKind::UpkihonSub2
        ]
    );
}

#[test]
fn duplicate_lines_are_reported_at_each_repeat_with_the_line_they_repeat() {
    let (cm, provider) = default_parties();
    let (name, bytes) = sample_unit(
        FileKind::Upplan,
        "202505".parse().unwrap(),
        &cm,
        &provider,
        &"20250425090000".parse().unwrap(),
    )
    .unwrap()
    .remove(0);
    let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    assert!(lines.len() >= 3);
    // Line 2 again at the end (far from the original), line 1 twice more right after it.
    let mut doubled = Vec::new();
    for l in &lines {
        doubled.extend_from_slice(l);
    }
    doubled.extend_from_slice(lines[1]);
    doubled.extend_from_slice(lines[0]);
    doubled.extend_from_slice(lines[0]);
    let n = lines.len() as u64;
    let r = validate_file(&name.to_string(), &doubled);
    let dups: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code.to_string() == "F318")
        .map(|f| (f.line, f.ja.clone()))
        .collect();
    assert_eq!(
        dups.iter().map(|d| d.0).collect::<Vec<_>>(),
        vec![Some(n + 1), Some(n + 2), Some(n + 3)],
        "{dups:#?}"
    );
    assert!(dups[0].1.starts_with("2行目と同じ"), "{}", dups[0].1);
    assert!(dups[1].1.starts_with("1行目と同じ"), "{}", dups[1].1);
    assert!(dups[2].1.starts_with("1行目と同じ"), "{}", dups[2].1);
    // Only warnings: the file still conforms, and the original has no F318 at all.
    assert!(r.is_conforming(), "{:#?}", r.findings);
    let clean = validate_file(&name.to_string(), &bytes);
    assert!(clean.findings.is_empty(), "{:#?}", clean.findings);
}
