//! File kinds (the name prefixes of the standard) and CSV versions.

use std::fmt;
use std::str::FromStr;

use renkei_ids::YearMonth;
use serde::{Serialize, Serializer};

/// What the month token of a file name holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonthToken {
    /// The name has no month token.
    None,
    /// `対象年月` / `削除対象年月` (`YYYYMM`).
    Required,
    /// `提供年月`: a month, or `000000` when the file belongs to 第1表–第3表.
    MonthOrZero,
}

/// One kind of file of the standard, recognised by its name prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    /// `UPPLAN` 第6表（サービス利用票）予定.
    Upplan,
    /// `UPJSK` 実績情報 (第6表 layout, sent back by the provider).
    Upjsk,
    /// `DLTPLAN` 第6表 削除.
    Dltplan,
    /// `DLTJSK` 実績情報_削除.
    Dltjsk,
    /// `UPSIKYU` 第7表（サービス利用票別表）.
    Upsikyu,
    /// `UPHOSOKU` 利用者補足情報.
    Uphosoku,
    /// `UP1KYO` 居宅サービス計画書（１）.
    Up1kyo,
    /// `DLT1KYO` 居宅サービス計画書（１）削除.
    Dlt1kyo,
    /// `UP2KYO` 居宅サービス計画書（２）.
    Up2kyo,
    /// `UP3KYO` 週間サービス計画表 (202407 only).
    Up3kyo,
    /// `UPKIHON` 利用者基本情報 (介護予防).
    Upkihon,
    /// `UPKIHON_SUB1` 利用者基本情報（別表1）.
    UpkihonSub1,
    /// `UPKIHON_SUB2` 利用者基本情報（別表2）.
    UpkihonSub2,
    /// `UPKIHON_IMAGE` 家族構成の画像 (JPEG, not CSV).
    UpkihonImage,
    /// `DLTKIHON` 利用者基本情報 削除.
    Dltkihon,
    /// `UPYOBO` 介護予防サービス・支援計画書.
    Upyobo,
    /// `UPYOBO_SUB` 介護予防サービス・支援計画書（別表）.
    UpyoboSub,
    /// `DLTYOBO` 介護予防サービス・支援計画書 削除.
    Dltyobo,
}

impl FileKind {
    /// Every kind, prefixes with an underscore first so that prefix matching picks the longest.
    pub const ALL: [FileKind; 18] = [
        FileKind::UpkihonSub1,
        FileKind::UpkihonSub2,
        FileKind::UpkihonImage,
        FileKind::UpyoboSub,
        FileKind::Upplan,
        FileKind::Upjsk,
        FileKind::Dltplan,
        FileKind::Dltjsk,
        FileKind::Upsikyu,
        FileKind::Uphosoku,
        FileKind::Up1kyo,
        FileKind::Dlt1kyo,
        FileKind::Up2kyo,
        FileKind::Up3kyo,
        FileKind::Upkihon,
        FileKind::Dltkihon,
        FileKind::Upyobo,
        FileKind::Dltyobo,
    ];

    /// The name prefix, e.g. `UPPLAN`.
    pub fn prefix(self) -> &'static str {
        match self {
            FileKind::Upplan => "UPPLAN",
            FileKind::Upjsk => "UPJSK",
            FileKind::Dltplan => "DLTPLAN",
            FileKind::Dltjsk => "DLTJSK",
            FileKind::Upsikyu => "UPSIKYU",
            FileKind::Uphosoku => "UPHOSOKU",
            FileKind::Up1kyo => "UP1KYO",
            FileKind::Dlt1kyo => "DLT1KYO",
            FileKind::Up2kyo => "UP2KYO",
            FileKind::Up3kyo => "UP3KYO",
            FileKind::Upkihon => "UPKIHON",
            FileKind::UpkihonSub1 => "UPKIHON_SUB1",
            FileKind::UpkihonSub2 => "UPKIHON_SUB2",
            FileKind::UpkihonImage => "UPKIHON_IMAGE",
            FileKind::Dltkihon => "DLTKIHON",
            FileKind::Upyobo => "UPYOBO",
            FileKind::UpyoboSub => "UPYOBO_SUB",
            FileKind::Dltyobo => "DLTYOBO",
        }
    }

    /// The Japanese name of the file as the standard calls it.
    pub fn title_ja(self) -> &'static str {
        match self {
            FileKind::Upplan => "第6表（サービス利用票）予定",
            FileKind::Upjsk => "実績情報",
            FileKind::Dltplan => "第6表（サービス利用票）削除",
            FileKind::Dltjsk => "実績情報_削除",
            FileKind::Upsikyu => "第7表（サービス利用票別表）",
            FileKind::Uphosoku => "利用者補足情報",
            FileKind::Up1kyo => "居宅サービス計画書（１）",
            FileKind::Dlt1kyo => "居宅サービス計画書（１）削除",
            FileKind::Up2kyo => "居宅サービス計画書（２）",
            FileKind::Up3kyo => "週間サービス計画表（第３表）",
            FileKind::Upkihon => "利用者基本情報",
            FileKind::UpkihonSub1 => "利用者基本情報（別表1）",
            FileKind::UpkihonSub2 => "利用者基本情報（別表2）",
            FileKind::UpkihonImage => "利用者基本情報 家族構成画像",
            FileKind::Dltkihon => "利用者基本情報_削除",
            FileKind::Upyobo => "介護予防サービス・支援計画書",
            FileKind::UpyoboSub => "介護予防サービス・支援計画書（別表）",
            FileKind::Dltyobo => "介護予防サービス・支援計画書_削除",
        }
    }

    /// The English name.
    pub fn title_en(self) -> &'static str {
        match self {
            FileKind::Upplan => "service use form (table 6), planned",
            FileKind::Upjsk => "service results (table 6 layout)",
            FileKind::Dltplan => "service use form (table 6), delete",
            FileKind::Dltjsk => "service results, delete",
            FileKind::Upsikyu => "service use form annex (table 7)",
            FileKind::Uphosoku => "user supplement",
            FileKind::Up1kyo => "care plan (table 1)",
            FileKind::Dlt1kyo => "care plan (table 1), delete",
            FileKind::Up2kyo => "care plan (table 2)",
            FileKind::Up3kyo => "weekly service plan (table 3)",
            FileKind::Upkihon => "basic user information (prevention)",
            FileKind::UpkihonSub1 => "basic user information, annex 1",
            FileKind::UpkihonSub2 => "basic user information, annex 2",
            FileKind::UpkihonImage => "basic user information, family image",
            FileKind::Dltkihon => "basic user information, delete",
            FileKind::Upyobo => "prevention service/support plan",
            FileKind::UpyoboSub => "prevention service/support plan, annex",
            FileKind::Dltyobo => "prevention service/support plan, delete",
        }
    }

    /// What the month token of the file name holds.
    pub fn month_token(self) -> MonthToken {
        match self {
            FileKind::Upplan
            | FileKind::Upjsk
            | FileKind::Dltplan
            | FileKind::Dltjsk
            | FileKind::Upsikyu => MonthToken::Required,
            FileKind::Uphosoku => MonthToken::MonthOrZero,
            _ => MonthToken::None,
        }
    }

    /// Whether the file is a delete file (it travels alone).
    pub fn is_delete(self) -> bool {
        matches!(
            self,
            FileKind::Dltplan
                | FileKind::Dltjsk
                | FileKind::Dlt1kyo
                | FileKind::Dltkihon
                | FileKind::Dltyobo
        )
    }

    /// Whether the provider (not the care manager) writes this kind.
    pub fn sent_by_provider(self) -> bool {
        matches!(self, FileKind::Upjsk | FileKind::Dltjsk)
    }

    /// Whether the kind is one of the 介護予防 files (added in 4.0, CSV version 202407 only).
    pub fn is_prevention(self) -> bool {
        matches!(
            self,
            FileKind::Upkihon
                | FileKind::UpkihonSub1
                | FileKind::UpkihonSub2
                | FileKind::UpkihonImage
                | FileKind::Dltkihon
                | FileKind::Upyobo
                | FileKind::UpyoboSub
                | FileKind::Dltyobo
        )
    }

    /// Whether the file is CSV (every kind but the family-structure image, a JPEG).
    pub fn is_csv(self) -> bool {
        self != FileKind::UpkihonImage
    }

    /// The file name extension: `CSV`, or `JPG` for the family image.
    pub fn extension(self) -> &'static str {
        if self == FileKind::UpkihonImage {
            "JPG"
        } else {
            "CSV"
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())
    }
}

impl Serialize for FileKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.prefix())
    }
}

/// The prefix is not one of the standard's file kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ファイル種別「{0}」は標準仕様にありません / {0:?} is not a file kind of the standard")]
pub struct UnknownKind(pub String);

impl FromStr for FileKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        let up = s.to_ascii_uppercase();
        FileKind::ALL
            .into_iter()
            .find(|k| k.prefix() == up)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// A CSV version (No.1 CSVバージョン) with a layout Renkei implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CsvVersion {
    /// `202208` (第3版, 3.1, 3.2): service months 2023-01 to 2025-03; names without service kinds.
    V202208,
    /// `202407` (4.1): service months from 2025-04; names with service kinds.
    V202407,
}

/// Why a CSV version value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionProblem {
    /// A real version of the standard that no longer applies to any current service month.
    Obsolete(&'static str),
    /// A value that was never a version of the standard (or was withdrawn), with a hint.
    NotAVersion(&'static str),
    /// Not six digits.
    Malformed,
}

impl CsvVersion {
    /// Both versions, oldest first.
    pub const ALL: [CsvVersion; 2] = [CsvVersion::V202208, CsvVersion::V202407];

    /// The value written in No.1.
    pub fn as_str(self) -> &'static str {
        match self {
            CsvVersion::V202208 => "202208",
            CsvVersion::V202407 => "202407",
        }
    }

    /// Parse a No.1 value, explaining known wrong values.
    pub fn parse(s: &str) -> Result<CsvVersion, VersionProblem> {
        match s {
            "202208" => Ok(CsvVersion::V202208),
            "202407" => Ok(CsvVersion::V202407),
            "201910" => Err(VersionProblem::Obsolete("初版 (2019) / first edition (2019)")),
            "202003" => Err(VersionProblem::Obsolete("第2版 (2020) / second edition (2020)")),
            "202504" => Err(VersionProblem::NotAVersion(
                "4.0版の値は4.1版で202407に改められました / the 4.0 value was replaced by 202407 in 4.1",
            )),
            "202410" => Err(VersionProblem::NotAVersion(
                "4.1版のCSVバージョンは202407です（202410は誤り） / the 4.1 value is 202407, not 202410",
            )),
            _ if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) => Err(
                VersionProblem::NotAVersion("標準仕様のCSVバージョン履歴にない値です / not in the standard's version history"),
            ),
            _ => Err(VersionProblem::Malformed),
        }
    }

    /// The first service month this version applies to (適用開始年月).
    pub fn applies_from(self) -> YearMonth {
        match self {
            CsvVersion::V202208 => YearMonth::new(2023, 1),
            CsvVersion::V202407 => YearMonth::new(2025, 4),
        }
        .expect("constant months are valid")
    }

    /// The version that applies to a service month (202208 for months before 2025-04).
    pub fn for_month(month: YearMonth) -> CsvVersion {
        if month >= CsvVersion::V202407.applies_from() {
            CsvVersion::V202407
        } else {
            CsvVersion::V202208
        }
    }

    /// Whether file names of this version carry the two service kind tokens.
    pub fn names_have_service_kinds(self) -> bool {
        self == CsvVersion::V202407
    }
}

impl fmt::Display for CsvVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CsvVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_round_trip() {
        for k in FileKind::ALL {
            assert_eq!(k.prefix().parse::<FileKind>().unwrap(), k);
        }
        assert!("UPFOO".parse::<FileKind>().is_err());
    }

    #[test]
    fn versions() {
        assert_eq!(CsvVersion::parse("202407"), Ok(CsvVersion::V202407));
        assert!(matches!(
            CsvVersion::parse("202410"),
            Err(VersionProblem::NotAVersion(_))
        ));
        assert!(matches!(
            CsvVersion::parse("201910"),
            Err(VersionProblem::Obsolete(_))
        ));
        assert_eq!(CsvVersion::parse("2024"), Err(VersionProblem::Malformed));
        let m = |s: &str| s.parse::<YearMonth>().unwrap();
        assert_eq!(CsvVersion::for_month(m("202503")), CsvVersion::V202208);
        assert_eq!(CsvVersion::for_month(m("202504")), CsvVersion::V202407);
    }
}
