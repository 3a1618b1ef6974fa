//! License terms and charges: what a completed 利用申請 or an anniversary puts in the ledger, and
//! the month's charges as CSV for the federation's deduction run.

use renkei_ids::{KjUserId, OfficeNumber, YearMonth};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::dates::{claim_month, deduction_month, next_term_start, term_end};
use crate::policy::{EventKind, LedgerPolicy};
use crate::LedgerError;

/// How the office pays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingMethod {
    /// Deducted from the benefit (介護給付費) the federation pays the office (the default).
    #[default]
    Deduction,
    /// An invoice from the federation, on the office's request.
    Invoice,
}

impl BillingMethod {
    /// Stable storage string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deduction => "deduction",
            Self::Invoice => "invoice",
        }
    }
    /// Parse the storage string.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "deduction" => Some(Self::Deduction),
            "invoice" => Some(Self::Invoice),
            _ => None,
        }
    }
    /// Japanese label.
    pub fn label_ja(self) -> &'static str {
        match self {
            Self::Deduction => "介護給付費からの差し引き",
            Self::Invoice => "請求書による支払い",
        }
    }
}

/// One license term: the ledger entry of an application or a renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseTerm {
    /// Application or renewal.
    pub kind: EventKind,
    /// The day of the event (Asia/Tokyo): the application day or the renewal day.
    pub event_date: Date,
    /// First day of the term (= `event_date`).
    pub period_start: Date,
    /// Last day of the term.
    pub period_end: Date,
    /// The claim month the fee is charged to.
    pub claim_month: YearMonth,
    /// The month whose benefit payment the fee is deducted from (claim month + 1).
    pub deduction_month: YearMonth,
    /// Fee, yen incl. tax.
    pub amount_yen: u32,
    /// How it is paid.
    pub billing: BillingMethod,
    /// Campaign that set the fee, if any.
    pub campaign: Option<String>,
    /// Human-readable reason (Japanese) for the charges export.
    pub reason: String,
    /// Whether the term renews automatically on its anniversary.
    pub auto_renew: bool,
}

impl LedgerPolicy {
    fn term(
        &self,
        kind: EventKind,
        start: Date,
        billing: BillingMethod,
        auto_renew: bool,
    ) -> Result<LicenseTerm, LedgerError> {
        let out_of_range = || LedgerError::DateOutOfRange(crate::dates::format_date(start));
        let claim = claim_month(start, self.claim_cutoff_day).ok_or_else(out_of_range)?;
        let fee = self.fee(kind, start);
        let reason = match &fee.campaign {
            Some(c) => format!("年間利用料（{}）{}適用", kind.label_ja(), c.name),
            None => format!("年間利用料（{}）", kind.label_ja()),
        };
        Ok(LicenseTerm {
            kind,
            event_date: start,
            period_start: start,
            period_end: term_end(start).ok_or_else(out_of_range)?,
            claim_month: claim,
            deduction_month: deduction_month(claim),
            amount_yen: fee.amount_yen,
            billing,
            campaign: fee.campaign.map(|c| c.id),
            reason,
            auto_renew,
        })
    }

    /// The term a 利用申請 completed on `date` (Asia/Tokyo) starts.
    pub fn application(
        &self,
        date: Date,
        billing: BillingMethod,
    ) -> Result<LicenseTerm, LedgerError> {
        self.term(
            EventKind::Application,
            date,
            billing,
            self.auto_renews(date),
        )
    }

    /// The term that follows a term starting on `period_start`, if it renews automatically.
    pub fn renewal_of(
        &self,
        period_start: Date,
        auto_renew: bool,
        billing: BillingMethod,
    ) -> Result<Option<LicenseTerm>, LedgerError> {
        if !auto_renew {
            return Ok(None);
        }
        let start = next_term_start(period_start)
            .ok_or_else(|| LedgerError::DateOutOfRange(crate::dates::format_date(period_start)))?;
        self.term(EventKind::Renewal, start, billing, true)
            .map(Some)
    }

    /// Every renewal due by `today` after the latest term (catching up when the renewal job did
    /// not run for a while), oldest first.
    pub fn renewals_due(
        &self,
        latest_start: Date,
        auto_renew: bool,
        billing: BillingMethod,
        today: Date,
    ) -> Result<Vec<LicenseTerm>, LedgerError> {
        let mut out = Vec::new();
        let (mut start, mut renews) = (latest_start, auto_renew);
        while let Some(next) = self.renewal_of(start, renews, billing)? {
            if next.period_start > today {
                break;
            }
            start = next.period_start;
            renews = next.auto_renew;
            out.push(next);
        }
        Ok(out)
    }
}

/// One line of the charges export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRow {
    /// 介護保険事業所番号.
    pub office: OfficeNumber,
    /// 介護電子請求用ユーザID.
    pub kj_id: KjUserId,
    /// Yen incl. tax.
    pub amount_yen: u32,
    /// 請求年月.
    pub claim_month: YearMonth,
    /// Reason.
    pub reason: String,
    /// How it is paid.
    pub billing: BillingMethod,
}

/// The header line of [`charges_csv`].
pub const CHARGES_CSV_HEADER: &str = "office_number,kj_id,amount_yen,claim_month,reason,billing";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The charges as CSV (UTF-8, CRLF, a header line): office number, KJ ID, amount, claim month,
/// reason, billing method. Rows are written in the order given.
pub fn charges_csv(rows: &[ChargeRow]) -> String {
    let mut out = String::with_capacity(64 * (rows.len() + 1));
    out.push_str(CHARGES_CSV_HEADER);
    out.push_str("\r\n");
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{}\r\n",
            r.office,
            r.kj_id,
            r.amount_yen,
            r.claim_month,
            csv_field(&r.reason),
            r.billing.as_str()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn ym(s: &str) -> YearMonth {
        s.parse().unwrap()
    }

    #[test]
    fn application_before_the_campaign_pays_and_does_not_renew() {
        let p = LedgerPolicy::national();
        let t = p
            .application(date!(2025 - 05 - 15), BillingMethod::Deduction)
            .unwrap();
        assert_eq!(t.amount_yen, 21_000);
        assert_eq!(t.claim_month, ym("202505"));
        assert_eq!(t.deduction_month, ym("202506"));
        assert_eq!(t.period_end, date!(2026 - 05 - 14));
        assert!(!t.auto_renew);
        assert_eq!(t.campaign, None);
        assert_eq!(t.reason, "年間利用料（新規申請）");
        assert!(p
            .renewals_due(
                t.period_start,
                t.auto_renew,
                t.billing,
                date!(2030 - 01 - 01)
            )
            .unwrap()
            .is_empty());
    }

    #[test]
    fn application_on_the_sixteenth_goes_to_next_month() {
        let p = LedgerPolicy::national();
        let t = p
            .application(date!(2025 - 05 - 16), BillingMethod::Invoice)
            .unwrap();
        assert_eq!(t.claim_month, ym("202506"));
        assert_eq!(t.deduction_month, ym("202507"));
        assert_eq!(t.billing, BillingMethod::Invoice);
    }

    #[test]
    fn campaign_application_is_free_and_renews_at_full_fee_after_it() {
        let p = LedgerPolicy::national();
        let t = p
            .application(date!(2025 - 06 - 01), BillingMethod::Deduction)
            .unwrap();
        assert_eq!(t.amount_yen, 0);
        assert_eq!(t.campaign.as_deref(), Some("free-pass-2025"));
        assert!(t.reason.contains("フリーパスキャンペーン"));
        assert!(t.auto_renew);
        let r = p
            .renewal_of(t.period_start, t.auto_renew, t.billing)
            .unwrap()
            .unwrap();
        assert_eq!(r.kind, EventKind::Renewal);
        assert_eq!(r.period_start, date!(2026 - 06 - 01));
        assert_eq!(r.amount_yen, 21_000, "the campaign ended on 2026-05-31");
        assert_eq!(r.claim_month, ym("202606"));
        assert_eq!(r.reason, "年間利用料（自動更新）");
    }

    #[test]
    fn renewal_inside_the_campaign_is_free() {
        // Applied 2025-05-31 (no auto-renew) vs a renewal dated in the campaign via a custom
        // policy that auto-renews everything.
        let mut p = LedgerPolicy::national();
        p.auto_renew_from = date!(2000 - 01 - 01);
        let t = p
            .application(date!(2024 - 06 - 20), BillingMethod::Deduction)
            .unwrap();
        assert_eq!(t.amount_yen, 21_000);
        let r = p
            .renewal_of(t.period_start, t.auto_renew, t.billing)
            .unwrap()
            .unwrap();
        assert_eq!(r.period_start, date!(2025 - 06 - 20));
        assert_eq!(r.amount_yen, 0);
        assert_eq!(
            r.claim_month,
            ym("202507"),
            "renewal on the 20th: next month's claim"
        );
        let last_day = p
            .application(date!(2025 - 05 - 31), BillingMethod::Deduction)
            .unwrap();
        let r = p
            .renewal_of(last_day.period_start, true, last_day.billing)
            .unwrap()
            .unwrap();
        assert_eq!(r.period_start, date!(2026 - 05 - 31));
        assert_eq!(r.amount_yen, 0, "the campaign's last day");
        assert_eq!(r.claim_month, ym("202606"));
    }

    #[test]
    fn renewals_catch_up_and_stop_at_today() {
        let p = LedgerPolicy::national();
        let t = p
            .application(date!(2025 - 12 - 20), BillingMethod::Deduction)
            .unwrap();
        assert_eq!(t.claim_month, ym("202601"), "Dec 20 → January claim");
        assert!(p
            .renewals_due(t.period_start, true, t.billing, date!(2026 - 12 - 19))
            .unwrap()
            .is_empty());
        let due = p
            .renewals_due(t.period_start, true, t.billing, date!(2026 - 12 - 20))
            .unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].claim_month, ym("202701"));
        let due = p
            .renewals_due(t.period_start, true, t.billing, date!(2029 - 01 - 01))
            .unwrap();
        let starts: Vec<Date> = due.iter().map(|t| t.period_start).collect();
        assert_eq!(
            starts,
            vec![
                date!(2026 - 12 - 20),
                date!(2027 - 12 - 20),
                date!(2028 - 12 - 20)
            ]
        );
    }

    #[test]
    fn leap_day_application_renews_on_the_first_of_march() {
        let mut p = LedgerPolicy::national();
        p.auto_renew_from = date!(2000 - 01 - 01);
        let t = p
            .application(date!(2028 - 02 - 29), BillingMethod::Deduction)
            .unwrap();
        assert_eq!(t.period_end, date!(2029 - 02 - 28));
        assert_eq!(t.claim_month, ym("202803"));
        let r = p
            .renewal_of(t.period_start, true, t.billing)
            .unwrap()
            .unwrap();
        assert_eq!(r.period_start, date!(2029 - 03 - 01));
        assert_eq!(r.claim_month, ym("202903"));
    }

    #[test]
    fn csv_export_quotes_and_orders() {
        let rows = vec![
            ChargeRow {
                office: "1310100010".parse().unwrap(),
                kj_id: "KJ000000000001".parse().unwrap(),
                amount_yen: 21_000,
                claim_month: ym("202607"),
                reason: "年間利用料（自動更新）".into(),
                billing: BillingMethod::Deduction,
            },
            ChargeRow {
                office: "2710100020".parse().unwrap(),
                kj_id: "KJ000000000002".parse().unwrap(),
                amount_yen: 0,
                claim_month: ym("202607"),
                reason: "a,\"b\"".into(),
                billing: BillingMethod::Invoice,
            },
        ];
        let csv = charges_csv(&rows);
        assert_eq!(
            csv,
            "office_number,kj_id,amount_yen,claim_month,reason,billing\r\n\
             1310100010,KJ000000000001,21000,202607,年間利用料（自動更新）,deduction\r\n\
             2710100020,KJ000000000002,0,202607,\"a,\"\"b\"\"\",invoice\r\n"
        );
        assert_eq!(charges_csv(&[]), format!("{CHARGES_CSV_HEADER}\r\n"));
    }

    #[test]
    fn billing_method_round_trips() {
        for m in [BillingMethod::Deduction, BillingMethod::Invoice] {
            assert_eq!(BillingMethod::parse(m.as_str()), Some(m));
        }
        assert_eq!(BillingMethod::default(), BillingMethod::Deduction);
        assert_eq!(BillingMethod::parse("cash"), None);
    }
}
