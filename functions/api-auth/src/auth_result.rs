//! The auth result of api.md: what signup, login, refresh and Google sign-in answer.

use crate::Signer;
use serde::Serialize;
use shared::domain::account::Tier;
use shared::http::live_sessions;
use shared::store::accounts::UserItem;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthUser {
    pub id: String,
    pub email: String,
    pub name: String,
    pub timezone: String,
    pub tier: Tier,
    pub created_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthResult {
    pub user: AuthUser,
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

pub fn auth_result(signer: &Signer, user: &UserItem, session_id: &str, refresh_token: String) -> AuthResult {
    let (access_token, expires_in) = signer.0.issue(&user.id, session_id, chrono::Utc::now().timestamp());
    // The session was opened or refreshed just now: it is live.
    live_sessions::remember_live(&user.id, session_id, user.tier);
    AuthResult {
        user: AuthUser {
            id: user.id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            timezone: user.timezone.clone(),
            tier: user.tier,
            created_at: user.created_at.clone(),
        },
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in,
    }
}
