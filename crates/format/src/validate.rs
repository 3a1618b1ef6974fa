//! Validation of one file: name, bytes, records, items, and the rules between them.

use std::collections::{BTreeMap, BTreeSet};

use renkei_ids::{
    InsuredNumber, InsurerNumber, OfficeNumber, ServiceCode, ServiceKindCode, YearMonth,
};
use serde::Serialize;

use crate::finding::{Code, Finding, Severity, Sink};
use crate::kind::{CsvVersion, FileKind, VersionProblem};
use crate::layout::{layout, registry, Item, ItemType, Layout, Required, Role};
use crate::name::FileName;
use crate::reader::{scan, RecordView};
use crate::rules::RuleState;

/// The key that ties files of a 送信単位 together: 保険者番号 + 被保険者番号 + (対象年月 or
/// 居宅サービス計画作成（変更）日).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct UserKey {
    /// 保険者番号.
    pub insurer: String,
    /// 被保険者番号.
    pub insured: String,
    /// 対象年月 (`YYYYMM`) or 作成（変更）日 (`YYYYMMDD`).
    pub key: String,
}

/// What one file says that checks across files need (bounded in size).
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// User keys of the records.
    pub(crate) keys: BTreeSet<UserKey>,
    /// 第6表: Σ サービス回数, 第7表: 回数／日数 of detail rows, by (被保険者番号, 事業所, サービスコード).
    pub(crate) counts: BTreeMap<(String, String, String), u64>,
    /// 第6表 lines `被保険者番号␟事業所␟サービスコード␟利用日`, for 予定 vs 実績 (one allocation each).
    pub(crate) lines: crate::rules::LineSet,
}

/// Entries kept in [`Facts`] per file; more are dropped (the cross-file checks then see part).
pub const MAX_FACTS: usize = 200_000;

/// The result of validating one file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The file name as given.
    pub file: String,
    /// The parsed name, when it follows the standard.
    pub name: Option<FileName>,
    /// The file kind (from the name, or recognised from the contents).
    pub kind: Option<FileKind>,
    /// The CSV version of the records.
    pub version: Option<CsvVersion>,
    /// Records read.
    pub records: usize,
    /// Findings, file-level first, then by line.
    pub findings: Vec<Finding>,
    #[serde(skip)]
    pub(crate) facts: Facts,
}

impl Report {
    /// No finding of severity error.
    pub fn is_conforming(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Validate one file. `file` is the file name (a path is allowed; its last component is
/// parsed). Never panics; hostile input gives findings.
pub fn validate_file(file: &str, bytes: &[u8]) -> Report {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let mut sink = Sink::new(file);
    let name = match FileName::parse(base) {
        Ok(n) => {
            // The image's rule writes `.jpg`, its example `.JPG`: either case is accepted there.
            if !n.extension_upper && n.kind.is_csv() {
                sink.push(
                    Code::F003,
                    None,
                    None,
                    "ファイル名は大文字（例: UPPLAN_….CSV）で書きます",
                    "the standard writes names in upper case (UPPLAN_….CSV)",
                );
            }
            if n.sender == n.recipient {
                sink.push(
                    Code::F004,
                    None,
                    None,
                    format!("送信元と送信先が同じ事業所番号（{}）です", n.sender),
                    format!("sender and recipient are the same office ({})", n.sender),
                );
            }
            Some(n)
        }
        Err(e) => {
            sink.push(
                if e.element { Code::F002 } else { Code::F001 },
                None,
                None,
                e.ja,
                e.en,
            );
            None
        }
    };
    let kind = name.as_ref().map(|n| n.kind);
    if kind == Some(FileKind::UpkihonImage) {
        // The family-structure image is a JPEG: the standard gives it a name rule, no contents.
        sink.push(
            Code::F006,
            None,
            None,
            "家族構成の画像（JPEG）は内容を検査できないため、ファイル名とJPEG形式のみ検査しました",
            "the family-structure image (JPEG) has no layout; only its name and JPEG signature were checked",
        );
        if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            sink.push(
                Code::F306,
                None,
                None,
                "JPEG画像ではありません",
                "not a JPEG image",
            );
        }
        return Report {
            file: file.to_owned(),
            name,
            kind,
            version: None,
            records: 0,
            findings: sink.finish(),
            facts: Facts::default(),
        };
    }
    let mut checker = Checker::new(file, name.as_ref(), kind);
    let summary = scan(bytes, &mut sink, |r| checker.record(r));
    let mut findings = sink.finish();
    let version = checker.version;
    let kind = checker.kind;
    let facts = checker.finish(summary.fatal, &mut findings);
    findings.sort_by_key(|f| f.line.unwrap_or(0));
    Report {
        file: file.to_owned(),
        name,
        kind,
        version,
        records: summary.records,
        findings,
        facts,
    }
}

pub(crate) struct Checker<'n> {
    pub(crate) sink: Sink,
    pub(crate) name: Option<&'n FileName>,
    pub(crate) kind: Option<FileKind>,
    pub(crate) version: Option<CsvVersion>,
    pub(crate) layout: Option<&'static Layout>,
    first_version: Option<String>,
    pub(crate) first_month: Option<String>,
    started: bool,
    pub(crate) facts: Facts,
    pub(crate) rules: RuleState,
}

impl<'n> Checker<'n> {
    fn new(file: &str, name: Option<&'n FileName>, kind: Option<FileKind>) -> Self {
        Checker {
            sink: Sink::new(file),
            name,
            kind,
            version: None,
            layout: None,
            first_version: None,
            first_month: None,
            started: false,
            facts: Facts::default(),
            rules: RuleState::default(),
        }
    }

    /// Decide version and layout from the first record.
    fn start(&mut self, r: &RecordView<'_>) {
        self.started = true;
        let text = r.text(0).to_owned();
        if !text.starts_with(|c: char| c.is_ascii_digit()) && r.field_count > 1 {
            self.sink.push(
                Code::F320,
                Some(r.line),
                None,
                "見出し行のようです。標準仕様のCSVに見出し行はありません",
                "this looks like a header row; the standard's files have none",
            );
        }
        let parsed = CsvVersion::parse(&text);
        match &parsed {
            Ok(_) => {}
            Err(p) => {
                let (ja, en) = match p {
                    VersionProblem::Obsolete(which) => (
                        format!("CSVバージョン {text} は{which}の値で、現在の対象年月には使えません（202208 または 202407）"),
                        format!("CSV version {text} is obsolete; use 202208 or 202407"),
                    ),
                    VersionProblem::NotAVersion(hint) => (format!("CSVバージョン {text}: {hint}"), format!("CSV version {text}")),
                    VersionProblem::Malformed => (
                        format!("CSVバージョン {text:?} は YYYYMM 形式（202208 または 202407）ではありません"),
                        format!("CSV version {text:?} is not YYYYMM (202208 or 202407)"),
                    ),
                };
                self.sink
                    .push(Code::F302, Some(r.line), Some((1, "CSVバージョン")), ja, en);
            }
        }
        self.first_version = Some(text);
        // Fall back to the version the name implies, so the structure can still be checked.
        let version = parsed
            .clone()
            .ok()
            .or_else(|| self.name.map(|n| n.generation.version()));
        let kind = match self.kind {
            Some(k) => Some(k),
            None => {
                // Name unusable: recognise the kind from the record width.
                let v = version.unwrap_or(CsvVersion::V202407);
                let hits: Vec<&Layout> = registry()
                    .layouts()
                    .iter()
                    .filter(|l| l.version == v && l.width() == r.field_count)
                    .collect();
                (hits.len() == 1).then(|| hits[0].kinds[0])
            }
        };
        self.kind = kind;
        self.version = version;
        if let (Some(k), Some(v)) = (kind, version) {
            self.layout = layout(k, v);
            if self.layout.is_none() {
                self.sink.push(
                    Code::F007,
                    None,
                    None,
                    format!(
                        "{}（{}）はCSVバージョン {v} にはありません",
                        k.title_ja(),
                        k.prefix()
                    ),
                    format!("{} does not exist in CSV version {v}", k.prefix()),
                );
            }
            if let Some(n) = self.name {
                let nv = n.generation.version();
                if parsed.is_ok() && nv != v {
                    self.sink.push(Code::F005, None, None,
                        format!("ファイル名は {nv} の形式（サービス種類コード{}）ですが、CSVバージョンは {v} です", if nv == CsvVersion::V202407 { "あり" } else { "なし" }),
                        format!("the name follows the {nv} rule but the CSV version is {v}"));
                }
            }
        }
    }

    fn record(&mut self, r: &RecordView<'_>) {
        if !self.started {
            self.start(r);
        }
        let Some(l) = self.layout else { return };
        let v = r.text(0);
        if self.first_version.as_deref() != Some(v) && r.decoded(0) {
            self.sink.push(Code::F301, Some(r.line), Some((1, "CSVバージョン")),
                format!("CSVバージョン {v} が先頭レコードの {} と違います。1ファイルに複数のバージョンは混在できません", self.first_version.as_deref().unwrap_or("")),
                format!("CSV version {v} differs from the first record's; one file holds one version"));
        }
        if r.field_count != l.width() {
            let other = CsvVersion::ALL
                .into_iter()
                .filter(|o| Some(*o) != self.version)
                .find(|o| {
                    self.kind
                        .and_then(|k| layout(k, *o))
                        .is_some_and(|ol| ol.width() == r.field_count)
                });
            match other {
                Some(o) => self.sink.push(
                    Code::F304,
                    Some(r.line),
                    None,
                    format!(
                        "項目数 {} は CSVバージョン {o} のレイアウトです（{} は {} 項目）",
                        r.field_count,
                        l.version,
                        l.width()
                    ),
                    format!(
                        "{} fields is the {o} layout; {} has {}",
                        r.field_count,
                        l.version,
                        l.width()
                    ),
                ),
                None => self.sink.push(
                    Code::F110,
                    Some(r.line),
                    None,
                    format!(
                        "項目数が {} です。{}（{}）は {} 項目です",
                        r.field_count,
                        l.title,
                        l.version,
                        l.width()
                    ),
                    format!(
                        "{} fields; {} ({}) has {}",
                        r.field_count,
                        l.id,
                        l.version,
                        l.width()
                    ),
                ),
            }
            return;
        }
        for (i, item) in l.items.iter().enumerate() {
            if r.decoded(i) {
                check_item(&mut self.sink, r.line, item, r.text(i));
            }
        }
        crate::rules::record(self, l, r);
    }

    fn finish(mut self, fatal: bool, findings: &mut Vec<Finding>) -> Facts {
        if let (Some(l), false) = (self.layout, fatal) {
            crate::rules::finish(&mut self, l);
            if let (Some(v), Some(m)) = (self.version, self.file_month()) {
                if v < CsvVersion::for_month(m) {
                    self.sink.push(Code::F303, None, None,
                        format!("対象年月 {m} には CSVバージョン {} を使います（{v} は {} より前の月用）", CsvVersion::for_month(m), CsvVersion::V202407.applies_from()),
                        format!("service month {m} uses CSV version {}, not {v}", CsvVersion::for_month(m)));
                } else if v > CsvVersion::for_month(m) {
                    self.sink.push(Code::F319, None, None,
                        format!("対象年月 {m} に CSVバージョン {v} を使っています（{v} の適用開始は {}）", v.applies_from()),
                        format!("CSV version {v} applies from {}, the service month is {m}", v.applies_from()));
                }
            }
        }
        crate::rules::flush(&mut self);
        findings.extend(self.sink.finish());
        self.facts
    }

    /// The service month of the file: from the name, else from the first record.
    pub(crate) fn file_month(&self) -> Option<YearMonth> {
        self.name
            .and_then(|n| n.month)
            .or_else(|| self.first_month.as_deref().and_then(|m| m.parse().ok()))
    }

    pub(crate) fn push(
        &mut self,
        code: Code,
        line: u64,
        item: Option<&Item>,
        ja: String,
        en: String,
    ) {
        self.sink.push(
            code,
            Some(line),
            item.map(|i| (i.no, i.name.as_str())),
            ja,
            en,
        );
    }

    /// The item with `role` in the current layout.
    pub(crate) fn item(&self, role: Role) -> Option<&'static Item> {
        let l = self.layout?;
        l.pos(role).map(|p| &l.items[p])
    }
}

/// Length as the standard's 項目長 is counted here: MS932 bytes (half-width 1, full-width 2).
pub fn ms932_len(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if c.is_ascii() || ('\u{FF61}'..='\u{FF9F}').contains(&c) {
                1
            } else {
                2
            }
        })
        .sum()
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A real `YYYYMMDD` date.
pub fn is_date(s: &str) -> bool {
    s.len() == 8
        && digits(s)
        && s[..6].parse::<YearMonth>().is_ok_and(|m| {
            let d: u8 = s[6..].parse().unwrap_or(0);
            d >= 1 && d <= m.days()
        })
}

fn is_hhmm(s: &str) -> bool {
    s.len() == 4 && digits(s) && (s == "9999" || s == "2400" || (&s[..2] < "24" && &s[2..] < "60"))
}

/// The common valid shapes, checked without allocating (the slow path explains errors).
fn fast_ok(item: &Item, v: &str) -> bool {
    let (ty, b) = (item.ty, v.as_bytes());
    let upper_alnum = |b: &[u8]| {
        b.iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    };
    match ty {
        ItemType::Insurer => {
            b.len() == 6 && digits(v) && renkei_ids::modulus10_weight21(&v[..5]) == b[5] - b'0'
        }
        ItemType::Insured => b.len() == 10 && (digits(v) || (b[0] == b'H' && digits(&v[1..]))),
        ItemType::Office | ItemType::OfficeAll9 => {
            b.len() == 10 && digits(v) && (b"01"[..] <= b[..2] && b[..2] <= b"47"[..])
        }
        ItemType::ServiceCode | ItemType::SummaryCode => b.len() == 6 && upper_alnum(b),
        ItemType::ServiceKind => b.len() == 2 && upper_alnum(b),
        ItemType::Version => b.len() == 6 && digits(v),
        ItemType::Int => digits(v) && (item.len == 0 || b.len() <= usize::from(item.len)),
        ItemType::Date => is_date(v),
        ItemType::Month => b.len() == 6 && v.parse::<YearMonth>().is_ok(),
        ItemType::Hhmm => is_hhmm(v),
        ItemType::Date0 => v == "00000000" || is_date(v),
        ItemType::Month0 => v == "000000" || (b.len() == 6 && v.parse::<YearMonth>().is_ok()),
        ItemType::Text => item.len == 0 || (v.is_ascii() && b.len() <= usize::from(item.len)),
        ItemType::Code => item.allows_code(v),
        ItemType::Flags => b.len() == 31 && b.iter().all(|&c| c == b'0' || c == b'1'),
        ItemType::CodeText => {
            b.len() <= usize::from(item.len) && b.iter().all(|c| (0x21..0x7F).contains(c))
        }
        ItemType::Decimal => v
            .split_once('.')
            .is_some_and(|(a, d)| digits(a) && a.len() <= 3 && d.len() == 2 && digits(d)),
        ItemType::Postal => b.len() == 8 && b[3] == b'-' && digits(&v[..3]) && digits(&v[4..]),
        ItemType::Tel => {
            b.len() <= usize::from(item.len)
                && b.iter().all(|c| c.is_ascii_digit() || b"-()".contains(c))
        }
        ItemType::Unused => false,
    }
}

/// Check one value against its item (type, length, code table, required).
fn check_item(sink: &mut Sink, line: u64, item: &Item, v: &str) {
    let at = Some((item.no, item.name.as_str()));
    let name = &item.name;
    if v.is_empty() {
        match item.req {
            Required::Yes => sink.push(
                Code::F201,
                Some(line),
                at,
                format!("必須項目「{name}」が空です"),
                format!("required item {name} is empty"),
            ),
            Required::Warn => sink.push(
                Code::F202,
                Some(line),
                at,
                format!("「{name}」が空です（標準仕様では必須と読める項目です）"),
                format!("{name} is empty (the standard probably requires it)"),
            ),
            Required::No => {}
        }
        return;
    }
    if fast_ok(item, v) {
        return;
    }
    let mut e = |code: Code, ja: String, en: String| sink.push(code, Some(line), at, ja, en);
    let shown = if v.chars().count() > 40 {
        format!("{}…", v.chars().take(40).collect::<String>())
    } else {
        v.to_owned()
    };
    match item.ty {
        ItemType::Version => {
            if v.len() != 6 || !digits(v) {
                e(
                    Code::F205,
                    format!("「{shown}」は半角数字6桁ではありません"),
                    format!("{shown:?} is not 6 digits"),
                );
            }
        }
        ItemType::Insurer => {
            if v.len() != 6 || !digits(v) {
                e(
                    Code::F205,
                    format!("保険者番号「{shown}」は半角数字6桁ではありません"),
                    format!("insurer number {shown:?} is not 6 digits"),
                );
            } else if let Err(err) = v.parse::<InsurerNumber>() {
                e(Code::F210, err.ja, err.en);
            }
        }
        ItemType::Insured => {
            if let Err(err) = v.parse::<InsuredNumber>() {
                e(Code::F211, err.ja, err.en);
            }
        }
        ItemType::Date | ItemType::Date0 => {
            if !(is_date(v) || (item.ty == ItemType::Date0 && v == "00000000")) {
                e(
                    Code::F206,
                    format!("「{shown}」は正しい日付（YYYYMMDD）ではありません"),
                    format!("{shown:?} is not a valid YYYYMMDD date"),
                );
            }
        }
        ItemType::Month | ItemType::Month0 => {
            if v.parse::<YearMonth>().is_err() && !(item.ty == ItemType::Month0 && v == "000000") {
                e(
                    Code::F207,
                    format!("「{shown}」は正しい年月（YYYYMM）ではありません"),
                    format!("{shown:?} is not a valid YYYYMM month"),
                );
            }
        }
        ItemType::Office | ItemType::OfficeAll9 => {
            if !(item.ty == ItemType::OfficeAll9 && v == "9999999999") {
                if let Err(err) = v.parse::<OfficeNumber>() {
                    e(Code::F212, err.ja, err.en);
                }
            }
        }
        ItemType::Int => {
            if !digits(v) {
                e(
                    Code::F203,
                    format!("「{shown}」は半角数字（整数）ではありません"),
                    format!("{shown:?} is not an integer in ASCII digits"),
                );
            } else if item.len > 0 && v.len() > usize::from(item.len) {
                e(
                    Code::F204,
                    format!("{} 桁あります（項目長 {}）", v.len(), item.len),
                    format!("{} digits, the item length is {}", v.len(), item.len),
                );
            }
        }
        ItemType::Decimal => {
            let ok = v
                .split_once('.')
                .is_some_and(|(a, b)| digits(a) && a.len() <= 3 && b.len() == 2 && digits(b));
            if !ok {
                e(
                    Code::F214,
                    format!("「{shown}」は 99.99 形式（例: 10.00、11.40）ではありません"),
                    format!("{shown:?} is not in 99.99 format (e.g. 10.00)"),
                );
            }
        }
        ItemType::Hhmm => {
            if !is_hhmm(v) {
                e(
                    Code::F208,
                    format!("「{shown}」は時刻（HHMM、時刻なしは 9999）ではありません"),
                    format!("{shown:?} is not HHMM (or 9999 for no time)"),
                );
            }
        }
        ItemType::Flags => {
            if v.len() != 31 || !v.bytes().all(|b| b == b'0' || b == b'1') {
                e(
                    Code::F215,
                    format!(
                        "日割対象日は 0/1 の31文字です（{} 文字）",
                        v.chars().count()
                    ),
                    format!(
                        "day flags are 31 characters of 0/1 (got {})",
                        v.chars().count()
                    ),
                );
            }
        }
        ItemType::Code => {
            let set = item.code_set.as_ref();
            if let Some(set) = set {
                if !set.contains_key(v) {
                    let allowed = set
                        .iter()
                        .map(|(k, l)| format!("{k}:{l}"))
                        .collect::<Vec<_>>()
                        .join("、");
                    let allowed_en = set.keys().cloned().collect::<Vec<_>>().join(", ");
                    e(
                        Code::F209,
                        format!("「{shown}」はコード表にありません（{allowed}）"),
                        format!("{shown:?} is not in the code table ({allowed_en})"),
                    );
                }
            }
        }
        ItemType::ServiceCode | ItemType::SummaryCode => {
            if let Err(err) = v.parse::<ServiceCode>() {
                e(Code::F213, err.ja, err.en);
            }
        }
        ItemType::ServiceKind => {
            if let Err(err) = v.parse::<ServiceKindCode>() {
                e(Code::F213, err.ja, err.en);
            }
        }
        ItemType::CodeText => {
            if !v.bytes().all(|b| (0x21..0x7F).contains(&b)) {
                e(
                    Code::F218,
                    format!("「{shown}」は半角英数字・記号で書きます（例: 00001-000010）"),
                    format!("{shown:?} must be printable ASCII (e.g. 00001-000010)"),
                );
            } else if v.len() > usize::from(item.len) {
                e(
                    Code::F204,
                    format!("{} 文字あります（項目長 {}）", v.len(), item.len),
                    format!("{} characters, the item length is {}", v.len(), item.len),
                );
            }
        }
        ItemType::Postal => {
            let b = v.as_bytes();
            let ok = b.len() == 8 && b[3] == b'-' && digits(&v[..3]) && digits(&v[4..]);
            if !ok {
                e(
                    Code::F216,
                    format!("郵便番号「{shown}」は NNN-NNNN 形式ではありません"),
                    format!("postal code {shown:?} is not NNN-NNNN"),
                );
            }
        }
        ItemType::Tel => {
            if !v.bytes().all(|b| b.is_ascii_digit() || b"-()".contains(&b)) {
                e(
                    Code::F216,
                    format!("電話番号「{shown}」に数字・ハイフン以外の文字があります"),
                    format!("phone number {shown:?} has characters other than digits and hyphens"),
                );
            } else if v.len() > usize::from(item.len) {
                e(
                    Code::F204,
                    format!("{} 文字あります（項目長 {}）", v.len(), item.len),
                    format!("{} characters, the item length is {}", v.len(), item.len),
                );
            }
        }
        ItemType::Text => {
            let n = ms932_len(v);
            if item.len > 0 && n > usize::from(item.len) {
                e(
                    Code::F204,
                    format!("{n} バイトあります（項目長 {}、全角は2バイト）", item.len),
                    format!(
                        "{n} bytes, the item length is {} (full-width counts 2)",
                        item.len
                    ),
                );
            }
        }
        ItemType::Unused => {
            e(
                Code::F217,
                "「識別子」は使用しない項目です（空にします）".to_owned(),
                "this item is not used and should be empty".to_owned(),
            );
        }
    }
}
