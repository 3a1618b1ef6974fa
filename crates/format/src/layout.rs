//! Layouts of the standard as data: the item tables in `layouts/*.toml`, parsed once.
//!
//! A revision of the standard is a change to those files (a new `layouts/<version>.toml` and a
//! line in [`LAYOUT_FILES`]), not to the validation code: checks address items by their
//! [`Role`], never by position.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::kind::{CsvVersion, FileKind};

/// The embedded layout files, one per CSV version.
pub const LAYOUT_FILES: [(CsvVersion, &str); 2] = [
    (CsvVersion::V202208, include_str!("../layouts/202208.toml")),
    (CsvVersion::V202407, include_str!("../layouts/202407.toml")),
];
const CODES: &str = include_str!("../layouts/codes.toml");

/// How an item's value is checked (the layouts have no type column; these are derived from the
/// 書式 notes, see docs/spec/layouts.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemType {
    /// No.1 CSVバージョン: six digits naming a version.
    Version,
    /// 保険者番号: six digits (check digit checked with a warning).
    Insurer,
    /// 被保険者番号: ten digits or `H` + nine digits.
    Insured,
    /// `YYYYMMDD`, a real calendar date.
    Date,
    /// `YYYYMMDD`, or `00000000` (利用者補足情報 No.4 when tied to 第6表).
    Date0,
    /// `YYYYMM`.
    Month,
    /// `YYYYMM`, or `000000` (利用者補足情報 No.63 when tied to 第1表).
    Month0,
    /// 介護保険事業所番号, ten digits.
    Office,
    /// An office number, or `9999999999` (第7表 total row).
    OfficeAll9,
    /// Free text (フリーテキスト), any MS932 characters.
    Text,
    /// Non-negative integer, plain digits.
    Int,
    /// `99.99`.
    Decimal,
    /// `HHMM`, or `9999` for "no time".
    Hhmm,
    /// 31 day flags of `0`/`1`.
    Flags,
    /// A value from a code table.
    Code,
    /// サービスコード: six upper-case alphanumerics.
    ServiceCode,
    /// 第7表 サービスコード: a service code or a pseudo-code (`xxAAAA`, `xxEEEE`, `xxZZZZ`, `999999`).
    SummaryCode,
    /// サービス種類コード: two upper-case alphanumerics.
    ServiceKind,
    /// A printable code such as a TAIS code (`00001-000010`).
    CodeText,
    /// 郵便番号 `NNN-NNNN`.
    Postal,
    /// 電話番号: digits, hyphens, parentheses.
    Tel,
    /// 識別子: 「※使用しない」, expected empty.
    Unused,
}

/// Whether an item must have a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Required {
    /// 必須 (○): empty is an error.
    Yes,
    /// The sources disagree about the ○ mark: empty is a warning.
    Warn,
    /// Optional.
    No,
}

/// What an item means, for checks that span items, records and files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Role {
    Version,
    Insurer,
    Insured,
    Created,
    Month,
    PlanDate,
    PlanOffice,
    PlanPerson,
    Planner,
    CmName,
    Units,
    ServiceDate,
    DayFlags,
    Start,
    End,
    Count,
    ServiceCode,
    Tais,
    Notified,
    Equipment,
    DetailNo,
    Provider,
    ProviderName,
    Satellite,
    Over30,
    Updater,
    Kind,
    DiscountRate,
    DiscountedUnits,
    ServiceUnits,
    BenefitUnits,
    KindOver,
    KindWithin,
    ClassOver,
    ClassWithin,
    UnitPrice,
    TotalCost,
    BenefitRate,
    Claim,
    Copay,
    FullCopay,
    Kana,
    Name,
    Sex,
    Birth,
    Address1,
    Address2,
    CareLevel,
    Limit,
    NeedNo,
    GoalNo,
    ContentNo,
    ServiceText,
    Weekday,
    Activity,
    ActivityStart,
    ActivityEnd,
    OtherService,
    /// 利用者基本情報 and its 別表/削除: 相談日 (the key of the 介護予防 basic information).
    ConsultDate,
    /// 利用者基本情報 No.62: the family-structure image's file name.
    ImageFile,
}

/// A code table (e.g. 要介護状態区分コード): value → Japanese label.
pub type CodeSet = BTreeMap<String, String>;

/// One item (column) of a layout.
#[derive(Debug)]
pub struct Item {
    /// 項目No. (1-based, as in the standard).
    pub no: u16,
    /// 日本語名称.
    pub name: String,
    /// 項目長 (maximum; 0 = no limit). Counted in MS932 bytes (docs/spec/layouts.md).
    pub len: u16,
    /// Value rule.
    pub ty: ItemType,
    /// Required or not.
    pub req: Required,
    /// Meaning for cross checks.
    pub role: Option<Role>,
    /// Name of the code table for [`ItemType::Code`].
    pub codes: Option<String>,
    /// The code table itself (resolved from `codes` at load).
    pub code_set: Option<CodeSet>,
    /// The code table's values of up to 7 bytes, packed and sorted (see [`Item::allows_code`]).
    packed_codes: Vec<u64>,
}

/// A value of up to 7 bytes as one number (its length in the top byte), so that membership in
/// a code table is a search among integers, not string comparisons.
fn pack_code(v: &str) -> Option<u64> {
    (v.len() <= 7).then(|| {
        v.bytes()
            .fold(v.len() as u64, |x, b| (x << 8) | u64::from(b))
    })
}

impl Item {
    /// Whether `v` is a value of this item's code table.
    pub fn allows_code(&self, v: &str) -> bool {
        match pack_code(v) {
            Some(p)
                if self
                    .code_set
                    .as_ref()
                    .is_some_and(|c| c.len() == self.packed_codes.len()) =>
            {
                self.packed_codes.binary_search(&p).is_ok()
            }
            _ => self.code_set.as_ref().is_some_and(|c| c.contains_key(v)),
        }
    }
}

/// The item table of one file kind in one CSV version.
#[derive(Debug)]
pub struct Layout {
    /// Stable id shared across versions (`service_use`, `plan1`, …).
    pub id: String,
    /// The layout's Japanese title.
    pub title: String,
    /// The CSV version.
    pub version: CsvVersion,
    /// The file kinds written with this layout.
    pub kinds: Vec<FileKind>,
    /// Items in order.
    pub items: Vec<Item>,
    /// Field index by `Role as usize` (a table, not a hash map: looked up for every record).
    roles: Vec<Option<usize>>,
}

impl Layout {
    /// Field index (0-based) of the item with this role.
    pub fn pos(&self, role: Role) -> Option<usize> {
        self.roles.get(role as usize).copied().flatten()
    }
    /// Number of fields of a record.
    pub fn width(&self) -> usize {
        self.items.len()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: String,
    #[allow(dead_code)]
    applies_from: String,
    #[allow(dead_code)]
    file_name_generation: String,
    layout: Vec<RawLayout>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayout {
    id: String,
    kinds: Vec<String>,
    title: String,
    items: Vec<RawItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    no: u16,
    name: String,
    len: u16,
    #[serde(rename = "type")]
    ty: ItemType,
    req: Required,
    role: Option<Role>,
    codes: Option<String>,
}

/// All layouts and code tables.
#[derive(Debug)]
pub struct Registry {
    layouts: Vec<Layout>,
    codes: HashMap<String, CodeSet>,
}

impl Registry {
    fn load() -> Result<Registry, String> {
        let codes: HashMap<String, CodeSet> =
            toml::from_str(CODES).map_err(|e| format!("codes.toml: {e}"))?;
        let mut layouts = Vec::new();
        for (version, text) in LAYOUT_FILES {
            let raw: RawFile = toml::from_str(text).map_err(|e| format!("{version}: {e}"))?;
            if raw.version != version.as_str() {
                return Err(format!("{version}.toml declares version {}", raw.version));
            }
            for l in raw.layout {
                let mut kinds = Vec::new();
                for k in &l.kinds {
                    kinds.push(k.parse::<FileKind>().map_err(|e| e.to_string())?);
                }
                let mut roles: Vec<Option<usize>> = Vec::new();
                let mut items = Vec::new();
                for (i, it) in l.items.into_iter().enumerate() {
                    if usize::from(it.no) != i + 1 {
                        return Err(format!("{version} {}: item {} out of order", l.id, it.no));
                    }
                    if let Some(r) = it.role {
                        let slot = r as usize;
                        if roles.len() <= slot {
                            roles.resize(slot + 1, None);
                        }
                        if roles[slot].replace(i).is_some() {
                            return Err(format!("{version} {}: role {r:?} twice", l.id));
                        }
                    }
                    if let Some(c) = &it.codes {
                        if !codes.contains_key(c) {
                            return Err(format!("{version} {}: unknown code table {c}", l.id));
                        }
                    }
                    if (it.ty == ItemType::Code) != it.codes.is_some() {
                        return Err(format!("{version} {}: item {} code table", l.id, it.no));
                    }
                    let code_set = it.codes.as_ref().and_then(|c| codes.get(c).cloned());
                    let mut packed_codes: Vec<u64> = code_set
                        .iter()
                        .flat_map(|c| c.keys().filter_map(|k| pack_code(k)))
                        .collect();
                    packed_codes.sort_unstable();
                    items.push(Item {
                        no: it.no,
                        name: it.name,
                        len: it.len,
                        ty: it.ty,
                        req: it.req,
                        role: it.role,
                        code_set,
                        codes: it.codes,
                        packed_codes,
                    });
                }
                layouts.push(Layout {
                    id: l.id,
                    title: l.title,
                    version,
                    kinds,
                    items,
                    roles,
                });
            }
        }
        Ok(Registry { layouts, codes })
    }

    /// The layout of a kind in a version, if the standard defines one that Renkei has.
    pub fn layout(&self, kind: FileKind, version: CsvVersion) -> Option<&Layout> {
        self.layouts
            .iter()
            .find(|l| l.version == version && l.kinds.contains(&kind))
    }

    /// All layouts.
    pub fn layouts(&self) -> &[Layout] {
        &self.layouts
    }

    /// A code table by name.
    pub fn codes(&self, name: &str) -> Option<&CodeSet> {
        self.codes.get(name)
    }
}

/// The registry of embedded layouts, parsed on first use.
pub fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    // The data is embedded and checked by the unit test below; a failure is a build defect.
    REG.get_or_init(|| Registry::load().expect("embedded layout data is valid"))
}

/// Shorthand for `registry().layout(kind, version)`.
pub fn layout(kind: FileKind, version: CsvVersion) -> Option<&'static Layout> {
    registry().layout(kind, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_layouts_load_with_expected_widths() {
        let reg = Registry::load().unwrap();
        let w = |k, v| reg.layout(k, v).map(Layout::width);
        use CsvVersion::*;
        use FileKind::*;
        assert_eq!(w(Upplan, V202407), Some(25));
        assert_eq!(w(Upjsk, V202208), Some(22));
        assert_eq!(w(Upsikyu, V202407), Some(37));
        assert_eq!(w(Upsikyu, V202208), Some(34));
        assert_eq!(w(Uphosoku, V202407), Some(63));
        assert_eq!(w(Up1kyo, V202407), Some(28));
        assert_eq!(w(Up2kyo, V202407), Some(22));
        assert_eq!(w(Up3kyo, V202407), Some(13));
        assert_eq!(w(Up3kyo, V202208), None);
        assert_eq!(w(Dltplan, V202407), Some(4));
        assert_eq!(w(Dltjsk, V202407), Some(6));
        assert_eq!(w(Dlt1kyo, V202208), Some(4));
        assert_eq!(w(Upkihon, V202407), Some(71));
        assert_eq!(w(UpkihonSub1, V202407), Some(7));
        assert_eq!(w(UpkihonSub2, V202407), Some(11));
        assert_eq!(w(Dltkihon, V202407), Some(4));
        assert_eq!(w(Upyobo, V202407), Some(57));
        assert_eq!(w(UpyoboSub, V202407), Some(17));
        assert_eq!(w(Dltyobo, V202407), Some(4));
        assert_eq!(w(Upyobo, V202208), None);
        assert_eq!(w(UpkihonImage, V202407), None);
        let l = reg.layout(Upsikyu, V202208).unwrap();
        assert_eq!(l.items[l.pos(Role::Count).unwrap()].len, 2);
        assert_eq!(l.items[26].name, "前月までの利用日数"); // №27 of the 3.2 change log
    }
}
