//! The scrubbing rules, by key name and by value shape.

use regex::Regex;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::LazyLock;

/// What replaces a value that is removed by shape rather than by key.
const REDACTED: &str = "[redacted]";

/// Keys that hold secrets or one-time material, whatever the PII policy.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    // `oauth_signature_method` names an algorithm; `oauth_consumer_key` is a public identifier
    // that tool identity relies on. Neither is key material.
    if k.ends_with("_method") || k == "oauth_consumer_key" || k.contains("extension_keys") {
        return false;
    }
    const WORDS: &[&str] = &[
        "signature",
        "nonce",
        "secret",
        "password",
        "passwd",
        "token",
        "result_sourcedid",
        "private_key",
        "privatekey",
        "api_key",
        "apikey",
        "access_key",
        "secret_key",
        "signing_key",
        "session_key",
        "authorization",
        "cookie",
        "credential",
    ];
    WORDS.iter().any(|w| k.contains(w))
}

/// Keys that hold names, emails, IP addresses or user agents.
pub fn is_pii_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.starts_with("lis_person_name")
        || k.contains("email")
        || k == "mbox"
        || k == "mbox_sha1sum"
        || k == "given_name"
        || k == "family_name"
        || k == "middle_name"
        || k == "picture"
        || k.contains("ipaddress")
        || k.contains("ip_address")
        || k.contains("useragent")
        || k.contains("user_agent")
        || k == "ext_user_username"
        || k == "custom_user_username"
}

/// A map that describes a person: its `name` is a person's name, not a course or tool name.
fn is_person_like(map: &Map<String, Value>) -> bool {
    let typed = |k: &str| {
        map.get(k)
            .and_then(Value::as_str)
            .is_some_and(|t| t.ends_with("Person") || t == "Agent")
    };
    typed("type")
        || typed("@type")
        || typed("objectType")
        || map.contains_key("mbox")
        || map.contains_key("account")
        // LTI 1.3 claims: `sub` + `name` is the user's name.
        || (map.contains_key("sub") && map.contains_key("iss"))
}

fn looks_like_jwt(s: &str) -> bool {
    s.len() > 30 && s.starts_with("eyJ") && s.matches('.').count() == 2 && !s.contains(' ')
}

fn looks_like_email(s: &str) -> bool {
    // Most strings hold no `@`: a byte search rules them out before the scan for whitespace,
    // which walks every character (3% of an import's samples before this check came first).
    if s.len() > 320 || !s.contains('@') || s.contains(char::is_whitespace) {
        return false;
    }
    let s = s.strip_prefix("mailto:").unwrap_or(s);
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !local.contains(['/', ':'])
                && domain.contains('.')
                && !domain.contains(['/', '@'])
        }
        None => false,
    }
}

fn looks_like_ip(s: &str) -> bool {
    // Every address is hex digits, dots and colons; most strings (ids, URLs, UUIDs, names)
    // have some other byte, found before the parser is tried (parsing every short string was
    // 2.4% of a parse worker's samples).
    s.len() <= 45
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
        && s.parse::<std::net::IpAddr>().is_ok()
}

/// (secret, pii) for a key. Events repeat the same few hundred keys, so the answers are
/// memoised per thread (bounded: the cache is cleared when it grows past 4096 keys).
fn classify(key: &str) -> (bool, bool) {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::hash::BuildHasherDefault;
    thread_local! {
        static CACHE: RefCell<HashMap<String, (bool, bool), BuildHasherDefault<Fnv>>> =
            RefCell::new(HashMap::default());
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(hit) = cache.get(key) {
            return *hit;
        }
        let answer = (is_secret_key(key), is_pii_key(key));
        if cache.len() >= 4096 {
            cache.clear();
        }
        cache.insert(key.to_owned(), answer);
        answer
    })
}

/// FNV-1a, for the key cache: keys are short and come from our own parse of a body the
/// cache never outlives, so SipHash's defence against chosen collisions buys nothing here and
/// cost a tenth of redaction's instructions (callgrind, `examples/prepare_cost`). A flood of distinct
/// keys is still bounded: the cache is cleared at 4096 entries.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325) // the FNV-1a offset basis
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Removes secrets (always) and PII (when `minimise`) from a JSON value, in place.
pub(crate) fn scrub_value(v: &mut Value, minimise: bool) {
    match v {
        Value::Object(map) => {
            let person = minimise && is_person_like(map);
            map.retain(|k, _| {
                let (secret, pii) = classify(k);
                !(secret || (minimise && (pii || (person && k == "name"))))
            });
            for child in map.values_mut() {
                scrub_value(child, minimise);
            }
        }
        Value::Array(items) => {
            for item in items {
                scrub_value(item, minimise);
            }
        }
        Value::String(s)
            if looks_like_jwt(s) || (minimise && (looks_like_email(s) || looks_like_ip(s))) =>
        {
            *s = REDACTED.to_owned();
        }
        _ => {}
    }
}

/// Keys whose values are user identifiers, in any of the sources.
const USER_ID_KEYS: &[&str] = &[
    "user_id",
    "lis_person_sourcedid",
    "person_sourcedid",
    "sub",
    "userId",
    "impersonatingUserId",
    "bb:user.id",
    "bb:user.externalId",
    "member",
    "user",
];

/// Gathers every user identifier in a value: the known id keys, Person ids, xAPI account names.
pub(crate) fn collect_user_ids(v: &Value, ids: &mut HashSet<String>) {
    match v {
        Value::Object(map) => {
            let person = map
                .get("type")
                .or_else(|| map.get("@type"))
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("Person"));
            for (k, child) in map {
                let id_field =
                    USER_ID_KEYS.contains(&k.as_str()) || (person && (k == "id" || k == "@id"));
                match child {
                    Value::String(s) if id_field && !s.is_empty() => {
                        ids.insert(s.clone());
                    }
                    Value::Number(n) if id_field => {
                        ids.insert(n.to_string());
                    }
                    _ => {}
                }
                if let Some(name) = child.get("name").and_then(Value::as_str)
                    && k == "account"
                {
                    ids.insert(name.to_owned());
                    if let Some(bare) = name.strip_prefix("urn:uuid:") {
                        ids.insert(bare.to_owned());
                    }
                }
                collect_user_ids(child, ids);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_user_ids(item, ids);
            }
        }
        _ => {}
    }
}

/// Replaces user identifiers with pseudonyms: whole values that are ids, and long ids (UUIDs,
/// IRIs) wherever they occur inside other strings, such as `.../users/<uuid>` IRIs.
pub(crate) fn replace_user_ids(
    v: &mut Value,
    ids: &HashSet<String>,
    hash: &dyn Fn(&str) -> String,
) {
    // The anonymous Caliper person is not a user.
    let mut long: Vec<&String> = ids
        .iter()
        .filter(|id| id.len() >= 12 && *id != "http://purl.imsglobal.org/caliper/Person")
        .collect();
    long.sort_by_key(|id| std::cmp::Reverse(id.len()));
    replace_in(v, ids, &long, hash);
}

fn replace_in(
    v: &mut Value,
    ids: &HashSet<String>,
    long: &[&String],
    hash: &dyn Fn(&str) -> String,
) {
    match v {
        Value::Object(map) => {
            for child in map.values_mut() {
                replace_in(child, ids, long, hash);
            }
        }
        Value::Array(items) => {
            for item in items {
                replace_in(item, ids, long, hash);
            }
        }
        Value::String(s) => {
            if ids.contains(s.as_str()) {
                *s = hash(s);
                return;
            }
            for id in long {
                if s.contains(id.as_str()) {
                    *s = s.replace(id.as_str(), &hash(id));
                }
            }
        }
        Value::Number(n) => {
            let text = n.to_string();
            if ids.contains(&text) {
                *v = Value::String(hash(&text));
            }
        }
        _ => {}
    }
}

static QUOTED_PAIR: LazyLock<Regex> = LazyLock::new(|| {
    // "key" : "value  (the value may be cut off where a body was truncated). A key holds no
    // JSON punctuation: otherwise a match could start at the closing quote of a string and take
    // the structure up to the next string for a key (`..."x":[null,":",{"oauth_signature":...`
    // read `:[null,` as a key and `,{` as its value, and skipped the secret behind it).
    Regex::new(r#""([^"\\\[\]{},]{1,200})"\s*:\s*"((?:[^"\\]|\\.)*)("|$)"#)
        .unwrap_or_else(|_| unreachable!())
});
static FORM_PAIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([A-Za-z_][A-Za-z0-9_.:-]{0,100})=([^&\s]*)").unwrap_or_else(|_| unreachable!())
});
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}").unwrap_or_else(|_| unreachable!())
});
static IPV4: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?:\d{1,3}\.){3}\d{1,3}\b").unwrap_or_else(|_| unreachable!()));
static JWT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
        .unwrap_or_else(|_| unreachable!())
});

/// Scrubs text that is not JSON (a truncated body, a form post) by pattern: secret-named
/// `"key": "value"` and `key=value` pairs, JWTs, and under `minimise` emails, IPv4 addresses and
/// PII-named pairs. With `hash`, values of user-id keys become pseudonyms.
pub(crate) fn scrub_text(
    text: &str,
    minimise: bool,
    hash: Option<&dyn Fn(&str) -> String>,
) -> String {
    let decide = |key: &str, value: &str| -> Option<String> {
        if is_secret_key(key) || (minimise && is_pii_key(key)) {
            Some(REDACTED.to_owned())
        } else if hash.is_some() && USER_ID_KEYS.contains(&key) {
            hash.map(|h| h(value))
        } else {
            None
        }
    };
    let text =
        QUOTED_PAIR.replace_all(text, |c: &regex::Captures<'_>| match decide(&c[1], &c[2]) {
            Some(v) => format!("\"{}\":\"{}{}", &c[1], v, &c[3]),
            None => c[0].to_owned(),
        });
    let text = FORM_PAIR.replace_all(&text, |c: &regex::Captures<'_>| {
        match decide(&c[1], &c[2]) {
            Some(v) => format!("{}={}", &c[1], v),
            None => c[0].to_owned(),
        }
    });
    let mut text = JWT.replace_all(&text, REDACTED).into_owned();
    if minimise {
        text = EMAIL.replace_all(&text, REDACTED).into_owned();
        text = IPV4.replace_all(&text, REDACTED).into_owned();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_told_from_other_short_strings() {
        for ip in [
            "10.0.0.1",
            "192.0.2.255",
            "2001:db8::1",
            "::1",
            "::ffff:192.0.2.1",
            "FE80::A",
        ] {
            assert!(looks_like_ip(ip), "{ip}");
        }
        for other in [
            "_1_1",
            "deadbeef",
            "1.2.3",
            "1.2.3.4 ",
            "fe80::1%eth0",
            "10.0.0.1/24",
            "",
        ] {
            assert!(!looks_like_ip(other), "{other}");
        }
    }

    #[test]
    fn a_secret_after_a_quoted_colon_in_truncated_text_is_scrubbed() {
        // Found by the redaction property test: the pair hides behind a string ":" in an array.
        let text = r#"{"eventTime":"2024-01-01T00:00:00Z","extensions":[null,":",{"oauth_signature":"S3cr3t-Zq9xW7vT"},null],"id":"1111"#;
        let out = scrub_text(text, true, None);
        assert!(!out.contains("S3cr3t"), "{out}");
        assert!(
            out.contains(r#""eventTime":"2024-01-01T00:00:00Z""#),
            "{out}"
        );
    }

    #[test]
    fn emails_are_recognised_by_shape_whatever_their_key() {
        for email in [
            "a@b.edu",
            "mailto:jo.doe@uni.example.ac.uk",
            "x+tag@sub.example.org",
        ] {
            assert!(looks_like_email(email), "{email}");
            let mut v = serde_json::json!({"contact": email, "list": [email]});
            scrub_value(&mut v, true);
            assert_eq!(
                v,
                serde_json::json!({"contact": REDACTED, "list": [REDACTED]})
            );
        }
        for other in [
            "https://lms.example.edu/path?x=1",
            "a @b.edu",
            "no at sign here",
            "user@localhost",
            "https://x@host.example.com/",
            "",
        ] {
            assert!(!looks_like_email(other), "{other}");
        }
    }

    #[test]
    fn secret_keys() {
        for k in [
            "oauth_signature",
            "oauth_nonce",
            "lis_result_sourcedid",
            "client_secret",
            "id_token",
            "custom_api_key",
            "X-Password",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "oauth_consumer_key",
            "oauth_signature_method",
            "https://api.brightspace.com/xapi/extension_keys/context/actor",
            "context_id",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn truncated_text_loses_its_secrets() {
        let t = r#"{"oauth_signature": "PEPikqcsphXcnKe/WQajV2VDNcQ=", "email": "a@b.edu", "ip": "10.1.2.3", "oauth_nonce": "1718155"#;
        let s = scrub_text(t, true, None);
        assert!(!s.contains("PEPikq"), "{s}");
        assert!(!s.contains("1718155"), "{s}");
        assert!(!s.contains("a@b.edu"), "{s}");
        assert!(!s.contains("10.1.2.3"), "{s}");
        let form = "oauth_signature=abc%3D&user_id=7&token=xyz";
        let s = scrub_text(form, false, None);
        assert!(!s.contains("abc%3D") && !s.contains("xyz"), "{s}");
        assert!(s.contains("user_id=7"), "{s}");
    }
}
