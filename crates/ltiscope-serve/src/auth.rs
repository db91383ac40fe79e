//! API keys: generated here, stored only as SHA-256 hashes, compared in constant time, never
//! logged. A key has a scope: ingest for one source (or any), read, or admin.

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Send events of one source family (`blackboard`, `brightspace`, `caliper`, `xapi`) or `any`.
    Ingest(String),
    /// Read reports.
    Read,
    /// Everything, including reading one user's launches and managing keys.
    Admin,
}

impl Scope {
    /// Parses `ingest:<source>`, `read`, `admin`.
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => {
                let source = s.strip_prefix("ingest:")?;
                matches!(
                    source,
                    "blackboard" | "brightspace" | "caliper" | "xapi" | "any"
                )
                .then(|| Scope::Ingest(source.to_owned()))
            }
        }
    }

    /// The stored form.
    pub fn as_string(&self) -> String {
        match self {
            Scope::Ingest(s) => format!("ingest:{s}"),
            Scope::Read => "read".into(),
            Scope::Admin => "admin".into(),
        }
    }

    /// May this key send to an endpoint of `family`?
    pub fn may_ingest(&self, family: &str) -> bool {
        match self {
            Scope::Ingest(s) => s == "any" || s == family,
            Scope::Admin => true,
            Scope::Read => false,
        }
    }
}

/// A new random key (`lts_` + 43 characters of base64url, 256 bits) and its hash.
pub fn new_key() -> (String, String) {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let key = format!(
        "lts_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hash_key(&key);
    (key, hash)
}

/// Hex SHA-256 of a key. Keys carry 244+ random bits, so a fast hash is enough.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.trim().as_bytes()))
}

/// One active key, as loaded from the store.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// Row id.
    pub id: i64,
    /// Human name.
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    hash: [u8; 32],
}

/// The active keys.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: Vec<KeyEntry>,
}

impl KeyRing {
    /// From (id, name, scope, hex hash) of active keys; unparseable rows are skipped.
    pub fn new(rows: impl IntoIterator<Item = (i64, String, String, String)>) -> Self {
        let keys = rows
            .into_iter()
            .filter_map(|(id, name, scope, hash)| {
                let scope = Scope::parse(&scope)?;
                let bytes = hex::decode(hash).ok()?;
                Some(KeyEntry {
                    id,
                    name,
                    scope,
                    hash: bytes.try_into().ok()?,
                })
            })
            .collect();
        KeyRing { keys }
    }

    /// The active (unrevoked) keys of a store listing.
    pub fn from_stored(rows: &[ltiscope_store::ApiKeyRow]) -> Self {
        KeyRing::new(
            rows.iter()
                .filter(|k| k.revoked_at.is_none())
                .map(|k| (k.id, k.name.clone(), k.scope.clone(), k.key_hash.clone())),
        )
    }

    /// No keys at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key entry for a request, from its `Authorization` header (any accepted form).
    pub fn for_request(&self, headers: &axum::http::HeaderMap) -> Option<&KeyEntry> {
        let header = headers
            .get(axum::http::header::AUTHORIZATION)?
            .to_str()
            .ok()?;
        presented_keys(header).iter().find_map(|k| self.check(k))
    }

    /// The key entry for a presented key. Every stored hash is compared, in constant time, so
    /// timing tells nothing about which key or how much of it matched.
    pub fn check(&self, presented: &str) -> Option<&KeyEntry> {
        let digest: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
        let mut found = None;
        for k in &self.keys {
            if bool::from(k.hash[..].ct_eq(&digest[..])) {
                found = Some(k);
            }
        }
        found
    }
}

/// The key ring in force. The collector reloads it from the store every few seconds, so a key
/// created or revoked with `ltiscope keys` (on PostgreSQL, from any machine) takes effect in
/// every collector process without a restart.
#[derive(Debug, Default)]
pub struct Keys(std::sync::RwLock<std::sync::Arc<KeyRing>>);

impl Keys {
    /// Starts with a ring.
    pub fn new(ring: KeyRing) -> Self {
        Keys(std::sync::RwLock::new(std::sync::Arc::new(ring)))
    }

    /// The ring in force now.
    pub fn current(&self) -> std::sync::Arc<KeyRing> {
        std::sync::Arc::clone(
            &self
                .0
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Puts a new ring in force.
    pub fn replace(&self, ring: KeyRing) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = std::sync::Arc::new(ring);
    }
}

/// The key in an `Authorization` header: `Bearer <key>`, `Basic base64(user:key)` (the key may
/// be the user or the password, as xAPI clients differ), or the bare key (Blackboard sends it
/// bare in some versions). Returns every candidate to check.
pub fn presented_keys(header: &str) -> Vec<String> {
    let h = header.trim();
    if let Some(rest) = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
    {
        return vec![rest.trim().to_owned()];
    }
    if let Some(rest) = h
        .strip_prefix("Basic ")
        .or_else(|| h.strip_prefix("basic "))
    {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) else {
            return Vec::new();
        };
        let text = String::from_utf8_lossy(&decoded).into_owned();
        return match text.split_once(':') {
            Some((user, pass)) => [pass, user]
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            None => vec![text],
        };
    }
    vec![h.to_owned()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_hash_only() {
        let (key, hash) = new_key();
        assert!(key.starts_with("lts_") && key.len() > 40);
        assert!(!hash.contains(&key[4..]));
        let ring = KeyRing::new([(1, "Learn".into(), "ingest:blackboard".into(), hash)]);
        let hit = ring.check(&key).expect("known key");
        assert!(hit.scope.may_ingest("blackboard"));
        assert!(!hit.scope.may_ingest("brightspace"));
        assert!(ring.check("lts_wrong").is_none());
    }

    #[test]
    fn header_forms() {
        assert_eq!(presented_keys("Bearer abc"), vec!["abc"]);
        assert_eq!(presented_keys("abc"), vec!["abc"]);
        let basic = base64::engine::general_purpose::STANDARD.encode("user:abc");
        assert_eq!(
            presented_keys(&format!("Basic {basic}")),
            vec!["abc", "user"]
        );
    }
}
