//! What a user can buy and what their subscription is: the plans (each a tier and a billing
//! interval, priced in Stripe), the credit packs, the subscription's state as Stripe reports it,
//! and the rule that keeps that state true whatever order Stripe's events arrive in.

use serde::{Deserialize, Serialize};

use super::account::Tier;

/// A plan a user can be on. The free plan has no price; the others are Stripe prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanId {
    Free,
    ProMonthly,
    ProYearly,
    Team,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Month,
    Year,
}

impl PlanId {
    pub const ALL: [PlanId; 4] = [PlanId::Free, PlanId::ProMonthly, PlanId::ProYearly, PlanId::Team];

    /// The plans that give `tier` (what `POST /v1/billing/checkout {plan}` takes to reach it).
    pub fn of_tier(tier: Tier) -> Vec<PlanId> {
        PlanId::ALL.into_iter().filter(|plan| *plan != PlanId::Free && plan.tier() == tier).collect()
    }

    pub fn tier(self) -> Tier {
        match self {
            PlanId::Free => Tier::Free,
            PlanId::ProMonthly | PlanId::ProYearly => Tier::Pro,
            PlanId::Team => Tier::Team,
        }
    }

    pub fn interval(self) -> Option<Interval> {
        match self {
            PlanId::Free => None,
            PlanId::ProMonthly | PlanId::Team => Some(Interval::Month),
            PlanId::ProYearly => Some(Interval::Year),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PlanId::Free => "Free",
            PlanId::ProMonthly => "Pro (monthly)",
            PlanId::ProYearly => "Pro (yearly)",
            PlanId::Team => "Team",
        }
    }

    /// The subscription credits one paid invoice of this plan grants: a month's worth per month
    /// of the period it pays for.
    pub fn credits_per_invoice(self) -> u64 {
        let months = match self.interval() {
            None => 0,
            Some(Interval::Month) => 1,
            Some(Interval::Year) => 12,
        };
        super::plan::limits(self.tier()).subscription_credits_per_month * months
    }
}

/// A one-off purchase of credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreditPack {
    Credits100,
    Credits500,
}

impl CreditPack {
    pub const ALL: [CreditPack; 2] = [CreditPack::Credits100, CreditPack::Credits500];

    pub fn credits(self) -> u64 {
        match self {
            CreditPack::Credits100 => 100,
            CreditPack::Credits500 => 500,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            CreditPack::Credits100 => "credits_100",
            CreditPack::Credits500 => "credits_500",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        CreditPack::ALL.into_iter().find(|pack| pack.code() == code)
    }
}

/// The Stripe price of each plan and credit pack (settings: a deployment's own price ids). A
/// plan without a price cannot be bought there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prices {
    pub plans: Vec<(PlanId, String)>,
    pub packs: Vec<(CreditPack, String)>,
}

impl Prices {
    pub fn of_plan(&self, plan: PlanId) -> Option<&str> {
        self.plans.iter().find(|(id, _)| *id == plan).map(|(_, price)| price.as_str())
    }

    pub fn of_pack(&self, pack: CreditPack) -> Option<&str> {
        self.packs.iter().find(|(id, _)| *id == pack).map(|(_, price)| price.as_str())
    }

    /// The plan a subscription's price is, if it is one of ours.
    pub fn plan_of(&self, price: &str) -> Option<PlanId> {
        self.plans.iter().find(|(_, id)| id == price).map(|(plan, _)| *plan)
    }
}

/// A Stripe subscription's status (Stripe's own names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Incomplete,
    IncompleteExpired,
    Trialing,
    Active,
    PastDue,
    Unpaid,
    Paused,
    Canceled,
}

impl SubscriptionStatus {
    pub fn parse(status: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(status.to_string())).ok()
    }

    /// Whether the plan's tier holds in this status. A payment that failed keeps the tier while
    /// Stripe retries it (`past_due`); the tier ends when Stripe gives up (`unpaid`, `canceled`).
    pub fn grants_tier(self) -> bool {
        matches!(self, SubscriptionStatus::Trialing | SubscriptionStatus::Active | SubscriptionStatus::PastDue)
    }

    /// Whether Stripe can never move a subscription out of this status.
    pub fn is_final(self) -> bool {
        matches!(self, SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired)
    }

    /// Where the status sits in a subscription's life, to order two reports made in the same
    /// second: a subscription is created `incomplete` and becomes `active` at once, so of two
    /// same-second reports the later stage is the newer.
    fn stage(self) -> u8 {
        match self {
            SubscriptionStatus::Incomplete => 0,
            SubscriptionStatus::Trialing => 1,
            SubscriptionStatus::Active => 2,
            SubscriptionStatus::PastDue => 3,
            SubscriptionStatus::Unpaid | SubscriptionStatus::Paused => 4,
            SubscriptionStatus::IncompleteExpired | SubscriptionStatus::Canceled => 5,
        }
    }
}

/// A report of a subscription's state, taken from one Stripe event: the newest report wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionReport {
    pub subscription_id: String,
    pub plan: PlanId,
    pub status: SubscriptionStatus,
    /// The event's `created` (seconds): when Stripe made the report.
    pub reported_at: i64,
    /// The subscription's own `created` (seconds): of two subscriptions, the later one is the
    /// user's current one.
    pub subscription_created: i64,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub trial_end: Option<i64>,
}

impl SubscriptionReport {
    /// Whether this report should replace `stored`. Stripe sends events in no guaranteed order and
    /// more than once, so each is kept only if it is newer than what we hold, by the objects' own
    /// timestamps:
    /// - a later-created subscription replaces an older one (a new purchase after a cancellation),
    ///   and an older one never replaces a newer one;
    /// - for the same subscription, a final status (canceled) is never left, and otherwise the
    ///   later report (event `created`) wins, the later stage breaking a same-second tie.
    pub fn supersedes(&self, stored: &SubscriptionReport) -> bool {
        if self.subscription_id != stored.subscription_id {
            return self.subscription_created > stored.subscription_created;
        }
        if stored.status.is_final() {
            return false;
        }
        (self.reported_at, self.status.stage()) > (stored.reported_at, stored.status.stage())
    }

    /// The tier the user has while this report holds.
    pub fn tier(&self) -> Tier {
        if self.status.grants_tier() { self.plan.tier() } else { Tier::Free }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: &str, status: SubscriptionStatus, reported_at: i64) -> SubscriptionReport {
        SubscriptionReport {
            subscription_id: id.into(),
            plan: PlanId::ProMonthly,
            status,
            reported_at,
            subscription_created: if id == "sub_new" { 200 } else { 100 },
            current_period_end: None,
            cancel_at_period_end: false,
            trial_end: None,
        }
    }

    #[test]
    fn the_newest_report_wins_whatever_order_they_arrive_in() {
        use SubscriptionStatus::*;
        let reports = [
            report("sub_old", Incomplete, 100),
            report("sub_old", Active, 100),
            report("sub_old", PastDue, 150),
            report("sub_old", Active, 160),
            report("sub_old", Canceled, 170),
            report("sub_new", Active, 180),
        ];
        // Every order of arrival ends at the same report.
        let mut orders = vec![reports.to_vec()];
        orders.push(reports.iter().rev().cloned().collect());
        orders.push(vec![reports[4].clone(), reports[0].clone(), reports[5].clone(), reports[2].clone()]);
        for order in orders {
            let mut held = order[0].clone();
            for next in &order[1..] {
                if next.supersedes(&held) {
                    held = next.clone();
                }
            }
            assert_eq!(held, reports[5], "from {order:?}");
        }
    }

    #[test]
    fn a_canceled_subscription_stays_canceled_and_leaves_the_user_free() {
        use SubscriptionStatus::*;
        let canceled = report("sub_old", Canceled, 100);
        assert!(!report("sub_old", Active, 300).supersedes(&canceled));
        assert_eq!(canceled.tier(), Tier::Free);
        assert_eq!(report("sub_old", PastDue, 1).tier(), Tier::Pro);
        assert_eq!(report("sub_old", Unpaid, 1).tier(), Tier::Free);
    }

    #[test]
    fn a_yearly_plan_grants_twelve_months_of_credits_per_invoice() {
        assert_eq!(PlanId::ProYearly.credits_per_invoice(), 12 * PlanId::ProMonthly.credits_per_invoice());
        assert_eq!(PlanId::Free.credits_per_invoice(), 0);
        assert!(PlanId::Team.credits_per_invoice() > PlanId::ProMonthly.credits_per_invoice());
    }
}
