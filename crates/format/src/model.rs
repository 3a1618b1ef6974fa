//! Typed records: building records by meaning rather than position, and typed views of the
//! 第6表 and 第7表 lines that rendering, diffs and the sample generator use.
//!
//! Records address items by [`Role`] so that the same code writes the 202208 and 202407
//! layouts; an item without a role is addressed by its 項目No. (stable across versions for the
//! 第1表/第2表/利用者補足情報 layouts).

use renkei_ids::{InsuredNumber, InsurerNumber, OfficeNumber, ServiceCode, YearMonth};

use crate::document::Document;
use crate::layout::{Layout, Role};

/// Builds one record of a layout; unset items stay empty.
#[derive(Debug, Clone)]
pub struct RecordBuilder {
    layout: &'static Layout,
    values: Vec<String>,
}

impl RecordBuilder {
    /// An empty record of `layout` with No.1 set to the layout's CSV version.
    pub fn new(layout: &'static Layout) -> Self {
        let mut values = vec![String::new(); layout.width()];
        if let Some(p) = layout.pos(Role::Version) {
            values[p] = layout.version.as_str().to_owned();
        }
        RecordBuilder { layout, values }
    }

    /// Set the item with `role` (ignored when this layout has no such item, e.g. TAISコード in
    /// 202208).
    pub fn role(mut self, role: Role, value: impl Into<String>) -> Self {
        if let Some(p) = self.layout.pos(role) {
            self.values[p] = value.into();
        }
        self
    }

    /// Set item `no` (1-based); ignored when out of range.
    pub fn no(mut self, no: u16, value: impl Into<String>) -> Self {
        if let Some(v) = usize::from(no)
            .checked_sub(1)
            .and_then(|i| self.values.get_mut(i))
        {
            *v = value.into();
        }
        self
    }

    /// The values in layout order.
    pub fn build(self) -> Vec<String> {
        self.values
    }
}

/// The person a record is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insured {
    /// 保険者番号.
    pub insurer: InsurerNumber,
    /// 被保険者番号.
    pub insured: InsuredNumber,
}

/// One 第6表 line (予定 or 実績): one service code on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLine {
    /// Who.
    pub person: Insured,
    /// 対象年月.
    pub month: YearMonth,
    /// サービス利用日 (day of month, 1–31).
    pub day: u8,
    /// サービス開始時刻 (`HHMM` or `9999`).
    pub start: String,
    /// サービス終了時刻.
    pub end: String,
    /// サービス回数.
    pub count: u32,
    /// サービスコード.
    pub code: ServiceCode,
    /// 単位数.
    pub units: Option<u32>,
    /// サービス事業者コード.
    pub provider: OfficeNumber,
    /// サービス事業所名.
    pub provider_name: String,
    /// TAISコード (202407).
    pub tais: String,
}

impl ServiceLine {
    /// Read record `r` of a 第6表/実績 document; `None` when a key item is invalid.
    pub fn from_document(doc: &Document, r: usize) -> Option<ServiceLine> {
        let g = |role| doc.role(r, role);
        let date = g(Role::ServiceDate);
        Some(ServiceLine {
            person: Insured {
                insurer: g(Role::Insurer).parse().ok()?,
                insured: g(Role::Insured).parse().ok()?,
            },
            month: g(Role::Month).parse().ok()?,
            day: date.get(6..8)?.parse().ok()?,
            start: g(Role::Start).to_owned(),
            end: g(Role::End).to_owned(),
            count: g(Role::Count).parse().ok()?,
            code: g(Role::ServiceCode).parse().ok()?,
            units: g(Role::Units).parse().ok(),
            provider: g(Role::Provider).parse().ok()?,
            provider_name: g(Role::ProviderName).to_owned(),
            tais: g(Role::Tais).to_owned(),
        })
    }
}

/// One 第7表 row: a service line, or a subtotal/total pseudo-row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryLine {
    /// サービス事業所コード (`9999999999` on the total row).
    pub office: String,
    /// サービス事業所名.
    pub office_name: String,
    /// サービスコード or pseudo-code.
    pub code: String,
    /// 単位数.
    pub units: Option<u64>,
    /// 回数／日数.
    pub count: Option<u64>,
    /// サービス単位金額.
    pub service_units: Option<u64>,
    /// 区分支給限度基準内単位.
    pub class_within: Option<u64>,
    /// 費用総額保険／事業対象.
    pub total_cost: Option<u64>,
    /// 保険／事業費請求額.
    pub claim: Option<u64>,
    /// 利用者負担保険／事業対象.
    pub copay: Option<u64>,
}

impl SummaryLine {
    /// Read record `r` of a 第7表 document.
    pub fn from_document(doc: &Document, r: usize) -> SummaryLine {
        let n = |role| doc.role(r, role).parse().ok();
        SummaryLine {
            office: doc.role(r, Role::Provider).to_owned(),
            office_name: doc.role(r, Role::ProviderName).to_owned(),
            code: doc.role(r, Role::ServiceCode).to_owned(),
            units: n(Role::Units),
            count: n(Role::Count),
            service_units: n(Role::ServiceUnits),
            class_within: n(Role::ClassWithin),
            total_cost: n(Role::TotalCost),
            claim: n(Role::Claim),
            copay: n(Role::Copay),
        }
    }

    /// Whether this is a subtotal (`xxAAAA`/`xxEEEE`/`xxZZZZ`) or total (`999999`) row.
    pub fn is_pseudo(&self) -> bool {
        self.code == "999999" || matches!(self.code.get(2..), Some("AAAA" | "EEEE" | "ZZZZ"))
    }
}
