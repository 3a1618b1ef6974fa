//! Validated identifiers of the care insurance domain.
//!
//! Every identifier that crosses a crate boundary in Renkei is parsed once, here, into a newtype
//! that cannot hold an invalid value. Code that receives an [`OfficeNumber`] never re-checks its
//! shape, and code that mixes up an office number with an insured number does not compile.
//!
//! ```
//! use renkei_ids::{OfficeNumber, InsurerNumber, KjUserId};
//! let office: OfficeNumber = "1310100010".parse().unwrap();
//! assert_eq!(office.prefecture(), 13);
//! assert!("131011".parse::<InsurerNumber>().is_ok()); // 千代田区, check digit 1
//! assert!("131012".parse::<InsurerNumber>().is_err());
//! assert!("KJ000000000001".parse::<KjUserId>().is_ok());
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier. The message is Japanese first, English beside it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ja} / {en}")]
pub struct IdError {
    /// Which identifier was being parsed (a stable, English name such as `office_number`).
    pub kind: &'static str,
    /// Japanese explanation shown to users.
    pub ja: String,
    /// English explanation.
    pub en: String,
}

impl IdError {
    fn new(kind: &'static str, ja: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            kind,
            ja: ja.into(),
            en: en.into(),
        }
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Modulus-10 check digit with weights 2,1,2,… from the rightmost digit, the digits of each
/// product summed (保険者番号設定要領; see docs/spec/identifiers.md).
pub fn modulus10_weight21(digits: &str) -> u8 {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let d = u32::from(b - b'0');
        let p = if i % 2 == 0 { d * 2 } else { d };
        sum += p / 10 + p % 10;
    }
    ((10 - sum % 10) % 10) as u8
}

macro_rules! string_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The identifier as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                s.parse()
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// 介護保険事業所番号: 10 digits, the first two the prefecture code (01–47).
    OfficeNumber
);

impl FromStr for OfficeNumber {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.len() != 10 || !all_digits(s) {
            return Err(IdError::new(
                "office_number",
                format!("介護保険事業所番号は半角数字10桁です（入力: {s:?}）"),
                format!("an office number is 10 ASCII digits (got {s:?})"),
            ));
        }
        let pref: u8 = s[..2].parse().unwrap_or(0);
        if !(1..=47).contains(&pref) {
            return Err(IdError::new(
                "office_number",
                format!("介護保険事業所番号の先頭2桁は都道府県番号（01〜47）です（入力: {s}）"),
                format!("the first two digits of an office number are a prefecture code 01–47 (got {s})"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl OfficeNumber {
    /// The prefecture code (1–47) in the first two digits.
    pub fn prefecture(&self) -> u8 {
        self.0[..2].parse().expect("validated on construction")
    }
}

string_id!(
    /// 保険者番号: 6 digits — prefecture (2), insurer (3) and a modulus-10 check digit.
    InsurerNumber
);

impl FromStr for InsurerNumber {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.len() != 6 || !all_digits(s) {
            return Err(IdError::new(
                "insurer_number",
                format!("保険者番号は半角数字6桁です（入力: {s:?}）"),
                format!("an insurer number is 6 ASCII digits (got {s:?})"),
            ));
        }
        let expected = modulus10_weight21(&s[..5]);
        if s.as_bytes()[5] - b'0' != expected {
            return Err(IdError::new(
                "insurer_number",
                format!("保険者番号の検証番号（6桁目）が正しくありません（入力: {s}、正しくは {expected}）"),
                format!("insurer number check digit is wrong (got {s}, expected {expected})"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

string_id!(
    /// 被保険者番号: 10 digits, or `H` + 9 digits for 生活保護単独 (public assistance only).
    InsuredNumber
);

impl FromStr for InsuredNumber {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let ok = s.len() == 10 && (all_digits(s) || (s.starts_with('H') && all_digits(&s[1..])));
        if !ok {
            return Err(IdError::new(
                "insured_number",
                format!("被保険者番号は半角数字10桁、または生保単独の場合 H＋数字9桁です（入力: {s:?}）"),
                format!("an insured number is 10 digits, or H + 9 digits (got {s:?})"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl InsuredNumber {
    /// Whether this is a 生保単独 number (`H` + 9 digits).
    pub fn is_public_assistance_only(&self) -> bool {
        self.0.starts_with('H')
    }
}

string_id!(
    /// 介護電子請求用ユーザID: `KJ` followed by 12 digits, 14 characters in all.
    KjUserId
);

impl FromStr for KjUserId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.len() != 14 || !s.starts_with("KJ") || !all_digits(&s[2..]) {
            return Err(IdError::new(
                "kj_user_id",
                format!("介護電子請求用ユーザIDは「KJ」と数字12桁の14文字です（入力: {s:?}）"),
                format!("a KJ user ID is \"KJ\" followed by 12 digits (got {s:?})"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

string_id!(
    /// Personal user ID of the care plan exchange (個人ユーザID): `c` followed by 10 digits.
    PersonalUserId
);

impl FromStr for PersonalUserId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.len() != 11 || !s.starts_with('c') || !all_digits(&s[1..]) {
            return Err(IdError::new(
                "personal_user_id",
                format!("個人ユーザIDは「c」と数字10桁です（入力: {s:?}）"),
                format!("a personal user ID is \"c\" followed by 10 digits (got {s:?})"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

string_id!(
    /// サービス種類コード: two upper-case alphanumerics (`11`, `43`, `2A`, `A5`).
    ServiceKindCode
);

impl FromStr for ServiceKindCode {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.len() != 2
            || !s
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            return Err(IdError::new(
                "service_kind",
                format!("サービス種類コードは半角英数字2文字です（入力: {s:?}）"),
                format!("a service kind code is 2 upper-case alphanumerics (got {s:?})"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

string_id!(
    /// サービスコード: six upper-case alphanumerics, the kind (2) then the item (4).
    ServiceCode
);

impl FromStr for ServiceCode {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.len() != 6
            || !s
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            return Err(IdError::new(
                "service_code",
                format!("サービスコードは半角英数字6文字です（入力: {s:?}）"),
                format!("a service code is 6 upper-case alphanumerics (got {s:?})"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl ServiceCode {
    /// The サービス種類コード in the first two characters.
    pub fn kind(&self) -> ServiceKindCode {
        ServiceKindCode(self.0[..2].to_owned())
    }
}

string_id!(
    /// ファイル連番: the 14-digit `YYYYMMDDHHMMSS` shared by the files of one 送信単位.
    FileSeq
);

impl FromStr for FileSeq {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = || {
            IdError::new(
                "file_seq",
                format!(
                    "ファイル連番は日時を表す半角数字14桁（YYYYMMDDHHMMSS）です（入力: {s:?}）"
                ),
                format!("a file sequence is 14 digits YYYYMMDDHHMMSS (got {s:?})"),
            )
        };
        if s.len() != 14 || !all_digits(s) {
            return Err(bad());
        }
        let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(99);
        let (y, mo, d, h, mi, se) = (n(0..4), n(4..6), n(6..8), n(8..10), n(10..12), n(12..14));
        if YearMonth::new(y as u16, mo as u8).is_none()
            || d == 0
            || d > u32::from(days_in_month(y as u16, mo as u8))
            || h > 23
            || mi > 59
            || se > 59
        {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }
}

/// Number of days in a Gregorian month (`month` 1–12).
pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

/// A service month (対象年月 / 提供年月), written `YYYYMM`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct YearMonth {
    year: u16,
    month: u8,
}

impl YearMonth {
    /// A month between 1900-01 and 2999-12, or `None`.
    pub fn new(year: u16, month: u8) -> Option<Self> {
        ((1900..=2999).contains(&year) && (1..=12).contains(&month)).then_some(Self { year, month })
    }
    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }
    /// The month, 1–12.
    pub fn month(self) -> u8 {
        self.month
    }
    /// Days in this month.
    pub fn days(self) -> u8 {
        days_in_month(self.year, self.month)
    }
    /// The following month.
    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }
}

impl FromStr for YearMonth {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let parsed = (s.len() == 6 && all_digits(s))
            .then(|| YearMonth::new(s[..4].parse().ok()?, s[4..].parse().ok()?))
            .flatten();
        parsed.ok_or_else(|| {
            IdError::new(
                "year_month",
                format!("年月は YYYYMM 形式の半角数字6桁です（入力: {s:?}）"),
                format!("a year-month is 6 digits YYYYMM (got {s:?})"),
            )
        })
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}{:02}", self.year, self.month)
    }
}
impl fmt::Debug for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "YearMonth({self})")
    }
}
impl TryFrom<String> for YearMonth {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}
impl From<YearMonth> for String {
    fn from(v: YearMonth) -> String {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insurer_check_digits_of_real_insurers() {
        // 千代田区 131011, 札幌市 011007, 横浜市 141002, 大阪市 271007
        for ok in ["131011", "011007", "141002", "271007"] {
            assert!(ok.parse::<InsurerNumber>().is_ok(), "{ok}");
        }
        for bad in ["131012", "01100", "0110070", "a31011"] {
            assert!(bad.parse::<InsurerNumber>().is_err(), "{bad}");
        }
    }

    #[test]
    fn office_numbers() {
        assert!("0300000100".parse::<OfficeNumber>().is_ok());
        assert!("4799999999".parse::<OfficeNumber>().is_ok());
        for bad in [
            "4899999999",
            "0000000001",
            "030000010",
            "03000001000",
            "03000001O0",
        ] {
            assert!(bad.parse::<OfficeNumber>().is_err(), "{bad}");
        }
    }

    #[test]
    fn insured_numbers() {
        assert!("0000012345".parse::<InsuredNumber>().unwrap().as_str() == "0000012345");
        assert!("H123456789"
            .parse::<InsuredNumber>()
            .unwrap()
            .is_public_assistance_only());
        for bad in ["123456789", "h123456789", "H12345678X", "12345678901"] {
            assert!(bad.parse::<InsuredNumber>().is_err(), "{bad}");
        }
    }

    #[test]
    fn user_ids() {
        assert!("KJ123456789012".parse::<KjUserId>().is_ok());
        assert!("KJ12345678901".parse::<KjUserId>().is_err());
        assert!("kj123456789012".parse::<KjUserId>().is_err());
        assert!("c0000000001".parse::<PersonalUserId>().is_ok());
        assert!("C0000000001".parse::<PersonalUserId>().is_err());
    }

    #[test]
    fn months_and_sequences() {
        assert_eq!("202402".parse::<YearMonth>().unwrap().days(), 29);
        assert_eq!("210002".parse::<YearMonth>().unwrap().days(), 28);
        assert_eq!("200002".parse::<YearMonth>().unwrap().days(), 29);
        assert_eq!(
            "202412".parse::<YearMonth>().unwrap().next().to_string(),
            "202501"
        );
        assert!("202413".parse::<YearMonth>().is_err());
        assert!("20191025200201".parse::<FileSeq>().is_ok());
        assert!("20190229000000".parse::<FileSeq>().is_err());
        assert!("20200229235959".parse::<FileSeq>().is_ok());
        assert!("20200229240000".parse::<FileSeq>().is_err());
    }

    #[test]
    fn serde_validates() {
        let ok: Result<OfficeNumber, _> = serde_json::from_str("\"1310100010\"");
        assert!(ok.is_ok());
        let bad: Result<OfficeNumber, _> = serde_json::from_str("\"13101\"");
        assert!(bad.is_err());
    }
}
