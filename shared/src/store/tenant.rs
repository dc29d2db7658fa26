//! Whose partition an object lives in, and who acts in it. Today every task is a user's own
//! (`USER#<id>`); teams will keep theirs under `TEAM#<id>`. The task, note, attachment, trash,
//! occurrence and activity repositories take a `Tenant`, so a team's tasks will use them unchanged.

/// The partition a request reads and writes, with the person acting in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Tenant {
    /// A user's own partition; the user acts.
    User(String),
    /// A team's partition, with the member who acts (the activity log names them).
    Team { team_id: String, member_id: String },
}

impl Tenant {
    pub fn user(user_id: &str) -> Self {
        Tenant::User(user_id.to_string())
    }

    /// The partition key: `USER#<id>` or `TEAM#<id>`.
    pub fn partition(&self) -> String {
        match self {
            Tenant::User(user_id) => super::keys::user(user_id),
            Tenant::Team { team_id, .. } => format!("TEAM#{team_id}"),
        }
    }

    /// The user whose request this is (the actor of activity entries).
    pub fn actor(&self) -> &str {
        match self {
            Tenant::User(user_id) => user_id,
            Tenant::Team { member_id, .. } => member_id,
        }
    }

    /// The user, when the partition is a user's own: reminders go to that person.
    pub fn own_user(&self) -> Option<&str> {
        match self {
            Tenant::User(user_id) => Some(user_id),
            Tenant::Team { .. } => None,
        }
    }

    /// The folder of the tenant's files in the bucket: `users/<id>` or `teams/<id>`.
    pub fn folder(&self) -> String {
        match self {
            Tenant::User(user_id) => format!("users/{user_id}"),
            Tenant::Team { team_id, .. } => format!("teams/{team_id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_partition_never_meets_a_user_partition() {
        let user = Tenant::user("01J");
        let team = Tenant::Team { team_id: "01J".into(), member_id: "01K".into() };
        assert_eq!(user.partition(), "USER#01J");
        assert_eq!(team.partition(), "TEAM#01J");
        assert_eq!(team.actor(), "01K");
        assert_eq!(team.own_user(), None);
        assert_ne!(user.folder(), team.folder());
    }
}
