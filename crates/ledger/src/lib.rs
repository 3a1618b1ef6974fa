//! License fee rules of the care plan data linkage, as pure functions over Asia/Tokyo dates.
//!
//! - [`dates`]: the claim month of an event (1st–15th → that month, 16th or later → the next),
//!   the benefit month it is deducted from, license terms counted as the Civil Code counts years;
//! - [`LedgerPolicy`]: the annual fee (¥21,000 incl. tax), the automatic-renewal start date and
//!   the campaigns, loaded from data (`data/policy.toml`, replaceable per deployment);
//! - [`LicenseTerm`]: what an application or a renewal writes into the ledger;
//! - [`charges_csv`]: the month's charges for the federation's deduction run.
//!
//! The crate does no I/O: the portal stores the terms and runs the renewal job.
//!
//! ```
//! use renkei_ledger::{BillingMethod, LedgerPolicy};
//! use time::macros::date;
//!
//! let policy = LedgerPolicy::national();
//! // Applied on the 16th: charged to the next month's claim; inside the free-pass campaign.
//! let term = policy.application(date!(2025 - 07 - 16), BillingMethod::default()).unwrap();
//! assert_eq!(term.claim_month.to_string(), "202508");
//! assert_eq!(term.amount_yen, 0);
//! assert!(term.auto_renew);
//! // The first renewal, a year later, pays the full fee.
//! let renewal = policy.renewal_of(term.period_start, term.auto_renew, term.billing).unwrap().unwrap();
//! assert_eq!(renewal.period_start, date!(2026 - 07 - 16));
//! assert_eq!(renewal.amount_yen, 21_000);
//! ```

pub mod charges;
pub mod dates;
pub mod policy;

pub use charges::{charges_csv, BillingMethod, ChargeRow, LicenseTerm, CHARGES_CSV_HEADER};
pub use dates::{
    claim_month, deduction_month, format_date, next_term_start, parse_date, term_end, tokyo_date,
    TOKYO,
};
pub use policy::{Campaign, EventKind, Fee, LedgerPolicy, DEFAULT_POLICY_TOML};

/// Errors of the ledger rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The policy file is invalid.
    #[error("料金ポリシーが不正です / invalid fee policy: {0}")]
    Policy(String),
    /// A date outside the supported range (1900–2999).
    #[error("対応していない日付です / date out of range: {0}")]
    DateOutOfRange(String),
}
