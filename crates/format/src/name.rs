//! File names of both generations (docs/spec/file-names.md).
//!
//! 202407: `PREFIX[_YYYYMM]_送信元(10)_送信元種類(2)_送信先(10)_送信先種類(2)_YYYYMMDDHHMMSS.CSV`
//! 202208: `PREFIX[_YYYYMM]_送信元(10)_送信先(10)_YYYYMMDDHHMMSS.CSV`

use std::fmt;

use renkei_ids::{FileSeq, OfficeNumber, ServiceKindCode, YearMonth};
use serde::Serialize;

use crate::kind::{CsvVersion, FileKind, MonthToken};

/// Which file-name rule a name follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum NameGeneration {
    /// 202208 names: no service kind tokens.
    WithoutServiceKinds,
    /// 202407 names: each office number followed by its service kind.
    WithServiceKinds,
}

impl NameGeneration {
    /// The CSV version whose names have this shape.
    pub fn version(self) -> CsvVersion {
        match self {
            NameGeneration::WithoutServiceKinds => CsvVersion::V202208,
            NameGeneration::WithServiceKinds => CsvVersion::V202407,
        }
    }
}

/// A parsed file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FileName {
    /// File kind from the prefix.
    pub kind: FileKind,
    /// 対象年月 / 提供年月; `None` when the name has no month or `000000`.
    pub month: Option<YearMonth>,
    /// 送信元の事業所番号.
    pub sender: OfficeNumber,
    /// 送信元のサービス種類コード (202407 names only).
    pub sender_kind: Option<ServiceKindCode>,
    /// 送信先の事業所番号.
    pub recipient: OfficeNumber,
    /// 送信先のサービス種類コード (202407 names only).
    pub recipient_kind: Option<ServiceKindCode>,
    /// ファイル連番.
    pub seq: FileSeq,
    /// Name rule.
    pub generation: NameGeneration,
    /// 枝番 of a `UPKIHON_IMAGE` file.
    pub branch: Option<u16>,
    /// Whether the extension was written in upper case as in the standard's examples.
    pub extension_upper: bool,
}

/// Why a name is not a file name of the standard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ja} / {en}")]
pub struct NameError {
    /// `true` when the prefix was recognised but an element is wrong (F002), `false` when the
    /// name is not of the standard's shape at all (F001).
    pub element: bool,
    /// The kind, when the prefix was recognised.
    pub kind: Option<FileKind>,
    /// Japanese explanation.
    pub ja: String,
    /// English explanation.
    pub en: String,
}

fn shape_err(name: &str) -> NameError {
    NameError {
        element: false,
        kind: None,
        ja: format!("「{name}」は標準仕様のファイル名（例: UPPLAN_202504_0300000100_43_0300000005_11_20250325120000.CSV）ではありません"),
        en: format!("{name:?} is not a file name of the standard (e.g. UPPLAN_202504_0300000100_43_0300000005_11_20250325120000.CSV)"),
    }
}

impl FileName {
    /// Parse a file name (the last path component).
    pub fn parse(name: &str) -> Result<FileName, NameError> {
        let (stem, ext) = name.rsplit_once('.').ok_or_else(|| shape_err(name))?;
        let kind = FileKind::ALL
            .into_iter()
            .find(|k| {
                stem.len() > k.prefix().len()
                    && stem.as_bytes()[..k.prefix().len()]
                        .eq_ignore_ascii_case(k.prefix().as_bytes())
                    && stem.as_bytes()[k.prefix().len()] == b'_'
            })
            .ok_or_else(|| shape_err(name))?;
        if !ext.eq_ignore_ascii_case(kind.extension()) {
            return Err(shape_err(name));
        }
        let elem = |ja: String, en: String| NameError {
            element: true,
            kind: Some(kind),
            ja,
            en,
        };
        let tokens: Vec<&str> = stem[kind.prefix().len() + 1..].split('_').collect();
        let has_month = kind.month_token() != MonthToken::None;
        let has_branch = kind == FileKind::UpkihonImage;
        let fixed = usize::from(has_month) + usize::from(has_branch);
        let generation = match tokens.len().checked_sub(fixed) {
            Some(3) => NameGeneration::WithoutServiceKinds,
            Some(5) => NameGeneration::WithServiceKinds,
            _ => {
                return Err(elem(
                    format!("ファイル名「{name}」の要素の数が {kind} の形式に合いません"),
                    format!("{name:?} has the wrong number of elements for {kind}"),
                ))
            }
        };
        let mut t = tokens.into_iter();
        let mut next = || t.next().unwrap_or_default();
        let month = if has_month {
            let m = next();
            if m == "000000" && kind.month_token() == MonthToken::MonthOrZero {
                None
            } else {
                Some(
                    m.parse::<YearMonth>()
                        .map_err(|e| elem(format!("対象年月: {}", e.ja), e.en))?,
                )
            }
        } else {
            None
        };
        let office = |s: &str, which_ja: &str, which_en: &str| {
            s.parse::<OfficeNumber>().map_err(|e| {
                elem(
                    format!("{which_ja}: {}", e.ja),
                    format!("{which_en}: {}", e.en),
                )
            })
        };
        let skind = |s: &str, which_ja: &str, which_en: &str| {
            s.parse::<ServiceKindCode>().map_err(|e| {
                elem(
                    format!("{which_ja}: {}", e.ja),
                    format!("{which_en}: {}", e.en),
                )
            })
        };
        let with_kinds = generation == NameGeneration::WithServiceKinds;
        let sender = office(next(), "送信元の事業所番号", "sender office")?;
        let sender_kind = if with_kinds {
            Some(skind(
                next(),
                "送信元のサービス種類コード",
                "sender service kind",
            )?)
        } else {
            None
        };
        let recipient = office(next(), "送信先の事業所番号", "recipient office")?;
        let recipient_kind = if with_kinds {
            Some(skind(
                next(),
                "送信先のサービス種類コード",
                "recipient service kind",
            )?)
        } else {
            None
        };
        let seq = next().parse::<FileSeq>().map_err(|e| {
            elem(
                format!("ファイル連番: {}", e.ja),
                format!("file sequence: {}", e.en),
            )
        })?;
        let branch = if has_branch {
            let b = next();
            if b.len() != 4 || !b.bytes().all(|c| c.is_ascii_digit()) {
                return Err(elem(
                    format!("枝番は半角数字4桁です（{b:?}）"),
                    format!("the branch number is 4 digits (got {b:?})"),
                ));
            }
            b.parse().ok()
        } else {
            None
        };
        Ok(FileName {
            kind,
            month,
            sender,
            sender_kind,
            recipient,
            recipient_kind,
            seq,
            generation,
            branch,
            extension_upper: ext == kind.extension() && stem.starts_with(kind.prefix()),
        })
    }

    /// A 202407-generation name (the writer's default).
    pub fn new(
        kind: FileKind,
        month: Option<YearMonth>,
        sender: (OfficeNumber, ServiceKindCode),
        recipient: (OfficeNumber, ServiceKindCode),
        seq: FileSeq,
    ) -> FileName {
        FileName {
            kind,
            month,
            sender: sender.0,
            sender_kind: Some(sender.1),
            recipient: recipient.0,
            recipient_kind: Some(recipient.1),
            seq,
            generation: NameGeneration::WithServiceKinds,
            branch: (kind == FileKind::UpkihonImage).then_some(1),
            extension_upper: true,
        }
    }

    /// The same name in another generation (kinds dropped for 202208; for 202407 they must be
    /// present already).
    pub fn with_generation(mut self, generation: NameGeneration) -> FileName {
        self.generation = generation;
        self
    }
}

impl fmt::Display for FileName {
    /// The canonical name (upper-case extension).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.prefix())?;
        match self.kind.month_token() {
            MonthToken::None => {}
            _ => match self.month {
                Some(m) => write!(f, "_{m}")?,
                None => f.write_str("_000000")?,
            },
        }
        let kinds = self.generation == NameGeneration::WithServiceKinds;
        write!(f, "_{}", self.sender)?;
        if let (true, Some(k)) = (kinds, &self.sender_kind) {
            write!(f, "_{k}")?;
        }
        write!(f, "_{}", self.recipient)?;
        if let (true, Some(k)) = (kinds, &self.recipient_kind) {
            write!(f, "_{k}")?;
        }
        write!(f, "_{}", self.seq)?;
        if let Some(b) = self.branch {
            write!(f, "_{b:04}")?;
        }
        write!(f, ".{}", self.kind.extension())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_examples_parse_and_print_back() {
        for n in [
            "UPHOSOKU_000000_0300000100_43_0300000005_11_20191025200201.CSV",
            "UPHOSOKU_201909_0300000100_43_0300000005_11_20191025200201.CSV",
            "UP1KYO_0300000100_43_0300000005_11_20191025200201.CSV",
            "DLT1KYO_0300000100_43_0300000005_11_20191025200201.CSV",
            "UP3KYO_0300000100_43_0300000005_11_20191025200201.CSV",
            "UPPLAN_201912_0300000100_43_0300000005_11_20191025200201.CSV",
            "DLTJSK_201912_0300000005_11_0300000100_43_20191025200201.CSV",
            "UPSIKYU_201912_0300000100_43_0300000005_11_20191025200201.CSV",
            "UPKIHON_SUB1_0300000100_43_0300000005_11_20191025200201.CSV",
            "UPKIHON_IMAGE_0300000100_43_0300000005_11_20191025200201_0001.JPG",
            "UPYOBO_SUB_0300000100_43_0300000005_11_20191025200201.CSV",
            "UPPLAN_201912_0300000100_0300000005_20191025200201.CSV",
            "UP1KYO_0300000100_0300000005_20191110102233.CSV",
        ] {
            let f = FileName::parse(n).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!(f.to_string(), n);
        }
        let f = FileName::parse("UPKIHON_SUB2_0300000100_43_0300000005_11_20191025200201.CSV");
        assert_eq!(f.unwrap().kind, FileKind::UpkihonSub2);
    }

    #[test]
    fn bad_names() {
        assert!(!FileName::parse("notes.txt").unwrap_err().element);
        assert!(!FileName::parse("UPPLAN.CSV").unwrap_err().element);
        // 9-digit sender as in the spec's own typo
        let e =
            FileName::parse("UP1KYO_123456789_43_2468135790_11_20191110102233.CSV").unwrap_err();
        assert!(e.element);
        let e = FileName::parse("UPPLAN_201913_0300000100_43_0300000005_11_20191025200201.CSV");
        assert!(e.unwrap_err().element);
        assert!(
            FileName::parse("UPPLAN_000000_0300000100_43_0300000005_11_20191025200201.CSV")
                .is_err()
        );
        // Multi-byte characters where the prefix would end must not panic (regression).
        assert!(FileName::parse("UPPLAあ_x.CSV").is_err());
        assert!(FileName::parse("ＵＰＰＬＡＮ_202505.CSV").is_err());
        let low = FileName::parse("upplan_201912_0300000100_43_0300000005_11_20191025200201.csv")
            .unwrap();
        assert!(!low.extension_upper);
    }
}
