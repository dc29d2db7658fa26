//! The credit ledger in the table: a new user's balance, reservations taken in spending order
//! under concurrency, and commits and refunds that happen once whatever is retried.

use flowday_tests::TestStack;
use http::{Method, StatusCode};
use serde_json::Value;
use shared::domain::credits::{Amounts, CreditKind, KICKSTART_CREDITS};
use shared::store::credits::{Reserved, Settled};

const FREE_DAILY: u64 = 3;

async fn user(stack: &TestStack) -> (String, String) {
    let user = stack.signup("Spender").await;
    (user["access_token"].as_str().unwrap().to_string(), user["user"]["id"].as_str().unwrap().to_string())
}

async fn reserve(stack: &TestStack, user_id: &str, job_id: &str, amount: u64) -> Reserved {
    let now = chrono::Utc::now();
    stack
        .store("api-billing")
        .credits()
        .reserve(user_id, job_id, amount, now, "Europe/Berlin", FREE_DAILY)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_user_has_kickstart_and_daily_credits_and_knows_when_they_reset() {
    let stack = TestStack::new().await;
    let (token, _) = user(&stack).await;
    let credits = stack.call(Method::GET, "/v1/credits", Some(&token), None).await;
    assert_eq!(credits.status, StatusCode::OK, "{}", credits.body);
    assert_eq!(credits.body["balance"]["kickstart"], KICKSTART_CREDITS);
    assert_eq!(credits.body["balance"]["daily"], FREE_DAILY);
    assert_eq!(credits.body["total"], KICKSTART_CREDITS + FREE_DAILY);
    // The signup's zone is Europe/Berlin: midnight there is 23:00 or 22:00 UTC.
    let reset = credits.body["next_daily_reset"].as_str().unwrap();
    assert!(reset.ends_with("T23:00:00Z") || reset.ends_with("T22:00:00Z"), "{reset}");
    let history = stack.call(Method::GET, "/v1/credits/history", Some(&token), None).await;
    let entries = history.body["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "the signup's kickstart grant; reading wrote nothing: {}", history.body);
    assert_eq!(
        (entries[0]["kind"].as_str(), entries[0]["amounts"]["kickstart"].as_u64()),
        (Some("grant"), Some(KICKSTART_CREDITS))
    );
}

#[tokio::test]
async fn a_hundred_reservations_at_once_against_fifty_credits_take_exactly_fifty() {
    let stack = TestStack::new().await;
    let (token, user_id) = user(&stack).await;
    let store = stack.store("api-billing");
    // 3 daily + 25 kickstart + 22 purchased = 50.
    assert!(store.credits().grant(&user_id, CreditKind::Purchased, 22, "cs_test_fifty", "credit pack").await.unwrap());
    let attempts = (0..100).map(|index| {
        let (stack, user_id) = (&stack, user_id.clone());
        async move { reserve(stack, &user_id, &format!("job-{index:03}"), 1).await }
    });
    let outcomes = futures::future::join_all(attempts).await;
    let taken: Vec<&Amounts> = outcomes
        .iter()
        .filter_map(|outcome| if let Reserved::Taken(taken) = outcome { Some(taken) } else { None })
        .collect();
    assert_eq!(taken.len(), 50, "{outcomes:?}");
    let total = taken.iter().fold(Amounts::default(), |sum, taken| sum.plus(taken));
    assert_eq!(total, Amounts { daily: 3, subscription: 0, purchased: 22, kickstart: 25 });
    let credits = stack.call(Method::GET, "/v1/credits", Some(&token), None).await;
    assert_eq!(credits.body["total"], 0, "{}", credits.body);
    let refused = outcomes.iter().find(|outcome| matches!(outcome, Reserved::Insufficient(_))).unwrap();
    let Reserved::Insufficient(refused) = refused else { unreachable!() };
    assert_eq!((refused.needed, refused.balance.total()), (1, 0));
}

#[tokio::test]
async fn a_refund_returns_exactly_what_was_taken_once_and_a_commit_keeps_it_once() {
    let stack = TestStack::new().await;
    let (token, user_id) = user(&stack).await;
    let store = stack.store("api-billing");
    assert!(store.credits().grant(&user_id, CreditKind::Subscription, 10, "in_test_1", "invoice").await.unwrap());
    assert!(
        !store.credits().grant(&user_id, CreditKind::Subscription, 10, "in_test_1", "invoice").await.unwrap(),
        "once per invoice"
    );
    // daily 3, then subscription 10, then kickstart: 15 takes 3 + 10 + 2.
    let Reserved::Taken(taken) = reserve(&stack, &user_id, "job-a", 15).await else { panic!("reserved") };
    assert_eq!(taken, Amounts { daily: 3, subscription: 10, purchased: 0, kickstart: 2 });
    assert_eq!(
        reserve(&stack, &user_id, "job-a", 15).await,
        Reserved::Taken(taken),
        "a retried reserve takes nothing more"
    );
    let balance = |body: &Value| body["balance"].clone();
    let after_reserve = stack.call(Method::GET, "/v1/credits", Some(&token), None).await.body;
    assert_eq!(after_reserve["total"], KICKSTART_CREDITS - 2);

    assert_eq!(store.credits().refund(&user_id, "job-a").await.unwrap(), Settled::Done);
    assert_eq!(
        store.credits().refund(&user_id, "job-a").await.unwrap(),
        Settled::Already(shared::domain::credits::ReservationState::Refunded)
    );
    assert_eq!(
        store.credits().commit(&user_id, "job-a").await.unwrap(),
        Settled::Already(shared::domain::credits::ReservationState::Refunded)
    );
    let refunded = stack.call(Method::GET, "/v1/credits", Some(&token), None).await.body;
    assert_eq!(refunded["balance"]["subscription"], 10);
    assert_eq!(refunded["total"], KICKSTART_CREDITS + FREE_DAILY + 10);

    let Reserved::Taken(_) = reserve(&stack, &user_id, "job-b", 4).await else { panic!("reserved") };
    let commits = (0..5).map(|_| store.credits().commit(&user_id, "job-b"));
    let settled = futures::future::join_all(commits).await;
    assert_eq!(settled.iter().filter(|outcome| matches!(outcome, Ok(Settled::Done))).count(), 1, "{settled:?}");
    assert_eq!(
        store.credits().refund(&user_id, "job-b").await.unwrap(),
        Settled::Already(shared::domain::credits::ReservationState::Committed)
    );
    assert_eq!(store.credits().commit(&user_id, "job-unknown").await.unwrap(), Settled::Unknown);
    let committed = stack.call(Method::GET, "/v1/credits", Some(&token), None).await.body;
    assert_eq!(balance(&committed)["daily"], 0, "the committed job spent today's daily credits first: {committed}");
    assert_eq!(committed["total"], KICKSTART_CREDITS + FREE_DAILY + 10 - 4);

    let history = stack.call(Method::GET, "/v1/credits/history?limit=2", Some(&token), None).await;
    assert_eq!(history.body["items"][0]["kind"], "commit", "newest first: {}", history.body);
    let cursor = history.body["next_cursor"].as_str().expect("more entries");
    let next =
        stack.call(Method::GET, &format!("/v1/credits/history?limit=50&cursor={cursor}"), Some(&token), None).await;
    let kinds: Vec<&str> =
        next.body["items"].as_array().unwrap().iter().map(|entry| entry["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"refund") && kinds.contains(&"grant"), "{kinds:?}");
    let refund = next.body["items"].as_array().unwrap().iter().find(|entry| entry["kind"] == "refund").unwrap();
    assert_eq!(refund["amounts"]["kickstart"], 2);
    assert_eq!(refund["job_id"], "job-a");
}

/// The daily credits each `grant` entry of the history gave, newest first.
async fn daily_grants(stack: &TestStack, token: &str) -> Vec<u64> {
    let history = stack.call(Method::GET, "/v1/credits/history?limit=100", Some(token), None).await.body;
    history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["kind"] == "grant")
        .filter_map(|entry| entry["amounts"]["daily"].as_u64().filter(|daily| *daily > 0))
        .collect()
}

/// The attack: hop between the zones on either side of the date line (where the date always
/// differs) and spend after each hop, hoping each hop is a new day with a fresh allowance.
#[tokio::test]
async fn hopping_between_time_zones_never_refills_the_daily_credits() {
    let stack = TestStack::new().await;
    let (token, user_id) = user(&stack).await;
    let store = stack.store("api-billing");
    let now = chrono::Utc::now();
    let mut taken_daily = 0;
    for (hop, zone) in ["Pacific/Kiritimati", "Pacific/Pago_Pago"].iter().cycle().take(6).enumerate() {
        let patched =
            stack.call(Method::PATCH, "/v1/me", Some(&token), Some(serde_json::json!({ "timezone": zone }))).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        let job = format!("hop-{hop}");
        match store.credits().reserve(&user_id, &job, FREE_DAILY, now, zone, FREE_DAILY).await.unwrap() {
            Reserved::Taken(taken) => taken_daily += taken.get(CreditKind::Daily),
            Reserved::Insufficient(refused) => panic!("{refused:?}"),
        }
        store.credits().refund(&user_id, &job).await.unwrap();
    }
    let credits = stack.call(Method::GET, "/v1/credits", Some(&token), None).await.body;
    // Kiritimati's day is the later one: its allowance is the one the user holds, whatever the hops.
    assert!(credits["balance"]["daily"].as_u64().unwrap() <= FREE_DAILY, "{credits}");
    let grants = daily_grants(&stack, &token).await;
    assert_eq!(grants.len(), 1, "one allowance for the day, not one per hop: {grants:?}");
    assert!(taken_daily >= FREE_DAILY, "the day's credits were spent and given back");
}

#[tokio::test]
async fn an_upgrade_during_the_day_tops_the_daily_credits_up_to_the_new_allowance_once() {
    let stack = TestStack::new().await;
    let (token, user_id) = user(&stack).await;
    let store = stack.store("api-billing");
    let now = chrono::Utc::now();
    let Reserved::Taken(_) = reserve(&stack, &user_id, "before-upgrade", 2).await else { panic!("reserved") };
    stack.set_tier(&user_id, "pro").await;
    let credits = stack.call(Method::GET, "/v1/credits", Some(&token), None).await.body;
    assert_eq!(credits["balance"]["daily"], 1 + 7, "the free day's 1 left, plus pro's 10 less free's 3: {credits}");
    // Two requests at once after the upgrade: the difference is added once.
    let pro_daily = 10;
    let (one, two) = tokio::join!(
        store.credits().reserve(&user_id, "after-a", 1, now, "Europe/Berlin", pro_daily),
        store.credits().reserve(&user_id, "after-b", 1, now, "Europe/Berlin", pro_daily),
    );
    assert!(matches!((one.unwrap(), two.unwrap()), (Reserved::Taken(_), Reserved::Taken(_))));
    let credits = stack.call(Method::GET, "/v1/credits", Some(&token), None).await.body;
    assert_eq!(credits["balance"]["daily"], 8 - 2, "{credits}");
    let grants = daily_grants(&stack, &token).await;
    assert_eq!(grants, [7, FREE_DAILY], "newest first: the free day's 3, then the upgrade's 7, once");
}
