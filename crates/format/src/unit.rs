//! 送信単位: the files that share one route and ファイル連番, their allowed combinations, the
//! keys that must agree inside a unit, and the order a receiver imports units in.

use std::collections::{BTreeMap, BTreeSet};

use renkei_ids::{FileSeq, OfficeNumber};
use serde::Serialize;

use crate::finding::{Code, Finding, Sink};
use crate::kind::{CsvVersion, FileKind};
use crate::validate::Report;

/// What a 送信単位 carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Combination {
    /// 第1表 + 第2表 (+ 第3表 from 202407) + 利用者補足情報 (`000000`).
    CarePlan,
    /// 第6表 + 第7表 + 利用者補足情報 (month).
    ServiceUse,
    /// 第1表_削除 alone.
    CarePlanDelete,
    /// 第6表_削除 alone.
    ServiceUseDelete,
    /// 実績情報 alone.
    Results,
    /// 実績情報_削除 alone.
    ResultsDelete,
    /// 介護予防: 利用者基本情報 (with its 別表 and images) and/or 支援計画書 (with its 別表).
    Prevention,
    /// 介護予防: a delete file alone.
    PreventionDelete,
}

/// One file of a unit.
#[derive(Debug, Clone, Serialize)]
pub struct UnitFile {
    /// File name as given to the validator.
    pub file: String,
    /// Its kind.
    pub kind: FileKind,
}

/// One 送信単位.
#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    /// 送信元.
    pub sender: OfficeNumber,
    /// 送信先.
    pub recipient: OfficeNumber,
    /// ファイル連番.
    pub seq: FileSeq,
    /// Files, in name order.
    pub files: Vec<UnitFile>,
    /// The combination, when it is one the standard allows.
    pub combination: Option<Combination>,
    /// Kinds the standard requires in this unit that are absent (the F501 "lacks" finding):
    /// a watch folder waits for these while the care software may still be writing them.
    pub missing: Vec<FileKind>,
}

/// Units in import order and the findings about them.
#[derive(Debug, Clone, Serialize)]
pub struct UnitsReport {
    /// Units sorted by ファイル連番 (then route): the order a receiver imports them in.
    pub units: Vec<Unit>,
    /// Findings about units (combination, keys, versions) and between files.
    pub findings: Vec<Finding>,
}

/// Group validated files into 送信単位 by (送信元, 送信先, ファイル連番), check each unit, and
/// compare 予定 with 実績 across units. Files whose name did not parse are left out.
pub fn validate_units(reports: &[Report]) -> UnitsReport {
    let mut groups: BTreeMap<(FileSeq, OfficeNumber, OfficeNumber), Vec<&Report>> = BTreeMap::new();
    for r in reports {
        if let Some(n) = &r.name {
            groups
                .entry((n.seq.clone(), n.sender.clone(), n.recipient.clone()))
                .or_default()
                .push(r);
        }
    }
    let mut units = Vec::new();
    let mut findings = Vec::new();
    for ((seq, sender, recipient), mut files) in groups {
        files.sort_by(|a, b| a.file.cmp(&b.file));
        let label = files[0].file.clone();
        let mut sink = Sink::new(label);
        let mut missing = Vec::new();
        let combination = check_unit(&mut sink, &files, &mut missing);
        findings.extend(sink.finish());
        units.push(Unit {
            sender,
            recipient,
            seq,
            files: files
                .iter()
                .filter_map(|r| {
                    Some(UnitFile {
                        file: r.file.clone(),
                        kind: r.name.as_ref()?.kind,
                    })
                })
                .collect(),
            combination,
            missing,
        });
    }
    plan_vs_results(reports, &mut findings);
    UnitsReport { units, findings }
}

fn kinds_text(k: &BTreeSet<FileKind>) -> String {
    k.iter().map(|k| k.prefix()).collect::<Vec<_>>().join(", ")
}

fn check_unit(
    sink: &mut Sink,
    files: &[&Report],
    missing_out: &mut Vec<FileKind>,
) -> Option<Combination> {
    use FileKind::*;
    let mut kinds = BTreeSet::new();
    for r in files {
        let k = r.name.as_ref().map(|n| n.kind)?;
        if !kinds.insert(k) && k != UpkihonImage {
            sink.push(
                Code::F503,
                None,
                None,
                format!("{} が同じ送信単位に2つ以上あります", k.prefix()),
                format!("{} appears more than once in the unit", k.prefix()),
            );
        }
        if !r.is_conforming() && r.version.is_none() {
            sink.push(
                Code::F505,
                None,
                None,
                format!(
                    "{} は読み取れないため、送信単位のキー照合から外しました",
                    r.file
                ),
                format!(
                    "{} could not be read and was left out of the key checks",
                    r.file
                ),
            );
        }
    }
    let versions: BTreeSet<CsvVersion> = files.iter().filter_map(|r| r.version).collect();
    if versions.len() > 1 {
        sink.push(
            Code::F504,
            None,
            None,
            format!(
                "送信単位内でCSVバージョンが違います（{}）",
                versions
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "files of one unit use different CSV versions".to_owned(),
        );
    }
    let v = versions
        .iter()
        .next_back()
        .copied()
        .unwrap_or(CsvVersion::V202407);
    let hosoku_month = files
        .iter()
        .find(|r| r.name.as_ref().is_some_and(|n| n.kind == Uphosoku))
        .and_then(|r| r.name.as_ref()?.month);
    let (combo, required, allowed): (Combination, Vec<FileKind>, Vec<FileKind>) =
        if kinds.len() == 1 && kinds.iter().all(|k| k.is_delete() || *k == Upjsk) {
            let k = *kinds.iter().next()?;
            let c = match k {
                Dlt1kyo => Combination::CarePlanDelete,
                Dltplan => Combination::ServiceUseDelete,
                Upjsk => Combination::Results,
                Dltjsk => Combination::ResultsDelete,
                _ => Combination::PreventionDelete,
            };
            (c, vec![k], vec![k])
        } else if kinds.iter().any(|k| matches!(k, Upplan | Upsikyu))
            || (kinds.contains(&Uphosoku) && hosoku_month.is_some())
        {
            (
                Combination::ServiceUse,
                vec![Upplan, Upsikyu, Uphosoku],
                vec![Upplan, Upsikyu, Uphosoku],
            )
        } else if kinds
            .iter()
            .any(|k| matches!(k, Up1kyo | Up2kyo | Up3kyo | Uphosoku))
        {
            let mut req = vec![Up1kyo, Up2kyo, Uphosoku];
            if v == CsvVersion::V202407 {
                req.push(Up3kyo);
            }
            (
                Combination::CarePlan,
                req,
                vec![Up1kyo, Up2kyo, Up3kyo, Uphosoku],
            )
        } else {
            let mut req = Vec::new();
            if kinds
                .iter()
                .any(|k| matches!(k, UpkihonSub1 | UpkihonSub2 | UpkihonImage))
            {
                req.push(Upkihon);
            }
            if kinds.contains(&UpyoboSub) {
                req.push(Upyobo);
            }
            if req.is_empty() {
                req.push(if kinds.contains(&Upkihon) {
                    Upkihon
                } else {
                    Upyobo
                });
            }
            (
                Combination::Prevention,
                req,
                vec![
                    Upkihon,
                    UpkihonSub1,
                    UpkihonSub2,
                    UpkihonImage,
                    Upyobo,
                    UpyoboSub,
                ],
            )
        };
    let missing: BTreeSet<FileKind> = required
        .iter()
        .copied()
        .filter(|k| !kinds.contains(k))
        .collect();
    let extra: BTreeSet<FileKind> = kinds
        .iter()
        .copied()
        .filter(|k| !allowed.contains(k))
        .collect();
    let mut ok = true;
    if !extra.is_empty() {
        ok = false;
        sink.push(Code::F501, None, None,
            format!("{} は {} と同じ送信単位（同じファイル連番）で送れません。削除ファイルと実績は単独で送ります", kinds_text(&extra), kinds_text(&kinds.iter().copied().filter(|k| !extra.contains(k)).collect())),
            format!("{} cannot travel in one unit with the other files; delete and result files travel alone", kinds_text(&extra)));
    }
    if !missing.is_empty() {
        ok = false;
        missing_out.extend(missing.iter().copied());
        sink.push(
            Code::F501,
            None,
            None,
            format!(
                "送信単位に {} がありません（{} と同じファイル連番で送ります）",
                kinds_text(&missing),
                kinds_text(&kinds)
            ),
            format!(
                "the unit lacks {} (sent with {} under one file sequence)",
                kinds_text(&missing),
                kinds_text(&kinds)
            ),
        );
    }
    check_keys(sink, files, combo);
    ok.then_some(combo)
}

fn check_keys(sink: &mut Sink, files: &[&Report], combo: Combination) {
    use FileKind::*;
    // (parent, the kinds whose keys must appear in the parent); 介護予防: 別表1/2 carry the
    // 利用者基本情報's 相談日, the 支援計画 別表 the 支援計画書's 計画作成(変更)日 (S2 notes).
    let families: &[(FileKind, &[FileKind])] = match combo {
        Combination::CarePlan => &[(Up1kyo, &[Up2kyo, Up3kyo, Uphosoku])],
        Combination::ServiceUse => &[(Upplan, &[Upsikyu, Uphosoku])],
        Combination::Prevention => &[
            (Upkihon, &[UpkihonSub1, UpkihonSub2]),
            (Upyobo, &[UpyoboSub]),
        ],
        _ => return,
    };
    for (parent_kind, children) in families {
        check_family(sink, files, combo, *parent_kind, children);
    }
}

fn check_family(
    sink: &mut Sink,
    files: &[&Report],
    combo: Combination,
    parent_kind: FileKind,
    children: &[FileKind],
) {
    use FileKind::*;
    let Some(parent) = files
        .iter()
        .find(|r| r.name.as_ref().is_some_and(|n| n.kind == parent_kind))
    else {
        return;
    };
    if combo == Combination::ServiceUse {
        let pm = parent.name.as_ref().and_then(|n| n.month);
        for r in files {
            let m = r.name.as_ref().and_then(|n| n.month);
            if m != pm {
                let show = |m: Option<renkei_ids::YearMonth>| {
                    m.map_or("000000".to_owned(), |m| m.to_string())
                };
                sink.push(
                    Code::F502,
                    None,
                    None,
                    format!(
                        "{} の年月 {} が {} の対象年月 {} と違います",
                        r.file,
                        show(m),
                        parent.file,
                        show(pm)
                    ),
                    format!(
                        "{} has month {}, {} has {}",
                        r.file,
                        show(m),
                        parent.file,
                        show(pm)
                    ),
                );
            }
        }
    }
    for r in files {
        let is_child = r.name.as_ref().is_some_and(|n| children.contains(&n.kind));
        if r.file == parent.file || r.version.is_none() || !is_child {
            continue;
        }
        for k in r
            .facts
            .keys
            .iter()
            .filter(|k| !parent.facts.keys.contains(k))
            .take(20)
        {
            sink.push(
                Code::F502,
                None,
                None,
                format!(
                    "{} の 保険者番号 {}・被保険者番号 {}・{} {} が {} にありません",
                    r.file,
                    k.insurer,
                    k.insured,
                    match parent_kind {
                        Up1kyo => "居宅サービス計画作成（変更）日",
                        Upkihon => "相談日",
                        Upyobo => "計画作成(変更)日",
                        _ => "対象年月",
                    },
                    k.key,
                    parent.file
                ),
                format!(
                    "{}: insurer {} insured {} key {} has no record in {}",
                    r.file, k.insurer, k.insured, k.key, parent.file
                ),
            );
        }
    }
    if combo == Combination::ServiceUse {
        if let Some(sik) = files
            .iter()
            .find(|r| r.name.as_ref().is_some_and(|n| n.kind == Upsikyu))
        {
            let plan = &parent.facts.counts;
            let mut n = 0;
            for (key, pc) in plan.iter().filter(|(k, _)| !k.2.is_empty()) {
                let sc = sik.facts.counts.get(key).copied().unwrap_or(0);
                if sc != *pc && n < 20 {
                    n += 1;
                    sink.push(Code::F401, None, None,
                        format!("被保険者 {}・事業所 {}・サービスコード {}: 第6表の回数の合計 {pc} と第7表の回数 {sc} が違います", key.0, key.1, key.2),
                        format!("insured {} office {} code {}: table 6 counts sum to {pc}, table 7 says {sc}", key.0, key.1, key.2));
                }
            }
        }
    }
}

/// 予定 (UPPLAN from the care manager) vs 実績 (UPJSK from the provider) for the same user and
/// month: lines of the provider that appear on one side only. Warnings: plans change.
fn plan_vs_results(reports: &[Report], findings: &mut Vec<Finding>) {
    // Latest plan per (care manager, provider, month) by ファイル連番.
    let mut plans: BTreeMap<(String, String, String), &Report> = BTreeMap::new();
    for r in reports {
        let Some(n) = r
            .name
            .as_ref()
            .filter(|n| n.kind == FileKind::Upplan && r.version.is_some())
        else {
            continue;
        };
        let key = (
            n.sender.to_string(),
            n.recipient.to_string(),
            n.month.map(|m| m.to_string()).unwrap_or_default(),
        );
        let newer = plans
            .get(&key)
            .is_none_or(|p| p.name.as_ref().is_some_and(|pn| pn.seq < n.seq));
        if newer {
            plans.insert(key, r);
        }
    }
    for r in reports {
        let Some(n) = r
            .name
            .as_ref()
            .filter(|n| n.kind == FileKind::Upjsk && r.version.is_some())
        else {
            continue;
        };
        let key = (
            n.recipient.to_string(),
            n.sender.to_string(),
            n.month.map(|m| m.to_string()).unwrap_or_default(),
        );
        let Some(plan) = plans.get(&key) else {
            continue;
        };
        let provider = n.sender.as_str();
        let result_lines: Vec<_> = r.facts.lines.iter().collect();
        let users: BTreeSet<&str> = result_lines.iter().map(|l| l.0).collect();
        let planned: BTreeSet<_> = plan
            .facts
            .lines
            .iter()
            .filter(|l| l.1 == provider && users.contains(l.0))
            .collect();
        let actual: BTreeSet<_> = result_lines
            .into_iter()
            .filter(|l| l.1 == provider)
            .collect();
        let mut sink = Sink::new(r.file.clone());
        for l in actual.difference(&planned) {
            sink.push(
                Code::F402,
                None,
                None,
                format!(
                    "実績 {} {} {} は予定（{}）にありません",
                    l.0, l.3, l.2, plan.file
                ),
                format!(
                    "result {} {} {} is not in the plan {}",
                    l.0, l.3, l.2, plan.file
                ),
            );
        }
        for l in planned.difference(&actual) {
            sink.push(
                Code::F403,
                None,
                None,
                format!(
                    "予定 {} {} {} の実績がありません（{}）",
                    l.0, l.3, l.2, plan.file
                ),
                format!(
                    "planned {} {} {} has no result ({})",
                    l.0, l.3, l.2, plan.file
                ),
            );
        }
        findings.extend(sink.finish());
    }
}
