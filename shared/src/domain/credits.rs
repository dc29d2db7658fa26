//! AI credits: four kinds, spent in the order daily → subscription → purchased → kickstart (the
//! ones that expire soonest first). Spending is a reservation that is later committed or refunded,
//! each idempotent by the job's id. Pure: the store persists a `Balance` and its `Reservation`s and
//! calls these rules to change them, so the property tests here cover what the table does.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Credits granted once, the first time the user's balance is written (at signup, in effect).
pub const KICKSTART_CREDITS: u64 = 25;
/// Subscription credits carried into a new period at most (the rest expire at the renewal).
pub const SUBSCRIPTION_CARRY_CAP: u64 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreditKind {
    Daily,
    Subscription,
    Purchased,
    Kickstart,
}

impl CreditKind {
    /// The spending order.
    pub const ORDER: [CreditKind; 4] =
        [CreditKind::Daily, CreditKind::Subscription, CreditKind::Purchased, CreditKind::Kickstart];
}

/// An amount of each kind: a balance, what a reservation took, what a grant gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Amounts {
    pub daily: u64,
    pub subscription: u64,
    pub purchased: u64,
    pub kickstart: u64,
}

impl Amounts {
    pub fn of(kind: CreditKind, amount: u64) -> Self {
        let mut amounts = Amounts::default();
        *amounts.get_mut(kind) = amount;
        amounts
    }

    pub fn get(&self, kind: CreditKind) -> u64 {
        match kind {
            CreditKind::Daily => self.daily,
            CreditKind::Subscription => self.subscription,
            CreditKind::Purchased => self.purchased,
            CreditKind::Kickstart => self.kickstart,
        }
    }

    fn get_mut(&mut self, kind: CreditKind) -> &mut u64 {
        match kind {
            CreditKind::Daily => &mut self.daily,
            CreditKind::Subscription => &mut self.subscription,
            CreditKind::Purchased => &mut self.purchased,
            CreditKind::Kickstart => &mut self.kickstart,
        }
    }

    pub fn total(&self) -> u64 {
        CreditKind::ORDER.iter().map(|kind| self.get(*kind)).sum()
    }

    pub fn is_zero(&self) -> bool {
        self.total() == 0
    }

    pub fn plus(&self, other: &Amounts) -> Amounts {
        let mut sum = *self;
        for kind in CreditKind::ORDER {
            *sum.get_mut(kind) += other.get(kind);
        }
        sum
    }

    /// `self - other`, or None if any kind would go below zero.
    pub fn minus(&self, other: &Amounts) -> Option<Amounts> {
        let mut rest = *self;
        for kind in CreditKind::ORDER {
            *rest.get_mut(kind) = self.get(kind).checked_sub(other.get(kind))?;
        }
        Some(rest)
    }
}

/// A user's credits and the day (in their zone) the daily credits belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    pub amounts: Amounts,
    /// The day the daily credits were last set; None before the first use.
    pub daily_day: Option<NaiveDate>,
    /// The allowance they were given for that day (None: not known, a balance older than this),
    /// so that a tier raised during the day tops them up to the new one.
    pub daily_allowance: Option<u64>,
}

/// What setting a balance's day changed: the balance after, the daily credits of an earlier day
/// that expired, and the daily credits given (a new day's allowance, or a raised one's rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayChange {
    pub balance: Balance,
    pub expired: u64,
    pub granted: u64,
}

impl Balance {
    /// The balance before anything was ever written: the kickstart credits.
    pub fn opening() -> Self {
        Balance {
            amounts: Amounts::of(CreditKind::Kickstart, KICKSTART_CREDITS),
            daily_day: None,
            daily_allowance: None,
        }
    }

    /// The daily credits set for `today` (the tier's allowance) when they belong to an earlier
    /// day, and what expired with the old ones. Lazily on first use: no job resets balances at
    /// midnight. Only forward: a user who moves to a zone where it is still yesterday keeps
    /// today's credits rather than a fresh allowance (switching zones back and forth must not
    /// refill them). On the same day a raised allowance (an upgrade) adds its difference; a
    /// lowered one takes nothing back before the next day.
    pub fn for_day(&self, today: NaiveDate, daily_allowance: u64) -> DayChange {
        if self.daily_day.is_some_and(|day| day >= today) {
            let raised = self.daily_allowance.map_or(0, |had| daily_allowance.saturating_sub(had));
            let amounts = Amounts { daily: self.amounts.daily + raised, ..self.amounts };
            let allowance = if raised > 0 { Some(daily_allowance) } else { self.daily_allowance };
            let balance = Balance { amounts, daily_allowance: allowance, ..*self };
            return DayChange { balance, expired: 0, granted: raised };
        }
        let amounts = Amounts { daily: daily_allowance, ..self.amounts };
        let balance = Balance { amounts, daily_day: Some(today), daily_allowance: Some(daily_allowance) };
        DayChange { balance, expired: self.amounts.daily, granted: daily_allowance }
    }

    /// Takes `amount` from the kinds in spending order; refused with nothing taken if the total
    /// falls short.
    pub fn reserve(&self, amount: u64) -> Result<(Balance, Amounts), InsufficientCredits> {
        if amount > self.amounts.total() {
            return Err(InsufficientCredits { needed: amount, balance: self.amounts });
        }
        let mut left = amount;
        let mut taken = Amounts::default();
        for kind in CreditKind::ORDER {
            let take = left.min(self.amounts.get(kind));
            *taken.get_mut(kind) = take;
            left -= take;
        }
        let amounts = self.amounts.minus(&taken).expect("took at most what each kind holds");
        Ok((Balance { amounts, ..*self }, taken))
    }

    /// Gives back what a reservation took, to the kinds it came from. Daily credits taken on
    /// another day than the balance's expire instead (a refund must not lift today's allowance);
    /// the second value says how many.
    pub fn refund(&self, reservation: &Reservation) -> (Balance, u64) {
        let mut back = reservation.taken;
        let expired = if self.daily_day == Some(reservation.day) { 0 } else { std::mem::take(&mut back.daily) };
        (Balance { amounts: self.amounts.plus(&back), ..*self }, expired)
    }

    /// Adds a grant of one kind. A subscription grant first lets the carried-over subscription
    /// credits above `SUBSCRIPTION_CARRY_CAP` expire (the second value).
    pub fn grant(&self, kind: CreditKind, amount: u64) -> (Balance, u64) {
        let mut amounts = self.amounts;
        let mut expired = 0;
        if kind == CreditKind::Subscription {
            expired = amounts.subscription.saturating_sub(SUBSCRIPTION_CARRY_CAP);
            amounts.subscription -= expired;
        }
        *amounts.get_mut(kind) += amount;
        (Balance { amounts, ..*self }, expired)
    }
}

/// What a reservation took and on which day (for the refund of daily credits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub taken: Amounts,
    pub day: NaiveDate,
    pub state: ReservationState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    Reserved,
    Committed,
    Refunded,
}

/// Fewer credits than a job needs: 402 `insufficient_credits` with the balance per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsufficientCredits {
    pub needed: u64,
    pub balance: Amounts,
}

/// An entry of the credit history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerEntryKind {
    Grant,
    Reserve,
    Commit,
    Refund,
    Expire,
}

/// The user's calendar day now, in their zone (UTC for a zone we cannot read).
pub fn today(now: DateTime<Utc>, timezone: &str) -> NaiveDate {
    let zone: Tz = timezone.parse().unwrap_or(Tz::UTC);
    now.with_timezone(&zone).date_naive()
}

/// The next midnight in the user's zone, as an instant: when the daily credits reset. On a day
/// whose midnight a DST change skips, the first instant of that day.
pub fn next_daily_reset(now: DateTime<Utc>, timezone: &str) -> DateTime<Utc> {
    let zone: Tz = timezone.parse().unwrap_or(Tz::UTC);
    let tomorrow = today(now, timezone).succ_opt().unwrap_or(NaiveDate::MAX);
    super::calendar::midnight(tomorrow, zone)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 1).unwrap() + chrono::Duration::days(i64::from(n))
    }

    #[test]
    fn a_reservation_takes_the_kinds_in_order() {
        let balance = Balance {
            amounts: Amounts { daily: 2, subscription: 3, purchased: 4, kickstart: 5 },
            daily_day: Some(day(0)),
            daily_allowance: Some(10),
        };
        let (after, taken) = balance.reserve(7).unwrap();
        assert_eq!(taken, Amounts { daily: 2, subscription: 3, purchased: 2, kickstart: 0 });
        assert_eq!(after.amounts, Amounts { daily: 0, subscription: 0, purchased: 2, kickstart: 5 });
        let refused = after.reserve(8).unwrap_err();
        assert_eq!(refused, InsufficientCredits { needed: 8, balance: after.amounts });
    }

    #[test]
    fn daily_credits_reset_on_a_new_day_and_the_old_ones_expire() {
        let amounts = Amounts { daily: 3, kickstart: 1, ..Amounts::default() };
        let balance = Balance { amounts, daily_day: Some(day(0)), daily_allowance: Some(10) };
        assert_eq!(balance.for_day(day(0), 10), DayChange { balance, expired: 0, granted: 0 });
        let next = balance.for_day(day(1), 10);
        assert_eq!((next.expired, next.granted), (3, 10));
        assert_eq!(next.balance.amounts, Amounts { daily: 10, kickstart: 1, ..Amounts::default() });
        assert_eq!(next.balance.daily_day, Some(day(1)));
    }

    #[test]
    fn an_upgrade_during_the_day_tops_the_daily_credits_up_once_and_a_downgrade_takes_none_back() {
        let balance =
            Balance { amounts: Amounts::of(CreditKind::Daily, 1), daily_day: Some(day(0)), daily_allowance: Some(3) };
        let upgraded = balance.for_day(day(0), 10);
        assert_eq!((upgraded.balance.amounts.daily, upgraded.granted, upgraded.expired), (8, 7, 0));
        assert_eq!(upgraded.balance.daily_allowance, Some(10));
        assert_eq!(upgraded.balance.for_day(day(0), 10).granted, 0, "once");
        assert_eq!(upgraded.balance.for_day(day(0), 3).balance, upgraded.balance, "a downgrade takes nothing back");
        let unknown = Balance { daily_allowance: None, ..balance };
        assert_eq!(unknown.for_day(day(0), 10).granted, 0, "an older balance waits for its next day");
    }

    #[test]
    fn moving_to_a_zone_where_it_is_still_yesterday_keeps_todays_credits() {
        let balance =
            Balance { amounts: Amounts::of(CreditKind::Daily, 1), daily_day: Some(day(1)), daily_allowance: Some(10) };
        let same = DayChange { balance, expired: 0, granted: 0 };
        assert_eq!(balance.for_day(day(0), 10), same, "no fresh allowance going west");
        assert_eq!(balance.for_day(day(1), 10), same);
        assert_eq!(balance.for_day(day(2), 10).balance.amounts.daily, 10);
    }

    #[test]
    fn subscription_credits_carry_over_up_to_the_cap() {
        let balance =
            Balance { amounts: Amounts::of(CreditKind::Subscription, 80), daily_day: None, daily_allowance: None };
        let (after, expired) = balance.grant(CreditKind::Subscription, 100);
        assert_eq!((after.amounts.subscription, expired), (SUBSCRIPTION_CARRY_CAP + 100, 30));
        let (after, expired) = balance.grant(CreditKind::Purchased, 100);
        assert_eq!((after.amounts.subscription, after.amounts.purchased, expired), (80, 100, 0));
    }

    #[test]
    fn a_refund_after_midnight_lets_yesterdays_daily_credits_expire() {
        let balance =
            Balance { amounts: Amounts::of(CreditKind::Daily, 5), daily_day: Some(day(0)), daily_allowance: Some(5) };
        let (after, taken) = balance.reserve(3).unwrap();
        let reservation = Reservation { taken, day: day(0), state: ReservationState::Reserved };
        assert_eq!(after.refund(&reservation).0.amounts.daily, 5);
        let tomorrow = after.for_day(day(1), 5).balance;
        let (refunded, expired) = tomorrow.refund(&reservation);
        assert_eq!((refunded.amounts.daily, expired), (5, 3));
    }

    #[test]
    fn the_daily_reset_is_the_next_midnight_in_the_users_zone() {
        let now = "2026-12-02T22:30:00Z".parse().unwrap();
        assert_eq!(next_daily_reset(now, "Europe/Berlin"), "2026-12-02T23:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(next_daily_reset(now, "America/New_York"), "2026-12-03T05:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(today(now, "Europe/Berlin"), NaiveDate::from_ymd_opt(2026, 12, 2).unwrap());
        assert_eq!(today(now, "Asia/Tokyo"), NaiveDate::from_ymd_opt(2026, 12, 3).unwrap());
        // Santiago skips midnight on 2026-09-06: the day starts at 01:00 local (04:00 UTC).
        let before = "2026-09-05T12:00:00Z".parse().unwrap();
        assert_eq!(
            next_daily_reset(before, "America/Santiago"),
            "2026-09-06T04:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    /// A pure model of the store's book: a balance and its reservations by job id, each
    /// operation applied as the store applies it (idempotent by job id).
    #[derive(Debug)]
    struct Book {
        balance: Balance,
        reservations: BTreeMap<u8, Reservation>,
        /// The calendar day where the user is: `real_day` moved by their zone (-1, 0 or +1).
        today: NaiveDate,
        real_day: NaiveDate,
        /// Daily allowances given, and the first and latest days they were given on.
        daily_grants: i64,
        first: Option<NaiveDate>,
        latest: NaiveDate,
        granted: u64,
        committed: u64,
        expired: u64,
        /// The tier's daily allowance now, and the daily credits given on each day.
        allowance: u64,
        daily_given: BTreeMap<NaiveDate, u64>,
        highest_allowance: BTreeMap<NaiveDate, u64>,
    }

    #[derive(Debug, Clone)]
    enum Op {
        Grant(CreditKind, u64),
        Reserve(u8, u64),
        Commit(u8),
        Refund(u8),
        NextDay,
        /// The user moves to a zone `n` days off the real one (west: still yesterday).
        MoveZone(i8),
        /// The tier changes: its daily allowance.
        Tier(u64),
    }

    const DAILY: u64 = 5;
    const DAILY_PRO: u64 = 10;

    impl Book {
        fn new() -> Self {
            let balance = Balance::opening();
            let granted = balance.amounts.total();
            Book {
                balance,
                reservations: BTreeMap::new(),
                today: day(0),
                real_day: day(0),
                daily_grants: 0,
                first: None,
                latest: day(0),
                granted,
                committed: 0,
                expired: 0,
                allowance: DAILY,
                daily_given: BTreeMap::new(),
                highest_allowance: BTreeMap::new(),
            }
        }

        fn outstanding(&self) -> u64 {
            self.reservations.values().filter(|r| r.state == ReservationState::Reserved).map(|r| r.taken.total()).sum()
        }

        fn with_today(&mut self) {
            let before = self.balance.amounts.total();
            let DayChange { balance, expired, granted } = self.balance.for_day(self.today, self.allowance);
            if balance.daily_day != self.balance.daily_day {
                self.daily_grants += 1;
                self.first = self.first.or(Some(self.today));
                self.latest = self.latest.max(self.today);
            }
            assert_eq!(balance.amounts.total() + expired - before, granted, "the grant is what was added");
            let day = balance.daily_day.unwrap();
            *self.daily_given.entry(day).or_default() += granted;
            let highest = self.highest_allowance.entry(day).or_default();
            *highest = (*highest).max(self.allowance);
            self.granted += granted;
            self.expired += expired;
            self.balance = balance;
        }

        fn apply(&mut self, op: &Op) {
            match *op {
                Op::Grant(kind, amount) => {
                    let (balance, expired) = self.balance.grant(kind, amount);
                    self.balance = balance;
                    self.granted += amount;
                    self.expired += expired;
                }
                Op::Reserve(job, amount) => {
                    if self.reservations.contains_key(&job) {
                        return;
                    }
                    self.with_today();
                    let before = self.balance;
                    match self.balance.reserve(amount) {
                        Ok((balance, taken)) => {
                            assert_eq!(taken.total(), amount);
                            assert_in_order(&before.amounts, &taken);
                            self.balance = balance;
                            let state = ReservationState::Reserved;
                            let day = balance.daily_day.unwrap_or(self.today);
                            self.reservations.insert(job, Reservation { taken, day, state });
                        }
                        Err(refused) => assert!(refused.balance.total() < amount),
                    }
                }
                Op::Commit(job) => {
                    if let Some(reservation) = self.reservations.get_mut(&job)
                        && reservation.state == ReservationState::Reserved
                    {
                        reservation.state = ReservationState::Committed;
                        self.committed += reservation.taken.total();
                    }
                }
                Op::Refund(job) => {
                    if let Some(reservation) = self.reservations.get(&job).copied()
                        && reservation.state == ReservationState::Reserved
                    {
                        let (balance, expired) = self.balance.refund(&reservation);
                        self.balance = balance;
                        self.expired += expired;
                        self.reservations.get_mut(&job).unwrap().state = ReservationState::Refunded;
                    }
                }
                Op::NextDay => {
                    self.real_day = self.real_day.succ_opt().unwrap();
                    self.today = self.today.succ_opt().unwrap();
                }
                Op::MoveZone(offset) => self.today = self.real_day + chrono::Duration::days(i64::from(offset)),
                Op::Tier(allowance) => self.allowance = allowance,
            }
        }
    }

    /// A kind was taken from only when every kind before it was used up.
    fn assert_in_order(before: &Amounts, taken: &Amounts) {
        for (index, kind) in CreditKind::ORDER.iter().enumerate() {
            if taken.get(*kind) > 0 {
                for earlier in &CreditKind::ORDER[..index] {
                    assert_eq!(taken.get(*earlier), before.get(*earlier), "{kind:?} spent before {earlier:?} ran out");
                }
            }
        }
    }

    fn granted_kind() -> impl Strategy<Value = CreditKind> {
        prop::sample::select(vec![CreditKind::Subscription, CreditKind::Purchased, CreditKind::Kickstart])
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            // Daily credits are never granted: they come with a new day.
            (granted_kind(), 0..120u64).prop_map(|(kind, amount)| Op::Grant(kind, amount)),
            (0..8u8, 1..40u64).prop_map(|(job, amount)| Op::Reserve(job, amount)),
            (0..8u8).prop_map(Op::Commit),
            (0..8u8).prop_map(Op::Refund),
            Just(Op::NextDay),
            (-1..=1i8).prop_map(Op::MoveZone),
            prop::sample::select(vec![DAILY, DAILY_PRO]).prop_map(Op::Tier),
        ]
    }

    proptest! {
        #[test]
        fn no_sequence_overspends_loses_or_makes_credits(ops in prop::collection::vec(op(), 0..60)) {
            let mut book = Book::new();
            for op in &ops {
                book.apply(op);
                // Amounts are unsigned, so "never negative" is that no step underflowed: the
                // arithmetic above would have panicked. The total is conserved:
                prop_assert_eq!(
                    book.granted,
                    book.balance.amounts.total() + book.outstanding() + book.committed + book.expired,
                    "after {:?}", op
                );
                // Moving between zones never refills the daily credits: one allowance per day
                // the user reached, and never more than one allowance at once.
                let days = book.first.map_or(0, |first| (book.latest - first).num_days() + 1);
                prop_assert!(book.daily_grants <= days, "after {:?}", op);
                prop_assert!(book.balance.amounts.daily <= DAILY_PRO, "after {:?}", op);
                // A day's daily credits never pass the highest allowance the user had that day.
                for (day, given) in &book.daily_given {
                    prop_assert!(*given <= book.highest_allowance[day], "{} given on {}", given, day);
                }
            }
        }

        #[test]
        fn a_repeated_commit_or_refund_changes_nothing(ops in prop::collection::vec(op(), 0..40), job in 0..8u8) {
            let mut book = Book::new();
            for op in &ops {
                book.apply(op);
            }
            for op in [Op::Commit(job), Op::Refund(job)] {
                book.apply(&op);
                let (balance, committed) = (book.balance, book.committed);
                book.apply(&op);
                prop_assert_eq!((book.balance, book.committed), (balance, committed));
            }
        }
    }
}
