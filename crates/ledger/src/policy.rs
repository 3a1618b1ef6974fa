//! The fee policy as data: the annual fee, the claim cut-off day, the automatic-renewal start
//! date, and campaigns (date ranges with a reduced fee).

use serde::Deserialize;
use time::Date;

use crate::dates::{format_date, parse_date};
use crate::LedgerError;

/// The policy shipped with Renkei (`data/policy.toml`): the national system's rules.
pub const DEFAULT_POLICY_TOML: &str = include_str!("../data/policy.toml");

/// What a ledger entry is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A completed 利用申請 (new license).
    Application,
    /// An annual renewal on the anniversary.
    Renewal,
}

impl EventKind {
    /// Stable storage string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Application => "application",
            Self::Renewal => "renewal",
        }
    }
    /// Parse the storage string.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "application" => Some(Self::Application),
            "renewal" => Some(Self::Renewal),
            _ => None,
        }
    }
    /// Japanese label.
    pub fn label_ja(self) -> &'static str {
        match self {
            Self::Application => "新規申請",
            Self::Renewal => "自動更新",
        }
    }
}

/// A campaign: events of the listed kinds dated `from`–`to` (inclusive, Asia/Tokyo) pay `fee_yen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    /// Stable identifier recorded on ledger rows.
    pub id: String,
    /// Name shown to offices and operators.
    pub name: String,
    /// First day (inclusive).
    pub from: Date,
    /// Last day (inclusive).
    pub to: Date,
    /// Event kinds covered.
    pub applies_to: Vec<EventKind>,
    /// Fee during the campaign, yen incl. tax.
    pub fee_yen: u32,
}

impl Campaign {
    /// Whether an event of `kind` on `date` is covered.
    pub fn covers(&self, kind: EventKind, date: Date) -> bool {
        self.applies_to.contains(&kind) && self.from <= date && date <= self.to
    }
}

/// The fee of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fee {
    /// Amount, yen incl. tax.
    pub amount_yen: u32,
    /// The campaign that set the amount, if any.
    pub campaign: Option<Campaign>,
}

/// The complete fee policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerPolicy {
    /// Annual license fee per office number, yen incl. tax (21,000).
    pub annual_fee_yen: u32,
    /// Last day of a month whose events are charged to that month's claim (15).
    pub claim_cutoff_day: u8,
    /// Licenses applied for on or after this date renew automatically.
    pub auto_renew_from: Date,
    /// Campaigns, any order.
    pub campaigns: Vec<Campaign>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    annual_fee_yen: u32,
    claim_cutoff_day: u8,
    auto_renew_from: String,
    #[serde(default)]
    campaigns: Vec<RawCampaign>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCampaign {
    id: String,
    name: String,
    from: String,
    to: String,
    applies_to: Vec<EventKind>,
    fee_yen: u32,
}

fn date_field(field: &str, s: &str) -> Result<Date, LedgerError> {
    parse_date(s)
        .ok_or_else(|| LedgerError::Policy(format!("{field}: {s:?} is not a YYYY-MM-DD date")))
}

impl LedgerPolicy {
    /// The national policy shipped with Renkei.
    pub fn national() -> Self {
        Self::from_toml(DEFAULT_POLICY_TOML).expect("the shipped policy file is valid (tested)")
    }

    /// Parse a policy file (format of `data/policy.toml`).
    pub fn from_toml(text: &str) -> Result<Self, LedgerError> {
        let raw: RawPolicy =
            toml::from_str(text).map_err(|e| LedgerError::Policy(e.to_string()))?;
        if !(1..=28).contains(&raw.claim_cutoff_day) {
            return Err(LedgerError::Policy(format!(
                "claim_cutoff_day must be 1–28 (got {})",
                raw.claim_cutoff_day
            )));
        }
        let mut campaigns = Vec::with_capacity(raw.campaigns.len());
        for c in raw.campaigns {
            let from = date_field(&format!("campaign {} from", c.id), &c.from)?;
            let to = date_field(&format!("campaign {} to", c.id), &c.to)?;
            if to < from {
                return Err(LedgerError::Policy(format!(
                    "campaign {} ends ({}) before it starts ({})",
                    c.id,
                    format_date(to),
                    format_date(from)
                )));
            }
            if c.applies_to.is_empty() {
                return Err(LedgerError::Policy(format!(
                    "campaign {} applies to nothing",
                    c.id
                )));
            }
            if campaigns.iter().any(|x: &Campaign| x.id == c.id) {
                return Err(LedgerError::Policy(format!(
                    "campaign id {} appears twice",
                    c.id
                )));
            }
            campaigns.push(Campaign {
                id: c.id,
                name: c.name,
                from,
                to,
                applies_to: c.applies_to,
                fee_yen: c.fee_yen,
            });
        }
        Ok(Self {
            annual_fee_yen: raw.annual_fee_yen,
            claim_cutoff_day: raw.claim_cutoff_day,
            auto_renew_from: date_field("auto_renew_from", &raw.auto_renew_from)?,
            campaigns,
        })
    }

    /// The fee of an event of `kind` on `date`: the lowest of the annual fee and every campaign
    /// covering it.
    pub fn fee(&self, kind: EventKind, date: Date) -> Fee {
        let best = self
            .campaigns
            .iter()
            .filter(|c| c.covers(kind, date) && c.fee_yen < self.annual_fee_yen)
            .min_by_key(|c| c.fee_yen);
        match best {
            Some(c) => Fee {
                amount_yen: c.fee_yen,
                campaign: Some(c.clone()),
            },
            None => Fee {
                amount_yen: self.annual_fee_yen,
                campaign: None,
            },
        }
    }

    /// Whether a license applied for on `date` renews automatically.
    pub fn auto_renews(&self, application_date: Date) -> bool {
        application_date >= self.auto_renew_from
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn shipped_policy_is_the_national_one() {
        let p = LedgerPolicy::national();
        assert_eq!(p.annual_fee_yen, 21_000);
        assert_eq!(p.claim_cutoff_day, 15);
        assert_eq!(p.auto_renew_from, date!(2025 - 06 - 01));
        assert_eq!(p.campaigns.len(), 1);
    }

    #[test]
    fn free_pass_campaign_first_and_last_day() {
        let p = LedgerPolicy::national();
        for kind in [EventKind::Application, EventKind::Renewal] {
            assert_eq!(
                p.fee(kind, date!(2025 - 05 - 31)).amount_yen,
                21_000,
                "day before"
            );
            let first = p.fee(kind, date!(2025 - 06 - 01));
            assert_eq!(first.amount_yen, 0, "first day");
            assert_eq!(
                first.campaign.as_ref().map(|c| c.id.as_str()),
                Some("free-pass-2025")
            );
            assert_eq!(p.fee(kind, date!(2026 - 02 - 28)).amount_yen, 0);
            assert_eq!(p.fee(kind, date!(2026 - 05 - 31)).amount_yen, 0, "last day");
            let after = p.fee(kind, date!(2026 - 06 - 01));
            assert_eq!(after.amount_yen, 21_000, "day after");
            assert!(after.campaign.is_none());
        }
    }

    #[test]
    fn auto_renewal_starts_2025_06_01() {
        let p = LedgerPolicy::national();
        assert!(!p.auto_renews(date!(2025 - 05 - 31)));
        assert!(p.auto_renews(date!(2025 - 06 - 01)));
        assert!(p.auto_renews(date!(2030 - 01 - 01)));
    }

    #[test]
    fn campaigns_are_data() {
        let text = r#"
            annual_fee_yen = 21000
            claim_cutoff_day = 15
            auto_renew_from = "2025-06-01"
            [[campaigns]]
            id = "half"
            name = "半額"
            from = "2027-01-01"
            to = "2027-01-31"
            applies_to = ["renewal"]
            fee_yen = 10500
            [[campaigns]]
            id = "free-jan-15"
            name = "1日だけ無料"
            from = "2027-01-15"
            to = "2027-01-15"
            applies_to = ["renewal", "application"]
            fee_yen = 0
        "#;
        let p = LedgerPolicy::from_toml(text).unwrap();
        assert_eq!(
            p.fee(EventKind::Application, date!(2027 - 01 - 10))
                .amount_yen,
            21_000
        );
        assert_eq!(
            p.fee(EventKind::Renewal, date!(2027 - 01 - 10)).amount_yen,
            10_500
        );
        assert_eq!(
            p.fee(EventKind::Renewal, date!(2027 - 01 - 15)).amount_yen,
            0,
            "lowest wins"
        );
        assert_eq!(
            p.fee(EventKind::Application, date!(2027 - 01 - 15))
                .amount_yen,
            0
        );
    }

    #[test]
    fn bad_policies_are_refused_with_a_reason() {
        let base =
            "annual_fee_yen = 21000\nclaim_cutoff_day = 15\nauto_renew_from = \"2025-06-01\"\n";
        let camp = |from: &str, to: &str, applies: &str| {
            format!("{base}[[campaigns]]\nid = \"x\"\nname = \"x\"\nfrom = \"{from}\"\nto = \"{to}\"\napplies_to = {applies}\nfee_yen = 0\n")
        };
        assert!(LedgerPolicy::from_toml(base).is_ok());
        for bad in [
            camp("2026-01-01", "2025-01-01", "[\"renewal\"]"),
            camp("2026-02-30", "2026-03-01", "[\"renewal\"]"),
            camp("2026-01-01", "2026-03-01", "[]"),
            camp("2026-01-01", "2026-03-01", "[\"refund\"]"),
            base.replace("15", "31"),
            base.replace("2025-06-01", "June"),
            format!("{base}surprise = 1\n"),
        ] {
            let err = LedgerPolicy::from_toml(&bad).unwrap_err();
            assert!(matches!(err, LedgerError::Policy(_)), "{bad}");
        }
    }
}
