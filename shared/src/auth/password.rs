//! Password hashing: Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane). Hashing runs on
//! the blocking pool so it never stalls the async runtime.

use std::sync::{Once, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

/// Argon2 takes 19 MiB per hash. glibc keeps freed blocks of that size in the arena of the thread
/// that freed them (its mmap threshold rises to the largest block freed), so every blocking thread
/// that once hashed would hold 19 MiB for good. A fixed threshold keeps such blocks mmapped: they go
/// back to the OS when the hash is done, and a 128 MB function stays far from its limit.
fn release_hash_memory_after_use() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only tunes the allocator; it is called once, before the first hash.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
        }
    });
}

fn argon2() -> Argon2<'static> {
    release_hash_memory_after_use();
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_blocking(password: &str) -> String {
    let mut salt_bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes make a valid salt");
    argon2().hash_password(password.as_bytes(), &salt).expect("Argon2 hashing").to_string()
}

pub fn verify_blocking(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
}

pub async fn hash(password: String) -> String {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await.expect("hashing task")
}

/// Verifies `password` against `phc`, or, when there is no hash (unknown email, Google-only
/// account), against a dummy hash, so that every failed login costs the same time.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match phc {
        Some(phc) => verify_blocking(&password, &phc),
        None => {
            let _ = verify_blocking(&password, dummy_hash());
            false
        }
    })
    .await
    .expect("verification task")
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("flowday-dummy-password-for-equal-timing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_its_password() {
        let phc = hash_blocking("correct horse battery");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_blocking("correct horse battery", &phc));
        assert!(!verify_blocking("correct horse batterY", &phc));
        assert!(!verify_blocking("anything", "not a hash"));
    }
}
