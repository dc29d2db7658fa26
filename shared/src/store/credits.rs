//! The credit ledger in the table: the balance (`USER#<id>` / `CREDITS`, one number per kind and
//! the day the daily credits belong to), one reservation per job (`CREDIT_JOB#<job id>`), one
//! marker per grant source (`CREDIT_GRANT#<invoice or checkout id>`), and the history
//! (`CREDIT_LEDGER#<ulid>`). `domain::credits` decides every change; this module writes it under
//! conditions that make it exact while many jobs spend at once:
//! - a reservation subtracts with a condition per kind (the kinds it drains must still hold
//!   exactly what it read, the last one at least what it takes), so concurrent reservations all
//!   succeed while the balance covers them and the order of kinds holds at the moment of writing;
//! - the reservation item is created with `attribute_not_exists`, so a retried reserve takes once;
//! - commit and refund move the reservation out of `reserved` on condition, so each happens once.

use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::update::ItemUpdate;
use super::{Store, StoreError, from_item, key, keys, n, s, to_item};
use crate::domain::credits::{
    Amounts, Balance, CreditKind, DayChange, InsufficientCredits, LedgerEntryKind, Reservation, ReservationState,
};

/// How long history entries are kept.
const LEDGER_DAYS: i64 = 400;
/// Rounds a write retries after losing a race before giving up (each re-reads the balance).
const ATTEMPTS: usize = 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BalanceItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    daily: u64,
    subscription: u64,
    purchased: u64,
    kickstart: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    daily_day: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    daily_allowance: Option<u64>,
}

impl BalanceItem {
    fn new(user_id: &str, balance: &Balance) -> Self {
        let amounts = balance.amounts;
        BalanceItem {
            pk: keys::user(user_id),
            sk: keys::CREDITS.into(),
            entity: "credits".into(),
            daily: amounts.daily,
            subscription: amounts.subscription,
            purchased: amounts.purchased,
            kickstart: amounts.kickstart,
            daily_day: balance.daily_day,
            daily_allowance: balance.daily_allowance,
        }
    }

    fn balance(&self) -> Balance {
        let amounts = Amounts {
            daily: self.daily,
            subscription: self.subscription,
            purchased: self.purchased,
            kickstart: self.kickstart,
        };
        Balance { amounts, daily_day: self.daily_day, daily_allowance: self.daily_allowance }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ReservationItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    job_id: String,
    #[serde(flatten)]
    reservation: Reservation,
    created_at: String,
}

/// One entry of the credit history, as `GET /v1/credits/history` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    pub id: String,
    pub kind: LedgerEntryKind,
    /// How many of each kind moved (always positive: `kind` says which way).
    pub amounts: Amounts,
    pub total: u64,
    /// The AI job of a reservation, commit or refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Why: `kickstart`, `daily`, `invoice <id>`, `credit pack`, `carry-over cap`, ...
    pub reason: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct LedgerItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    #[serde(flatten)]
    entry: LedgerEntry,
    ttl: i64,
}

/// What a reserve came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// Taken now, or by an earlier call with the same job id (what it took then).
    Taken(Amounts),
    Insufficient(InsufficientCredits),
}

/// What a commit or refund came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Done now.
    Done,
    /// The reservation was settled before: nothing changed. Its state says how.
    Already(ReservationState),
    /// No reservation with this job id.
    Unknown,
}

/// The user's AI credits. Reached as `store.credits()`.
#[derive(Clone, Copy)]
pub struct Credits<'a> {
    pub(crate) store: &'a Store,
}

impl Credits<'_> {
    /// What a new account's transaction adds: the opening balance with the kickstart credits,
    /// and its history entry. (An account made before credits existed opens lazily, the same.)
    pub(crate) fn opening(self, user_id: &str) -> Result<Vec<TransactWriteItem>, StoreError> {
        let opening = Balance::opening();
        Ok(vec![
            self.store.put_new(to_item(&BalanceItem::new(user_id, &opening))?)?,
            self.entry(user_id, LedgerEntryKind::Grant, opening.amounts, None, "kickstart")?,
        ])
    }

    /// The balance as the user would find it on first use today: the daily credits of `today`,
    /// the kickstart credits if nothing was ever written. Reads only.
    pub async fn balance(self, user_id: &str, today: NaiveDate, daily_allowance: u64) -> Result<Balance, StoreError> {
        let stored = self.read(user_id).await?.unwrap_or_else(Balance::opening);
        Ok(stored.for_day(today, daily_allowance).balance)
    }

    async fn read(self, user_id: &str) -> Result<Option<Balance>, StoreError> {
        let item: Option<BalanceItem> = self.store.get(keys::user(user_id), keys::CREDITS).await?;
        Ok(item.map(|item| item.balance()))
    }

    /// The stored balance with today's daily credits, writing the opening (kickstart) balance or
    /// the daily reset first when due. Of racing resets one writes; the others read its result.
    async fn open_for_day(self, user_id: &str, today: NaiveDate, allowance: u64) -> Result<Balance, StoreError> {
        for _ in 0..ATTEMPTS {
            let stored = self.read(user_id).await?;
            let before = stored.unwrap_or_else(Balance::opening);
            let DayChange { balance: after, expired, granted } = before.for_day(today, allowance);
            if stored.is_some() && after == before {
                return Ok(after);
            }
            let mut actions = vec![match stored {
                None => self.store.put_new(to_item(&BalanceItem::new(user_id, &after))?)?,
                Some(before) if before.daily_day == after.daily_day => self.top_up_daily(user_id, &before, &after)?,
                Some(before) => self.reset_daily(user_id, &before, &after)?,
            }];
            let expiry = (Amounts::of(CreditKind::Daily, expired), "daily credits of an earlier day");
            actions.extend(self.side_entries(user_id, stored.is_none().then_some(before.amounts), expiry)?);
            if granted > 0 {
                let day = after.daily_day.unwrap_or(today);
                let reason = if granted < allowance {
                    format!("daily credits of {day}, raised to the new plan's {allowance}")
                } else {
                    format!("daily credits of {day}")
                };
                let daily = Amounts::of(CreditKind::Daily, granted);
                actions.push(self.entry(user_id, LedgerEntryKind::Grant, daily, None, &reason)?);
            }
            match self.store.transact(actions).await {
                Ok(()) => return Ok(after),
                Err(error) if lost_race(&error) => continue,
                Err(error) => return Err(error),
            }
        }
        Err(StoreError::Contended("the credit balance kept changing while its day was set"))
    }

    fn reset_daily(&self, user_id: &str, before: &Balance, after: &Balance) -> Result<TransactWriteItem, StoreError> {
        let update = ItemUpdate::new()
            .set("daily", n(after.amounts.daily))
            .set("daily_day", s(after.daily_day.map(|day| day.to_string()).unwrap_or_default()))
            .set("daily_allowance", n(after.daily_allowance.unwrap_or_default()));
        on_day_read(update, before.daily_day).into_action(&self.store.table, key(keys::user(user_id), keys::CREDITS))
    }

    /// The rest of a raised allowance added to the day's daily credits (an upgrade during the
    /// day). Added, not set: a reservation at the same moment keeps what it took; and on the
    /// allowance read, so two requests at once add it once.
    fn top_up_daily(&self, user_id: &str, before: &Balance, after: &Balance) -> Result<TransactWriteItem, StoreError> {
        let raise = after.amounts.daily - before.amounts.daily;
        let had = before.daily_allowance.unwrap_or_default();
        let update = ItemUpdate::new()
            .add("daily", n(raise))
            .set("daily_allowance", n(after.daily_allowance.unwrap_or_default()))
            .condition("daily_allowance = :had", &[], [(":had", n(had))]);
        on_day_read(update, before.daily_day).into_action(&self.store.table, key(keys::user(user_id), keys::CREDITS))
    }

    /// Takes `amount` credits for `job_id`, from the kinds in spending order. A second call with
    /// the same job id takes nothing more and answers what the first took.
    pub async fn reserve(
        self,
        user_id: &str,
        job_id: &str,
        amount: u64,
        now: DateTime<Utc>,
        timezone: &str,
        daily_allowance: u64,
    ) -> Result<Reserved, StoreError> {
        let account = (user_id, timezone, daily_allowance);
        self.reserve_with(account, job_id, amount, now, Vec::new()).await
    }

    /// `reserve` for `job`, which is written in the same transaction: a job exists exactly when
    /// its credits are held (nothing is half-written if either is refused).
    pub async fn reserve_for_job(
        self,
        job: &crate::store::ai::JobItem,
        amount: u64,
        now: DateTime<Utc>,
        timezone: &str,
        daily_allowance: u64,
    ) -> Result<Reserved, StoreError> {
        let put = self.store.put_new(to_item(job)?)?;
        self.reserve_with((&job.user_id, timezone, daily_allowance), &job.id, amount, now, vec![put]).await
    }

    /// Takes `amount` for `job_id` with `with` (more actions of the same transaction).
    async fn reserve_with(
        self,
        (user_id, timezone, daily_allowance): (&str, &str, u64),
        job_id: &str,
        amount: u64,
        now: DateTime<Utc>,
        with: Vec<TransactWriteItem>,
    ) -> Result<Reserved, StoreError> {
        let today = crate::domain::credits::today(now, timezone);
        for attempt in 0..ATTEMPTS {
            if let Some(existing) = self.reservation(user_id, job_id).await? {
                return Ok(Reserved::Taken(existing.taken));
            }
            let balance = self.open_for_day(user_id, today, daily_allowance).await?;
            let (_, taken) = match balance.reserve(amount) {
                Ok(reserved) => reserved,
                Err(refused) => return Ok(Reserved::Insufficient(refused)),
            };
            // The day the daily credits taken belong to (later than `today` after a move west):
            // a refund gives them back only while that day lasts.
            let day = balance.daily_day.unwrap_or(today);
            let reservation = Reservation { taken, day, state: ReservationState::Reserved };
            let item = ReservationItem {
                pk: keys::user(user_id),
                sk: keys::credit_job(job_id),
                entity: "credit_reservation".into(),
                job_id: job_id.into(),
                reservation,
                created_at: super::now_rfc3339(),
            };
            let mut actions = vec![
                self.take(user_id, &balance, &taken)?,
                self.store.put_new(to_item(&item)?)?,
                self.entry(user_id, LedgerEntryKind::Reserve, taken, Some(job_id), "reserved for an AI job")?,
            ];
            actions.extend(with.iter().cloned());
            match self.store.transact(actions).await {
                Ok(()) => return Ok(Reserved::Taken(taken)),
                Err(error) if lost_race(&error) => backoff(attempt).await,
                Err(error) => return Err(error),
            }
        }
        Err(StoreError::Contended("the credit balance kept changing while a reservation was taken"))
    }

    /// The subtraction of `taken`, conditioned on the kinds it drains still holding exactly what
    /// was read and the last kind it takes from holding at least that much.
    fn take(&self, user_id: &str, read: &Balance, taken: &Amounts) -> Result<TransactWriteItem, StoreError> {
        let last_used = CreditKind::ORDER.iter().rposition(|kind| taken.get(*kind) > 0);
        let mut update = ItemUpdate::new();
        for (index, kind) in CreditKind::ORDER.iter().enumerate() {
            let amount = taken.get(*kind);
            let (name, held) = (attribute(*kind), held(*kind));
            if Some(index) == last_used {
                update = update.condition(&format!("{name} >= {held}"), &[], [(held, n(amount))]);
            } else if last_used.is_some_and(|last| index < last) {
                // Spent before the last kind: it must still be exactly what was read and drained.
                update = update.condition(&format!("{name} = {held}"), &[], [(held, n(read.amounts.get(*kind)))]);
            }
            if amount > 0 {
                update = update.add(name, n(-(amount as i64)));
            }
        }
        on_day_read(update, read.daily_day).into_action(&self.store.table, key(keys::user(user_id), keys::CREDITS))
    }

    async fn reservation(self, user_id: &str, job_id: &str) -> Result<Option<Reservation>, StoreError> {
        let item: Option<ReservationItem> = self.store.get(keys::user(user_id), &keys::credit_job(job_id)).await?;
        Ok(item.map(|item| item.reservation))
    }

    /// Keeps what `job_id` reserved (the job succeeded). Once: a repeat changes nothing.
    pub async fn commit(self, user_id: &str, job_id: &str) -> Result<Settled, StoreError> {
        let Some(reservation) = self.reservation(user_id, job_id).await? else {
            return Ok(Settled::Unknown);
        };
        if reservation.state != ReservationState::Reserved {
            return Ok(Settled::Already(reservation.state));
        }
        let actions = vec![
            self.settle(user_id, job_id, ReservationState::Committed)?,
            self.entry(user_id, LedgerEntryKind::Commit, reservation.taken, Some(job_id), "spent by an AI job")?,
        ];
        self.finish(user_id, job_id, actions).await
    }

    /// Gives back what `job_id` reserved, to the kinds it came from (the job failed). Once: a
    /// repeat changes nothing. Daily credits of an earlier day expire instead of coming back.
    pub async fn refund(self, user_id: &str, job_id: &str) -> Result<Settled, StoreError> {
        for attempt in 0..ATTEMPTS {
            let Some(reservation) = self.reservation(user_id, job_id).await? else {
                return Ok(Settled::Unknown);
            };
            if reservation.state != ReservationState::Reserved {
                return Ok(Settled::Already(reservation.state));
            }
            let balance = self.read(user_id).await?.unwrap_or_else(Balance::opening);
            let (after, expired) = balance.refund(&reservation);
            let back = after.amounts.minus(&balance.amounts).unwrap_or_default();
            let mut actions = vec![
                self.settle(user_id, job_id, ReservationState::Refunded)?,
                self.give_back(user_id, &balance, &back)?,
                self.entry(user_id, LedgerEntryKind::Refund, back, Some(job_id), "returned: the AI job failed")?,
            ];
            if expired > 0 {
                let daily = Amounts::of(CreditKind::Daily, expired);
                actions.push(self.entry(
                    user_id,
                    LedgerEntryKind::Expire,
                    daily,
                    Some(job_id),
                    "refunded daily credits of an earlier day",
                )?);
            }
            match self.store.transact(actions).await {
                Ok(()) => return Ok(Settled::Done),
                // The reservation was settled meanwhile: the next round reads how.
                Err(error) if lost_race(&error) => backoff(attempt).await,
                Err(error) => return Err(error),
            }
        }
        Err(StoreError::Contended("the credit balance kept changing while a refund was made"))
    }

    async fn finish(self, user_id: &str, job_id: &str, actions: Vec<TransactWriteItem>) -> Result<Settled, StoreError> {
        match self.store.transact(actions).await {
            Ok(()) => Ok(Settled::Done),
            Err(error) if error.failed_condition_at(0) => {
                let state = self.reservation(user_id, job_id).await?.map(|reservation| reservation.state);
                Ok(state.map_or(Settled::Unknown, Settled::Already))
            }
            Err(error) => Err(error),
        }
    }

    fn settle(&self, user_id: &str, job_id: &str, to: ReservationState) -> Result<TransactWriteItem, StoreError> {
        ItemUpdate::new()
            .set("state", s(state_name(to)))
            .condition(
                "#state = :reserved",
                &[("#state", "state")],
                [(":reserved", s(state_name(ReservationState::Reserved)))],
            )
            .into_action(&self.store.table, key(keys::user(user_id), keys::credit_job(job_id)))
    }

    /// The addition of a refund, conditioned on the daily credits still belonging to the day
    /// that was read (a reset meanwhile changes what may come back).
    fn give_back(&self, user_id: &str, read: &Balance, back: &Amounts) -> Result<TransactWriteItem, StoreError> {
        let mut update = ItemUpdate::new();
        for kind in CreditKind::ORDER {
            if back.get(kind) > 0 {
                update = update.add(attribute(kind), n(back.get(kind)));
            }
        }
        on_day_read(update, read.daily_day).into_action(&self.store.table, key(keys::user(user_id), keys::CREDITS))
    }

    /// Grants `amount` credits of `kind` once per `source` (an invoice id, a checkout session id):
    /// false when that source was granted before. A subscription grant lets the carried-over
    /// subscription credits above the cap expire.
    pub async fn grant(
        self,
        user_id: &str,
        kind: CreditKind,
        amount: u64,
        source: &str,
        reason: &str,
    ) -> Result<bool, StoreError> {
        for attempt in 0..ATTEMPTS {
            let stored = self.read(user_id).await?;
            let before = stored.unwrap_or_else(Balance::opening);
            let (after, expired) = before.grant(kind, amount);
            let marker = GrantItem {
                pk: keys::user(user_id),
                sk: keys::credit_grant(source),
                entity: "credit_grant".into(),
                amount,
                created_at: super::now_rfc3339(),
            };
            let mut actions = vec![
                self.store.put_new(to_item(&marker)?)?,
                match stored {
                    None => self.store.put_new(to_item(&BalanceItem::new(user_id, &after))?)?,
                    Some(_) => self.add_grant(user_id, &before, kind, amount, expired)?,
                },
                self.entry(user_id, LedgerEntryKind::Grant, Amounts::of(kind, amount), None, reason)?,
            ];
            let expiry =
                (Amounts::of(CreditKind::Subscription, expired), "subscription credits above the carry-over cap");
            actions.extend(self.side_entries(user_id, stored.is_none().then_some(before.amounts), expiry)?);
            match self.store.transact(actions).await {
                Ok(()) => return Ok(true),
                Err(error) if error.failed_condition_at(0) => return Ok(false),
                Err(error) if lost_race(&error) => backoff(attempt).await,
                Err(error) => return Err(error),
            }
        }
        Err(StoreError::Contended("the credit balance kept changing while a grant was made"))
    }

    fn add_grant(
        &self,
        user_id: &str,
        before: &Balance,
        kind: CreditKind,
        amount: u64,
        expired: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = ItemUpdate::new();
        if expired > 0 {
            // The cap applies to what was read: only if the subscription credits are still that.
            update = update.set("subscription", n(before.amounts.subscription - expired + amount)).condition(
                "subscription = :read",
                &[],
                [(":read", n(before.amounts.subscription))],
            );
        } else {
            update = update.add(attribute(kind), n(amount));
            if kind == CreditKind::Subscription {
                let cap = crate::domain::credits::SUBSCRIPTION_CARRY_CAP;
                update = update.condition("subscription <= :cap", &[], [(":cap", n(cap))]);
            }
        }
        update.into_action(&self.store.table, key(keys::user(user_id), keys::CREDITS))
    }

    /// One page of the history, newest first.
    pub async fn history(
        self,
        user_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<LedgerEntry>, bool), StoreError> {
        let (items, more) =
            self.store.query_page(keys::user(user_id), keys::CREDIT_LEDGER_PREFIX, after, limit, false).await?;
        let entries = items
            .into_iter()
            .map(|item| from_item::<LedgerItem>(item).map(|item| item.entry))
            .collect::<Result<_, _>>()?;
        Ok((entries, more))
    }

    /// The history entries that come with a change: the kickstart grant when the balance is
    /// written for the first time (`opening`), and what expired (when anything did).
    fn side_entries(
        &self,
        user_id: &str,
        opening: Option<Amounts>,
        (expired, why): (Amounts, &str),
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut entries = Vec::new();
        if let Some(opening) = opening {
            entries.push(self.entry(user_id, LedgerEntryKind::Grant, opening, None, "kickstart")?);
        }
        if !expired.is_zero() {
            entries.push(self.entry(user_id, LedgerEntryKind::Expire, expired, None, why)?);
        }
        Ok(entries)
    }

    fn entry(
        &self,
        user_id: &str,
        kind: LedgerEntryKind,
        amounts: Amounts,
        job_id: Option<&str>,
        reason: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let id = ulid::Ulid::new().to_string();
        let entry = LedgerEntry {
            id: id.clone(),
            kind,
            total: amounts.total(),
            amounts,
            job_id: job_id.map(String::from),
            reason: reason.into(),
            created_at: super::now_rfc3339(),
        };
        let item = LedgerItem {
            pk: keys::user(user_id),
            sk: keys::credit_ledger(&id),
            entity: "credit_ledger".into(),
            entry,
            ttl: super::ttl_in(LEDGER_DAYS * 86_400),
        };
        self.store.put(to_item(&item)?)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct GrantItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    amount: u64,
    created_at: String,
}

/// `update`, on condition the daily credits still belong to the day read (none: never set).
fn on_day_read(update: ItemUpdate, day: Option<NaiveDate>) -> ItemUpdate {
    match day {
        Some(day) => update.condition("daily_day = :day_read", &[], [(":day_read", s(day.to_string()))]),
        None => update.condition("attribute_not_exists(daily_day)", &[], []),
    }
}

fn attribute(kind: CreditKind) -> &'static str {
    match kind {
        CreditKind::Daily => "daily",
        CreditKind::Subscription => "subscription",
        CreditKind::Purchased => "purchased",
        CreditKind::Kickstart => "kickstart",
    }
}

/// The placeholder of what a reservation read of a kind.
fn held(kind: CreditKind) -> &'static str {
    match kind {
        CreditKind::Daily => ":held_daily",
        CreditKind::Subscription => ":held_subscription",
        CreditKind::Purchased => ":held_purchased",
        CreditKind::Kickstart => ":held_kickstart",
    }
}

fn state_name(state: ReservationState) -> &'static str {
    match state {
        ReservationState::Reserved => "reserved",
        ReservationState::Committed => "committed",
        ReservationState::Refunded => "refunded",
    }
}

/// A transaction lost to another writer: a condition on the balance no longer held, or DynamoDB
/// refused two transactions on one item at once.
fn lost_race(error: &StoreError) -> bool {
    match error {
        StoreError::TransactionCancelled(reasons) => {
            reasons.iter().flatten().any(|code| code == "ConditionalCheckFailed" || code == "TransactionConflict")
        }
        StoreError::ConditionFailed => true,
        _ => false,
    }
}

/// A short, growing, jittered wait before the next round, so racing writers spread out.
async fn backoff(attempt: usize) {
    let ceiling = 5 * (1u64 << attempt.min(5));
    let millis = rand::random_range(1..=ceiling);
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}
