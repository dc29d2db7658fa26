//! Notification preferences: which kinds of notification reach a user on which channel, quiet
//! hours that defer interruptive deliveries, and the local hour of the daily digest.
//!
//! The JSON shape is the one of `GET/PUT /v1/notifications/preferences` and of the stored
//! document. Every type and channel is always present in what we send, so clients can render the
//! whole matrix without knowing the defaults.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Violations;

/// The local hour of the daily digest for users who never chose one.
pub const DEFAULT_DIGEST_HOUR: u8 = 8;

/// What a notification is about.
///
/// Adding a kind: a variant, its entry in `ALL`, then the compiler points at `name` and
/// `default_channels`. Stored documents written before the kind existed get its defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationType {
    TaskReminder,
    TaskDueSoon,
    DailyDigest,
    System,
    /// A calendar connection stopped syncing (the provider refused our grant).
    CalendarDisconnected,
    /// The subscription needs the user: a payment failed, a trial ends soon.
    Billing,
    /// An AI job finished (a breakdown made, a plan narrated, or a job that failed).
    AiJob,
}

impl NotificationType {
    pub const ALL: [NotificationType; 7] = [
        NotificationType::TaskReminder,
        NotificationType::TaskDueSoon,
        NotificationType::DailyDigest,
        NotificationType::System,
        NotificationType::CalendarDisconnected,
        NotificationType::Billing,
        NotificationType::AiJob,
    ];

    /// The name in JSON (the same as serde's).
    pub fn name(self) -> &'static str {
        match self {
            NotificationType::TaskReminder => "task_reminder",
            NotificationType::TaskDueSoon => "task_due_soon",
            NotificationType::DailyDigest => "daily_digest",
            NotificationType::System => "system",
            NotificationType::CalendarDisconnected => "calendar_disconnected",
            NotificationType::Billing => "billing",
            NotificationType::AiJob => "ai_job",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// What a user who never chose gets. Time-critical task notices go to the app and the phone;
    /// email is kept for account matters. The daily digest is opt-in (off on every channel): it
    /// goes to each user who switched it on, and only those sit in the digest index.
    pub fn default_channels(self) -> ChannelSwitches {
        match self {
            NotificationType::TaskReminder => ChannelSwitches { in_app: true, email: false, push: true },
            NotificationType::TaskDueSoon => ChannelSwitches { in_app: true, email: false, push: true },
            NotificationType::DailyDigest => ChannelSwitches { in_app: false, email: false, push: false },
            NotificationType::System => ChannelSwitches { in_app: true, email: true, push: false },
            NotificationType::CalendarDisconnected => ChannelSwitches { in_app: true, email: true, push: false },
            NotificationType::Billing => ChannelSwitches { in_app: true, email: true, push: false },
            // In the app only: the user is usually there, waiting for it.
            NotificationType::AiJob => ChannelSwitches { in_app: true, email: false, push: false },
        }
    }
}

/// Where a notification is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    InApp,
    Email,
    Push,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::InApp, Channel::Email, Channel::Push];

    /// The name in JSON (the same as serde's).
    pub fn name(self) -> &'static str {
        match self {
            Channel::InApp => "in_app",
            Channel::Email => "email",
            Channel::Push => "push",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|channel| channel.name() == name)
    }

    /// Whether a delivery can interrupt the user (a phone buzzing, a mail arriving). Quiet hours
    /// defer only these: an in-app inbox item is silent, so it is delivered at once and waits
    /// for the user's next look.
    pub fn is_interruptive(self) -> bool {
        match self {
            Channel::InApp => false,
            Channel::Email | Channel::Push => true,
        }
    }
}

/// The on/off switch of each channel for one notification type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChannelSwitches {
    pub in_app: bool,
    pub email: bool,
    pub push: bool,
}

impl ChannelSwitches {
    pub fn get(self, channel: Channel) -> bool {
        match channel {
            Channel::InApp => self.in_app,
            Channel::Email => self.email,
            Channel::Push => self.push,
        }
    }

    fn set(&mut self, channel: Channel, on: bool) {
        match channel {
            Channel::InApp => self.in_app = on,
            Channel::Email => self.email = on,
            Channel::Push => self.push = on,
        }
    }
}

/// A daily window, in the user's local time, during which interruptive deliveries wait.
/// `start > end` spans midnight (22:00–07:00). The window includes `start` and excludes `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct QuietHours {
    pub enabled: bool,
    #[serde(with = "hh_mm")]
    pub start: NaiveTime,
    #[serde(with = "hh_mm")]
    pub end: NaiveTime,
}

impl Default for QuietHours {
    /// Off: a reminder the user set for 23:00 should ring at 23:00 unless they asked otherwise.
    /// The times are the ones a client shows when the user switches quiet hours on.
    fn default() -> Self {
        QuietHours { enabled: false, start: hm(22, 0), end: hm(7, 0) }
    }
}

impl QuietHours {
    /// The instant the quiet window that `now` falls in ends, or `None` outside quiet hours.
    pub fn window_end(&self, timezone: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // An empty window (start == end) would otherwise read as "quiet all day".
        if !self.enabled || self.start == self.end {
            return None;
        }
        let local = now.with_timezone(&timezone);
        let (today, time) = (local.date_naive(), local.time());
        let end_day = if self.start < self.end {
            (self.start <= time && time < self.end).then_some(today)?
        } else if time >= self.start {
            // The evening part of a window spanning midnight ends tomorrow morning.
            today.succ_opt()?
        } else if time < self.end {
            today
        } else {
            return None;
        };
        Some(first_instant_showing(timezone, end_day.and_time(self.end)))
    }
}

/// A user's notification preferences. Always complete: every type has a switch per channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(from = "StoredPreferences")]
pub struct NotificationPreferences {
    channels: BTreeMap<NotificationType, ChannelSwitches>,
    quiet_hours: QuietHours,
    digest_hour: u8,
}

impl Default for NotificationPreferences {
    fn default() -> Self {
        NotificationPreferences {
            channels: NotificationType::ALL.into_iter().map(|kind| (kind, kind.default_channels())).collect(),
            quiet_hours: QuietHours::default(),
            digest_hour: DEFAULT_DIGEST_HOUR,
        }
    }
}

impl NotificationPreferences {
    /// Validates the body of a PUT, a full replacement: whatever is left out takes its default.
    /// Every problem is reported with its field path, such as `channels.task_reminder.sms`.
    pub fn from_request(value: &Value) -> Result<Self, Violations> {
        let mut violations = Violations::new();
        let mut preferences = Self::default();
        let Some(body) = value.as_object() else {
            violations.add("", "must be a JSON object");
            return Err(violations);
        };
        for (field, value) in body {
            match field.as_str() {
                "channels" => preferences.read_channels(value, &mut violations),
                "quiet_hours" => preferences.quiet_hours = read_quiet_hours(value, &mut violations),
                "digest_hour" => match value.as_u64().filter(|hour| *hour <= 23) {
                    Some(hour) => preferences.digest_hour = hour as u8,
                    None => violations.add("digest_hour", "must be a whole number from 0 to 23"),
                },
                _ => violations.add(field.as_str(), "unknown field"),
            }
        }
        violations.finish(preferences)
    }

    /// Whether the user wants `kind` on `channel`.
    pub fn allows(&self, kind: NotificationType, channel: Channel) -> bool {
        self.switches(kind).get(channel)
    }

    pub fn switches(&self, kind: NotificationType) -> ChannelSwitches {
        self.channels.get(&kind).copied().unwrap_or_else(|| kind.default_channels())
    }

    pub fn quiet_hours(&self) -> QuietHours {
        self.quiet_hours
    }

    pub fn digest_hour(&self) -> u8 {
        self.digest_hour
    }

    /// Whether the user opted in to the daily digest on at least one channel (only those users
    /// are in the digest index).
    pub fn digest_enabled(&self) -> bool {
        Channel::ALL.into_iter().any(|channel| self.allows(NotificationType::DailyDigest, channel))
    }

    /// When an interruptive delivery (push, email) may go out: `now` outside quiet hours, else
    /// the end of the quiet window. Quiet hours defer, never drop. Never earlier than `now`.
    pub fn deliver_at(&self, timezone: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
        self.quiet_hours.window_end(timezone, now).map_or(now, |end| end.max(now))
    }

    /// `deliver_at` for one channel: in-app items ignore quiet hours (see `Channel::is_interruptive`).
    pub fn deliver_via(&self, channel: Channel, timezone: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
        if channel.is_interruptive() { self.deliver_at(timezone, now) } else { now }
    }

    /// The local date whose digest the hourly run at `now` should send, if any: the run falling
    /// in the user's digest hour. The date lets the caller write "one digest per user and local
    /// date" conditionally, which also drops the second run of an hour repeated when clocks go
    /// back. When clocks go forward over the digest hour, the first run after it sends instead.
    /// `None` when the digest is off on every channel.
    pub fn digest_due(&self, timezone: Tz, now: DateTime<Utc>) -> Option<NaiveDate> {
        if !self.digest_enabled() {
            return None;
        }
        let hour = u32::from(self.digest_hour);
        let local = now.with_timezone(&timezone);
        let hour_before = (now - TimeDelta::hours(1)).with_timezone(&timezone);
        let skipped =
            hour_before.date_naive() == local.date_naive() && hour_before.hour() < hour && hour < local.hour();
        (local.hour() == hour || skipped).then(|| local.date_naive())
    }

    fn switches_mut(&mut self, kind: NotificationType) -> &mut ChannelSwitches {
        self.channels.entry(kind).or_insert_with(|| kind.default_channels())
    }

    fn read_channels(&mut self, value: &Value, violations: &mut Violations) {
        let Some(kinds) = object_at(value, "channels", violations) else { return };
        for (name, switches) in kinds {
            let path = format!("channels.{name}");
            match NotificationType::from_name(name) {
                Some(kind) => read_switches(switches, &path, self.switches_mut(kind), violations),
                None => violations.add(path, format!("unknown notification type; expected one of {}", type_names())),
            }
        }
    }
}

/// Channels a request leaves out of a type keep that type's defaults.
fn read_switches(value: &Value, path: &str, switches: &mut ChannelSwitches, violations: &mut Violations) {
    let Some(channels) = object_at(value, path, violations) else { return };
    for (name, on) in channels {
        let path = format!("{path}.{name}");
        match (Channel::from_name(name), on.as_bool()) {
            (None, _) => violations.add(path, format!("unknown channel; expected one of {}", channel_names())),
            (Some(_), None) => violations.add(path, "must be true or false"),
            (Some(channel), Some(on)) => switches.set(channel, on),
        }
    }
}

fn read_quiet_hours(value: &Value, violations: &mut Violations) -> QuietHours {
    let mut quiet = QuietHours::default();
    let Some(fields) = object_at(value, "quiet_hours", violations) else { return quiet };
    // Comparing start and end only makes sense when both were readable.
    let mut times_ok = true;
    for (field, value) in fields {
        let path = format!("quiet_hours.{field}");
        match field.as_str() {
            "enabled" => match value.as_bool() {
                Some(on) => quiet.enabled = on,
                None => violations.add(path, "must be true or false"),
            },
            "start" => times_ok &= read_time(value, &path, &mut quiet.start, violations),
            "end" => times_ok &= read_time(value, &path, &mut quiet.end, violations),
            _ => violations.add(path, "unknown field"),
        }
    }
    if quiet.enabled && times_ok && quiet.start == quiet.end {
        violations.add("quiet_hours.end", "must differ from start while quiet hours are enabled");
    }
    quiet
}

/// Whether the time was readable.
fn read_time(value: &Value, path: &str, time: &mut NaiveTime, violations: &mut Violations) -> bool {
    let parsed = value.as_str().and_then(parse_hh_mm);
    match parsed {
        Some(parsed) => *time = parsed,
        None => violations.add(path, "must be a time as HH:MM, 24-hour, such as 22:00"),
    }
    parsed.is_some()
}

fn object_at<'a>(value: &'a Value, path: &str, violations: &mut Violations) -> Option<&'a Map<String, Value>> {
    let object = value.as_object();
    if object.is_none() {
        violations.add(path, "must be an object");
    }
    object
}

fn type_names() -> String {
    NotificationType::ALL.map(NotificationType::name).join(", ")
}

fn channel_names() -> String {
    Channel::ALL.map(Channel::name).join(", ")
}

/// Exactly two digits, a colon, two digits: "7:00" or "22:00:00" would hint at a client bug.
fn parse_hh_mm(text: &str) -> Option<NaiveTime> {
    let bytes = text.as_bytes();
    let digits_at = [0, 1, 3, 4];
    if bytes.len() != 5 || bytes[2] != b':' || !digits_at.iter().all(|&i| bytes[i].is_ascii_digit()) {
        return None;
    }
    NaiveTime::from_hms_opt(text[..2].parse().ok()?, text[3..].parse().ok()?, 0)
}

fn hm(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN)
}

/// The first instant the local clock of `timezone` reaches `local`. If clocks go forward over it
/// (a DST gap), that is the end of the gap; if it occurs twice (clocks go back), the earlier.
fn first_instant_showing(timezone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    // Gaps end on a whole minute and last at most a day (Samoa skipped 2011-12-30).
    const SEARCH_MINUTES: i64 = 2 * 24 * 60;
    (0..=SEARCH_MINUTES)
        .find_map(|minutes| timezone.from_local_datetime(&(local + TimeDelta::minutes(minutes))).earliest())
        .map_or_else(|| local.and_utc(), |instant| instant.with_timezone(&Utc))
}

/// "HH:MM" in JSON for quiet-hour times.
mod hh_mm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(time: &NaiveTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&time.format("%H:%M"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_hh_mm(&text).ok_or_else(|| D::Error::custom(format!("{text:?} is not HH:MM")))
    }
}

/// A stored document, read leniently: it was validated when written, but may predate a type or
/// channel (which then takes its default) or come from a newer version (unknown names are
/// ignored rather than failing the read).
#[derive(Deserialize)]
struct StoredPreferences {
    #[serde(default)]
    channels: BTreeMap<String, BTreeMap<String, bool>>,
    #[serde(default)]
    quiet_hours: QuietHours,
    #[serde(default)]
    digest_hour: Option<u8>,
}

impl From<StoredPreferences> for NotificationPreferences {
    fn from(stored: StoredPreferences) -> Self {
        let mut preferences = NotificationPreferences { quiet_hours: stored.quiet_hours, ..Self::default() };
        if let Some(hour) = stored.digest_hour.filter(|hour| *hour <= 23) {
            preferences.digest_hour = hour;
        }
        for (kind, switches) in &stored.channels {
            let Some(kind) = NotificationType::from_name(kind) else { continue };
            for (channel, on) in switches {
                if let Some(channel) = Channel::from_name(channel) {
                    preferences.switches_mut(kind).set(channel, *on);
                }
            }
        }
        preferences
    }
}

/// The platform a device token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Ios,
    Android,
}

impl Platform {
    pub const ALL: [Platform; 2] = [Platform::Ios, Platform::Android];

    pub fn name(self) -> &'static str {
        match self {
            Platform::Ios => "ios",
            Platform::Android => "android",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|platform| platform.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDateTime;
    use chrono_tz::America::Los_Angeles;
    use chrono_tz::Asia::{Kolkata, Tokyo};
    use chrono_tz::Europe::Berlin;
    use serde_json::json;

    use super::*;
    use Channel::{Email, InApp, Push};
    use NotificationType::{DailyDigest, System, TaskDueSoon, TaskReminder};

    /// An unambiguous local wall-clock time, as an instant.
    fn local(timezone: Tz, text: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
        timezone.from_local_datetime(&naive).single().unwrap().with_timezone(&Utc)
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn preferences(body: Value) -> NotificationPreferences {
        NotificationPreferences::from_request(&body).unwrap()
    }

    fn quiet(start: &str, end: &str) -> NotificationPreferences {
        preferences(json!({"quiet_hours": {"enabled": true, "start": start, "end": end}}))
    }

    #[test]
    fn a_user_who_never_chose_gets_the_defaults() {
        let defaults = NotificationPreferences::default();
        let expected = [
            (TaskReminder, [true, false, true]),
            (TaskDueSoon, [true, false, true]),
            (DailyDigest, [false, false, false]),
            (System, [true, true, false]),
        ];
        for (kind, [in_app, email, push]) in expected {
            assert_eq!(defaults.allows(kind, InApp), in_app, "{kind:?} in_app");
            assert_eq!(defaults.allows(kind, Email), email, "{kind:?} email");
            assert_eq!(defaults.allows(kind, Push), push, "{kind:?} push");
        }
        assert!(!defaults.quiet_hours().enabled);
        assert_eq!(defaults.digest_hour(), 8);
        assert_eq!(NotificationPreferences::from_request(&json!({})).unwrap(), defaults);
    }

    #[test]
    fn clients_get_every_type_and_channel_in_json() {
        let sent = serde_json::to_value(NotificationPreferences::default()).unwrap();
        let expected = json!({
            "channels": {
                "task_reminder": {"in_app": true, "email": false, "push": true},
                "task_due_soon": {"in_app": true, "email": false, "push": true},
                "daily_digest": {"in_app": false, "email": false, "push": false},
                "system": {"in_app": true, "email": true, "push": false},
                "calendar_disconnected": {"in_app": true, "email": true, "push": false},
                "billing": {"in_app": true, "email": true, "push": false},
                "ai_job": {"in_app": true, "email": false, "push": false}
            },
            "quiet_hours": {"enabled": false, "start": "22:00", "end": "07:00"},
            "digest_hour": 8
        });
        assert_eq!(sent, expected);
    }

    #[test]
    fn json_names_match_serde() {
        for kind in NotificationType::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.name()));
            assert_eq!(NotificationType::from_name(kind.name()), Some(kind));
        }
        for channel in Channel::ALL {
            assert_eq!(serde_json::to_value(channel).unwrap(), json!(channel.name()));
            assert_eq!(Channel::from_name(channel.name()), Some(channel));
        }
    }

    #[test]
    fn a_stored_document_round_trips() {
        let chosen = preferences(json!({
            "channels": {"task_reminder": {"push": false, "email": true}},
            "quiet_hours": {"enabled": true, "start": "23:15", "end": "06:45"},
            "digest_hour": 0
        }));
        let stored = serde_json::to_value(&chosen).unwrap();
        assert_eq!(serde_json::from_value::<NotificationPreferences>(stored).unwrap(), chosen);
    }

    #[test]
    fn a_stored_document_without_a_newer_type_gets_its_defaults() {
        // Written before `system` existed, before `push` existed for the digest, and by a newer
        // version that knew a `weekly_review` type.
        let stored = json!({
            "channels": {
                "task_reminder": {"in_app": false, "email": true, "push": false},
                "task_due_soon": {"in_app": true, "email": false, "push": true},
                "daily_digest": {"in_app": true, "email": false},
                "weekly_review": {"in_app": true, "fax": true}
            },
            "quiet_hours": {"enabled": true, "start": "22:00", "end": "07:00"},
            "digest_hour": 6
        });
        let read: NotificationPreferences = serde_json::from_value(stored).unwrap();
        assert_eq!(read.switches(System), System.default_channels());
        assert_eq!(read.switches(TaskReminder), ChannelSwitches { in_app: false, email: true, push: false });
        assert_eq!(read.switches(DailyDigest), ChannelSwitches { in_app: true, email: false, push: false });
        assert_eq!(read.digest_hour(), 6);
        assert!(read.quiet_hours().enabled);
    }

    #[test]
    fn a_put_replaces_everything_and_omitted_parts_take_defaults() {
        let chosen = preferences(json!({
            "channels": {"task_reminder": {"push": false}, "daily_digest": {"in_app": true, "email": false, "push": true}},
            "quiet_hours": {"enabled": true},
            "digest_hour": 23
        }));
        // A channel left out of a sent type keeps that type's default.
        assert_eq!(chosen.switches(TaskReminder), ChannelSwitches { in_app: true, email: false, push: false });
        assert_eq!(chosen.switches(DailyDigest), ChannelSwitches { in_app: true, email: false, push: true });
        assert_eq!(chosen.switches(System), System.default_channels());
        assert_eq!(chosen.quiet_hours(), QuietHours { enabled: true, start: hm(22, 0), end: hm(7, 0) });
        assert_eq!(chosen.digest_hour(), 23);
    }

    #[test]
    fn every_invalid_field_is_named() {
        let cases = [
            (json!([]), "", "must be a JSON object"),
            (json!({"colour": "blue"}), "colour", "unknown field"),
            (json!({"channels": []}), "channels", "must be an object"),
            (json!({"channels": {"foo": {}}}), "channels.foo", "unknown notification type"),
            (json!({"channels": {"system": true}}), "channels.system", "must be an object"),
            (json!({"channels": {"task_reminder": {"sms": true}}}), "channels.task_reminder.sms", "unknown channel"),
            (json!({"channels": {"task_reminder": {"push": "yes"}}}), "channels.task_reminder.push", "true or false"),
            (json!({"channels": {"task_due_soon": {"email": null}}}), "channels.task_due_soon.email", "true or false"),
            (json!({"channels": {"system": {"email": 1}}}), "channels.system.email", "true or false"),
            (json!({"quiet_hours": "22-7"}), "quiet_hours", "must be an object"),
            (json!({"quiet_hours": {"enabled": "yes"}}), "quiet_hours.enabled", "true or false"),
            (json!({"quiet_hours": {"snooze": 5}}), "quiet_hours.snooze", "unknown field"),
            (json!({"quiet_hours": {"start": "24:00"}}), "quiet_hours.start", "HH:MM"),
            (json!({"quiet_hours": {"start": "7:00"}}), "quiet_hours.start", "HH:MM"),
            (json!({"quiet_hours": {"start": "22:00:00"}}), "quiet_hours.start", "HH:MM"),
            (json!({"quiet_hours": {"start": "10pm"}}), "quiet_hours.start", "HH:MM"),
            (json!({"quiet_hours": {"start": "+1:00"}}), "quiet_hours.start", "HH:MM"),
            (json!({"quiet_hours": {"start": 2200}}), "quiet_hours.start", "HH:MM"),
            (json!({"quiet_hours": {"end": "07:60"}}), "quiet_hours.end", "HH:MM"),
            (json!({"quiet_hours": {"enabled": true, "start": "07:00", "end": "07:00"}}), "quiet_hours.end", "differ"),
            (json!({"digest_hour": 24}), "digest_hour", "0 to 23"),
            (json!({"digest_hour": -1}), "digest_hour", "0 to 23"),
            (json!({"digest_hour": 8.5}), "digest_hour", "0 to 23"),
            (json!({"digest_hour": "8"}), "digest_hour", "0 to 23"),
            (json!({"digest_hour": null}), "digest_hour", "0 to 23"),
        ];
        for (body, field, message) in cases {
            let violations = NotificationPreferences::from_request(&body).unwrap_err().into_vec();
            assert_eq!(violations.len(), 1, "{body}: {violations:?}");
            assert_eq!(violations[0].0, field, "{body}");
            assert!(violations[0].1.contains(message), "{body}: {:?}", violations[0].1);
        }
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let body = json!({
            "channels": {"foo": {}, "task_reminder": {"sms": true}},
            "quiet_hours": {"start": "25:00"},
            "digest_hour": 99
        });
        let mut fields: Vec<String> = NotificationPreferences::from_request(&body)
            .unwrap_err()
            .into_vec()
            .into_iter()
            .map(|(field, _)| field)
            .collect();
        fields.sort();
        assert_eq!(fields, ["channels.foo", "channels.task_reminder.sms", "digest_hour", "quiet_hours.start"]);
    }

    #[test]
    fn equal_start_and_end_are_fine_while_quiet_hours_are_off() {
        let chosen = preferences(json!({"quiet_hours": {"enabled": false, "start": "07:00", "end": "07:00"}}));
        assert_eq!(chosen.deliver_at(Berlin, local(Berlin, "2026-01-15 07:00")), local(Berlin, "2026-01-15 07:00"));
    }

    #[test]
    fn quiet_hours_spanning_midnight_defer_to_the_morning() {
        let chosen = quiet("22:00", "07:00");
        let cases = [
            ("2026-01-15 23:30", "2026-01-16 07:00"),
            ("2026-01-15 22:00", "2026-01-16 07:00"),
            ("2026-01-16 00:00", "2026-01-16 07:00"),
            ("2026-01-16 06:59", "2026-01-16 07:00"),
            ("2026-01-16 07:00", "2026-01-16 07:00"),
            ("2026-01-15 21:59", "2026-01-15 21:59"),
            ("2026-01-15 12:00", "2026-01-15 12:00"),
        ];
        for (now, expected) in cases {
            assert_eq!(chosen.deliver_at(Berlin, local(Berlin, now)), local(Berlin, expected), "at {now}");
        }
    }

    #[test]
    fn quiet_hours_within_one_day() {
        let chosen = quiet("13:00", "14:00");
        let cases = [
            ("2026-01-15 12:59", "2026-01-15 12:59"),
            ("2026-01-15 13:00", "2026-01-15 14:00"),
            ("2026-01-15 13:59", "2026-01-15 14:00"),
            ("2026-01-15 14:00", "2026-01-15 14:00"),
            ("2026-01-15 23:30", "2026-01-15 23:30"),
        ];
        for (now, expected) in cases {
            assert_eq!(chosen.deliver_at(Berlin, local(Berlin, now)), local(Berlin, expected), "at {now}");
        }
    }

    #[test]
    fn quiet_hours_that_are_off_never_defer() {
        let chosen = preferences(json!({"quiet_hours": {"enabled": false, "start": "22:00", "end": "07:00"}}));
        let now = local(Berlin, "2026-01-15 23:30");
        assert_eq!(chosen.deliver_at(Berlin, now), now);
    }

    #[test]
    fn in_app_items_arrive_during_quiet_hours_push_and_email_wait() {
        let chosen = quiet("22:00", "07:00");
        let now = local(Berlin, "2026-01-15 23:30");
        let morning = local(Berlin, "2026-01-16 07:00");
        assert!(!InApp.is_interruptive());
        assert_eq!(chosen.deliver_via(InApp, Berlin, now), now);
        assert_eq!(chosen.deliver_via(Push, Berlin, now), morning);
        assert_eq!(chosen.deliver_via(Email, Berlin, now), morning);
    }

    #[test]
    fn quiet_hours_follow_the_users_timezone() {
        let chosen = quiet("22:00", "07:00");
        // 06:30 UTC is 22:30 the evening before in Los Angeles (PST, UTC-8): wait until 15:00 UTC.
        assert_eq!(chosen.deliver_at(Los_Angeles, utc("2026-01-16T06:30:00Z")), utc("2026-01-16T15:00:00Z"));
        // The same instant is 15:30 in Kolkata (UTC+05:30): no quiet hours there.
        assert_eq!(chosen.deliver_at(Kolkata, utc("2026-01-16T06:30:00Z")), utc("2026-01-16T06:30:00Z"));
        // 17:00 UTC is 22:30 in Kolkata: wait until 07:00 IST, 01:30 UTC.
        assert_eq!(chosen.deliver_at(Kolkata, utc("2026-01-15T17:00:00Z")), utc("2026-01-16T01:30:00Z"));
        // 16:29 UTC is 21:59 in Kolkata: deliver now.
        assert_eq!(chosen.deliver_at(Kolkata, utc("2026-01-15T16:29:00Z")), utc("2026-01-15T16:29:00Z"));
    }

    #[test]
    fn an_end_time_skipped_by_dst_defers_to_the_end_of_the_gap() {
        // Berlin, 2026-03-29: clocks go from 02:00 CET straight to 03:00 CEST (01:00 UTC).
        let chosen = quiet("22:00", "02:30");
        let evening = local(Berlin, "2026-03-28 23:00");
        assert_eq!(chosen.deliver_at(Berlin, evening), utc("2026-03-29T01:00:00Z"));
        // Just before the gap, still quiet; just after it, the window is over.
        assert_eq!(chosen.deliver_at(Berlin, utc("2026-03-29T00:59:00Z")), utc("2026-03-29T01:00:00Z"));
        assert_eq!(chosen.deliver_at(Berlin, utc("2026-03-29T01:00:00Z")), utc("2026-03-29T01:00:00Z"));
    }

    #[test]
    fn an_end_time_repeated_by_dst_ends_at_its_first_occurrence() {
        // Berlin, 2026-10-25: 02:30 occurs at 00:30 UTC (CEST) and again at 01:30 UTC (CET).
        let chosen = quiet("22:00", "02:30");
        assert_eq!(chosen.deliver_at(Berlin, local(Berlin, "2026-10-24 23:00")), utc("2026-10-25T00:30:00Z"));
        // Once the window ended, the repeated 02:15 does not start it again.
        assert_eq!(chosen.deliver_at(Berlin, utc("2026-10-25T01:15:00Z")), utc("2026-10-25T01:15:00Z"));
    }

    #[test]
    fn the_digest_is_due_in_the_users_local_digest_hour() {
        let chosen = digest_by_email(json!({})); // 08:00 local
        // Berlin in winter is UTC+1.
        assert_eq!(chosen.digest_due(Berlin, utc("2026-01-15T06:00:00Z")), None);
        assert_eq!(chosen.digest_due(Berlin, utc("2026-01-15T07:00:00Z")), Some(date("2026-01-15")));
        assert_eq!(chosen.digest_due(Berlin, utc("2026-01-15T08:00:00Z")), None);
        // Los Angeles (UTC-8): 16:00 UTC.
        assert_eq!(chosen.digest_due(Los_Angeles, utc("2026-01-15T16:00:00Z")), Some(date("2026-01-15")));
        // Tokyo (UTC+9): 23:00 UTC is 08:00 of the next local day.
        assert_eq!(chosen.digest_due(Tokyo, utc("2026-01-14T23:00:00Z")), Some(date("2026-01-15")));
    }

    #[test]
    fn a_half_hour_zone_gets_its_digest_from_exactly_one_hourly_run() {
        let chosen = digest_by_email(json!({}));
        // Kolkata is UTC+05:30: the 02:00 UTC run is 07:30 local, the 03:00 UTC run is 08:30.
        assert_eq!(chosen.digest_due(Kolkata, utc("2026-01-15T02:00:00Z")), None);
        assert_eq!(chosen.digest_due(Kolkata, utc("2026-01-15T03:00:00Z")), Some(date("2026-01-15")));
        assert_eq!(due_runs(&chosen, Kolkata, "2026-01-14T19:00:00Z"), [date("2026-01-15")]);
    }

    #[test]
    fn a_digest_hour_skipped_by_dst_is_sent_by_the_next_run() {
        let chosen = digest_by_email(json!({"digest_hour": 2}));
        // Berlin, 2026-03-29: local 02:00–03:00 does not exist; the 01:00 UTC run is 03:00 CEST.
        assert_eq!(chosen.digest_due(Berlin, utc("2026-03-29T01:00:00Z")), Some(date("2026-03-29")));
        assert_eq!(due_runs(&chosen, Berlin, "2026-03-28T23:00:00Z"), [date("2026-03-29")]);
    }

    #[test]
    fn a_digest_hour_repeated_by_dst_names_the_same_date_twice() {
        let chosen = digest_by_email(json!({"digest_hour": 2}));
        // Berlin, 2026-10-25: 02:00 local occurs at 00:00 and 01:00 UTC; the date key dedups.
        assert_eq!(due_runs(&chosen, Berlin, "2026-10-24T22:00:00Z"), [date("2026-10-25"), date("2026-10-25")]);
    }

    #[test]
    fn no_digest_when_it_is_off_on_every_channel() {
        let chosen = preferences(json!({"channels": {"daily_digest": {"email": false}}}));
        assert!(!chosen.digest_enabled());
        assert_eq!(chosen.digest_due(Berlin, utc("2026-01-15T07:00:00Z")), None);
    }

    #[test]
    fn the_digest_is_opt_in() {
        let defaults = NotificationPreferences::default();
        assert!(!defaults.digest_enabled());
        assert_eq!(due_runs(&defaults, Berlin, "2026-01-15T00:00:00Z"), []);
        for channel in ["in_app", "email", "push"] {
            let chosen = preferences(json!({"channels": {"daily_digest": {channel: true}}}));
            assert!(chosen.digest_enabled(), "{channel}");
            assert_eq!(chosen.digest_due(Berlin, utc("2026-01-15T07:00:00Z")), Some(date("2026-01-15")), "{channel}");
        }
    }

    /// Preferences from a PUT body, with the digest switched on by email.
    fn digest_by_email(mut body: serde_json::Value) -> NotificationPreferences {
        body["channels"] = json!({"daily_digest": {"email": true}});
        preferences(body)
    }

    /// The dates the 24 hourly runs from `first_run` on find due.
    fn due_runs(preferences: &NotificationPreferences, timezone: Tz, first_run: &str) -> Vec<NaiveDate> {
        let first = utc(first_run);
        (0..24).filter_map(|hour| preferences.digest_due(timezone, first + TimeDelta::hours(hour))).collect()
    }
}
