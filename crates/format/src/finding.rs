//! Findings: what the validator reports, with stable codes (catalogue in
//! docs/spec/validation-codes.md).

use std::collections::HashMap;
use std::fmt;

use serde::{Serialize, Serializer};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file conforms, but something looks wrong or rests on an uncertain rule.
    Warning,
    /// The file does not conform to the standard.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// The stable finding codes. `F0xx` file names, `F1xx` bytes and records, `F2xx` items,
/// `F3xx` rules across items and records, `F4xx` between files, `F5xx` 送信単位.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)]
pub enum Code {
    F001,
    F002,
    F003,
    F004,
    F005,
    F006,
    F007,
    F101,
    F102,
    F103,
    F104,
    F105,
    F106,
    F107,
    F108,
    F109,
    F110,
    F111,
    F112,
    F113,
    F114,
    F201,
    F202,
    F203,
    F204,
    F205,
    F206,
    F207,
    F208,
    F209,
    F210,
    F211,
    F212,
    F213,
    F214,
    F215,
    F216,
    F217,
    F218,
    F301,
    F302,
    F303,
    F304,
    F305,
    F306,
    F307,
    F308,
    F309,
    F310,
    F311,
    F312,
    F313,
    F314,
    F315,
    F316,
    F317,
    F318,
    F319,
    F320,
    F401,
    F402,
    F403,
    F501,
    F502,
    F503,
    F504,
    F505,
}

impl Code {
    /// Every code, for the catalogue.
    pub const ALL: [Code; 67] = {
        use Code::*;
        [
            F001, F002, F003, F004, F005, F006, F007, F101, F102, F103, F104, F105, F106, F107,
            F108, F109, F110, F111, F112, F113, F114, F201, F202, F203, F204, F205, F206, F207,
            F208, F209, F210, F211, F212, F213, F214, F215, F216, F217, F218, F301, F302, F303,
            F304, F305, F306, F307, F308, F309, F310, F311, F312, F313, F314, F315, F316, F317,
            F318, F319, F320, F401, F402, F403, F501, F502, F503, F504, F505,
        ]
    };

    /// `F101` etc.
    pub fn as_str(self) -> &'static str {
        self.entry().0
    }

    /// The severity findings with this code always have.
    pub fn severity(self) -> Severity {
        self.entry().1
    }

    /// Short Japanese title.
    pub fn title_ja(self) -> &'static str {
        self.entry().2
    }

    /// Short English title.
    pub fn title_en(self) -> &'static str {
        self.entry().3
    }

    fn entry(self) -> (&'static str, Severity, &'static str, &'static str) {
        use Severity::{Error as E, Warning as W};
        match self {
            Code::F001 => (
                "F001",
                E,
                "ファイル名が標準仕様の形式ではない",
                "file name does not follow the standard",
            ),
            Code::F002 => (
                "F002",
                E,
                "ファイル名の要素が不正",
                "a file name element is invalid",
            ),
            Code::F003 => (
                "F003",
                W,
                "拡張子が大文字の .CSV ではない",
                "extension is not upper-case .CSV",
            ),
            Code::F004 => (
                "F004",
                W,
                "送信元と送信先の事業所番号が同じ",
                "sender and recipient office are the same",
            ),
            Code::F005 => (
                "F005",
                E,
                "ファイル名の形式とCSVバージョンが合わない",
                "file name generation does not match the CSV version",
            ),
            Code::F006 => (
                "F006",
                W,
                "レイアウト未収録のため内容を検査できない",
                "layout not available: contents not checked",
            ),
            Code::F007 => (
                "F007",
                E,
                "このCSVバージョンにないファイル種別",
                "file kind does not exist in this CSV version",
            ),
            Code::F101 => (
                "F101",
                E,
                "UTF-8（BOM付き）のファイル",
                "UTF-8 file with BOM",
            ),
            Code::F102 => ("F102", E, "UTF-8のファイル", "UTF-8 file"),
            Code::F103 => (
                "F103",
                E,
                "MS932（Shift_JIS）として読めないバイト列",
                "bytes that are not MS932 (Shift_JIS)",
            ),
            Code::F104 => (
                "F104",
                E,
                "外字（ユーザー定義文字）",
                "user-defined character (gaiji)",
            ),
            Code::F105 => ("F105", E, "制御文字", "control character"),
            Code::F106 => (
                "F106",
                W,
                "改行コードがCRLFではない",
                "line ending is not CRLF",
            ),
            Code::F107 => ("F107", E, "空のファイル", "empty file"),
            Code::F108 => (
                "F108",
                E,
                "閉じられていない引用符",
                "unterminated quoted field",
            ),
            Code::F109 => ("F109", E, "引用符の使い方が不正", "misplaced quote"),
            Code::F110 => (
                "F110",
                E,
                "項目数がレイアウトと合わない",
                "field count does not match the layout",
            ),
            Code::F111 => (
                "F111",
                W,
                "最終行に改行がない",
                "last record has no line ending",
            ),
            Code::F112 => ("F112", W, "空行", "blank line"),
            Code::F113 => (
                "F113",
                W,
                "指摘が多すぎるため以降を省略",
                "too many findings; the rest are suppressed",
            ),
            Code::F114 => ("F114", E, "ファイルが大きすぎる", "file too large"),
            Code::F201 => ("F201", E, "必須項目が空", "required item is empty"),
            Code::F202 => (
                "F202",
                W,
                "必須と思われる項目が空",
                "probably required item is empty",
            ),
            Code::F203 => ("F203", E, "半角数字でない", "not ASCII digits"),
            Code::F204 => (
                "F204",
                E,
                "項目長を超えている",
                "longer than the item length",
            ),
            Code::F205 => ("F205", E, "桁数が違う", "wrong number of digits"),
            Code::F206 => ("F206", E, "日付が不正", "invalid date"),
            Code::F207 => ("F207", E, "年月が不正", "invalid year-month"),
            Code::F208 => ("F208", E, "時刻が不正", "invalid time"),
            Code::F209 => ("F209", E, "コード表にない値", "value not in the code table"),
            Code::F210 => (
                "F210",
                W,
                "保険者番号の検証番号が合わない",
                "insurer number check digit does not match",
            ),
            Code::F211 => ("F211", E, "被保険者番号が不正", "invalid insured number"),
            Code::F212 => ("F212", E, "事業所番号が不正", "invalid office number"),
            Code::F213 => (
                "F213",
                E,
                "サービスコード・サービス種類コードが不正",
                "invalid service (kind) code",
            ),
            Code::F214 => ("F214", E, "99.99形式でない", "not in 99.99 format"),
            Code::F215 => (
                "F215",
                E,
                "日割対象日が31桁の0/1でない",
                "day flags are not 31 characters of 0/1",
            ),
            Code::F216 => (
                "F216",
                W,
                "郵便番号・電話番号の形式が不正",
                "postal code or phone number looks wrong",
            ),
            Code::F217 => (
                "F217",
                W,
                "使用しない項目に値がある",
                "unused item has a value",
            ),
            Code::F218 => ("F218", E, "半角英数字・記号でない", "not printable ASCII"),
            Code::F301 => (
                "F301",
                E,
                "CSVバージョンが混在",
                "mixed CSV versions in one file",
            ),
            Code::F302 => ("F302", E, "CSVバージョンが不正", "invalid CSV version"),
            Code::F303 => (
                "F303",
                E,
                "CSVバージョンが対象年月に合わない",
                "CSV version does not apply to the service month",
            ),
            Code::F304 => (
                "F304",
                E,
                "項目数が別のCSVバージョンのレイアウト",
                "field count is that of another CSV version",
            ),
            Code::F305 => (
                "F305",
                E,
                "対象年月がファイル名と違う",
                "service month differs from the file name",
            ),
            Code::F306 => (
                "F306",
                E,
                "ファイル名と内容が合わない",
                "file name and contents disagree",
            ),
            Code::F307 => (
                "F307",
                E,
                "日付が対象年月の外",
                "date outside the service month",
            ),
            Code::F308 => (
                "F308",
                E,
                "日割対象日が月の日数を超えている",
                "day flags beyond the end of the month",
            ),
            Code::F309 => (
                "F309",
                W,
                "開始・終了時刻の組み合わせが不自然",
                "start and end times do not pair",
            ),
            Code::F310 => (
                "F310",
                E,
                "福祉用具のTAISコード・届出コードがない",
                "welfare equipment without TAIS or notification code",
            ),
            Code::F311 => (
                "F311",
                W,
                "明細判別コードは福祉用具貸与のみ",
                "detail number is only for equipment rental",
            ),
            Code::F312 => (
                "F312",
                W,
                "送信先の事業所の行がない",
                "no line for the recipient office",
            ),
            Code::F313 => (
                "F313",
                E,
                "合計行（999999）がない・重複",
                "total row 999999 missing or repeated",
            ),
            Code::F314 => (
                "F314",
                E,
                "集計行の値が不正",
                "invalid value on a subtotal/total row",
            ),
            Code::F315 => (
                "F315",
                E,
                "小計行（xxAAAA）がない",
                "subtotal row xxAAAA missing",
            ),
            Code::F316 => (
                "F316",
                W,
                "合計が明細の和と合わない",
                "total differs from the sum of lines",
            ),
            Code::F317 => (
                "F317",
                W,
                "連携対象外のサービス種類",
                "service kind outside the exchange scope",
            ),
            Code::F318 => ("F318", W, "同じ行が重複", "duplicate line"),
            Code::F319 => (
                "F319",
                W,
                "対象年月より新しいCSVバージョン",
                "CSV version newer than the service month needs",
            ),
            Code::F320 => ("F320", W, "見出し行と思われる行", "looks like a header row"),
            Code::F401 => (
                "F401",
                W,
                "第6表と第7表の回数が合わない",
                "counts of table 6 and table 7 differ",
            ),
            Code::F402 => ("F402", W, "予定にない実績", "result without a planned line"),
            Code::F403 => ("F403", W, "実績のない予定", "planned line without a result"),
            Code::F501 => (
                "F501",
                E,
                "送信単位のファイルの組み合わせが不正",
                "files of the transmission unit are not an allowed combination",
            ),
            Code::F502 => (
                "F502",
                E,
                "送信単位内でキーが合わない",
                "keys disagree within the transmission unit",
            ),
            Code::F503 => (
                "F503",
                E,
                "送信単位内で同じ種別が重複",
                "a kind appears twice in the transmission unit",
            ),
            Code::F504 => (
                "F504",
                E,
                "送信単位内でCSVバージョンが違う",
                "CSV versions differ within the transmission unit",
            ),
            Code::F505 => (
                "F505",
                W,
                "送信単位に検査できないファイルがある",
                "a file of the unit could not be checked",
            ),
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The item a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemRef {
    /// 項目No.
    pub no: u16,
    /// 日本語名称.
    pub name: String,
}

/// One problem found in a file or a set of files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code, e.g. `F201`.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// The file name (as given to the validator).
    pub file: String,
    /// Physical line (1-based) where the record starts, if about one record.
    pub line: Option<u64>,
    /// The item, if about one item.
    pub item: Option<ItemRef>,
    /// Japanese message.
    pub ja: String,
    /// English message.
    pub en: String,
}

impl fmt::Display for Finding {
    /// `FILE:LINE:ITEM: CODE: 日本語 / English` (LINE and ITEM empty when not applicable).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.line.map(|l| l.to_string()).unwrap_or_default();
        let item = self
            .item
            .as_ref()
            .map(|i| format!("No.{} {}", i.no, i.name))
            .unwrap_or_default();
        write!(
            f,
            "{}:{}:{}: {}: {} / {}",
            self.file, line, item, self.code, self.ja, self.en
        )
    }
}

/// Most findings of one code kept per file; the rest are counted and summarised (bounded memory
/// and output on hostile input).
pub const MAX_PER_CODE: usize = 100;

/// Collects findings for one file or unit, capping each code.
#[derive(Debug, Default)]
pub struct Sink {
    file: String,
    findings: Vec<Finding>,
    counts: HashMap<Code, usize>,
}

impl Sink {
    /// A sink for findings about `file`.
    pub fn new(file: impl Into<String>) -> Self {
        Sink {
            file: file.into(),
            ..Default::default()
        }
    }

    /// Record a finding.
    pub fn push(
        &mut self,
        code: Code,
        line: Option<u64>,
        item: Option<(u16, &str)>,
        ja: impl Into<String>,
        en: impl Into<String>,
    ) {
        let n = self.counts.entry(code).or_insert(0);
        *n += 1;
        if *n > MAX_PER_CODE {
            return;
        }
        self.findings.push(Finding {
            code,
            severity: code.severity(),
            file: self.file.clone(),
            line,
            item: item.map(|(no, name)| ItemRef {
                no,
                name: name.to_owned(),
            }),
            ja: ja.into(),
            en: en.into(),
        });
    }

    /// Whether an error has been recorded.
    pub fn has_errors(&self) -> bool {
        self.counts.keys().any(|c| c.severity() == Severity::Error)
    }

    /// How many findings of a code were seen (including suppressed ones).
    pub fn count(&self, code: Code) -> usize {
        self.counts.get(&code).copied().unwrap_or(0)
    }

    /// The findings, with one summary per capped code.
    pub fn finish(mut self) -> Vec<Finding> {
        let mut capped: Vec<(Code, usize)> = self
            .counts
            .iter()
            .filter(|(_, n)| **n > MAX_PER_CODE)
            .map(|(c, n)| (*c, *n))
            .collect();
        capped.sort();
        for (code, n) in capped {
            let rest = n - MAX_PER_CODE;
            self.findings.push(Finding {
                code: Code::F113,
                severity: Severity::Warning,
                file: self.file.clone(),
                line: None,
                item: None,
                ja: format!("{code} の指摘があと {rest} 件あります（省略）"),
                en: format!("{rest} more {code} findings suppressed"),
            });
        }
        self.findings.sort_by_key(|f| f.line.unwrap_or(0));
        self.findings
    }
}
