//! The scrubbing rules, by key name and by value shape.

use ltiscope_ingest::{Json, Map};
use regex::Regex;
use std::borrow::Cow;
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
/// One pass over the members (each key is a member once).
fn is_person_like(map: &Map) -> bool {
    let (mut sub, mut iss) = (false, false);
    for (k, v) in map {
        match k.as_str() {
            "type" | "@type" | "objectType"
                if v.as_str()
                    .is_some_and(|t| t.ends_with("Person") || t == "Agent") =>
            {
                return true;
            }
            "mbox" | "account" => return true,
            // LTI 1.3 claims: `sub` + `name` is the user's name.
            "sub" => sub = true,
            "iss" => iss = true,
            _ => {}
        }
    }
    sub && iss
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
/// memoised per thread (bounded: the cache is cleared when it grows past 4096 keys). The
/// cache hashes with foldhash, eight bytes at a time, unseeded: the keys come from our own
/// parse of a body the cache never outlives, and a flood of distinct keys is bounded by the
/// clearing, so a seed's defence against chosen collisions buys nothing here. SipHash cost a
/// tenth of redaction's instructions; replacing FNV-1a (a byte at a time) took another 14.5%
/// off `scrub_value`'s (callgrind, `examples/prepare_cost`; BENCHMARKS.md, "UTF-8 checked
/// once per line, and the key cache's hash").
fn classify(key: &str) -> (bool, bool) {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static CACHE: RefCell<HashMap<String, (bool, bool), foldhash::fast::FixedState>> =
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

/// Removes secrets (always) and PII (when `minimise`) from a JSON value, in place.
pub(crate) fn scrub_value(v: &mut Json, minimise: bool) {
    match v {
        Json::Object(map) => {
            let person = minimise && is_person_like(map);
            map.retain(|k, _| {
                let (secret, pii) = classify(k);
                !(secret || (minimise && (pii || (person && k == "name"))))
            });
            for child in map.values_mut() {
                scrub_value(child, minimise);
            }
        }
        Json::Array(items) => {
            for item in items {
                scrub_value(item, minimise);
            }
        }
        Json::String(s) => {
            if looks_like_jwt(s) || (minimise && (looks_like_email(s) || looks_like_ip(s))) {
                *s = REDACTED.to_owned();
            } else if let Some(clean) = scrub_inside(s, minimise) {
                *s = clean;
            }
        }
        _ => {}
    }
}

/// Whether a URL's or a form's parameter is to be redacted: secret-named as a key would be,
/// or one of the names that are secret only as parameters: Azure's `sig`, Google's `key`,
/// OAuth's `code`, CAS's `ticket`, SAML's messages (as JSON keys these mostly mean something
/// else: a course code, a map's key); under `minimise` also PII-named.
fn redacts_param(name: &str, minimise: bool) -> bool {
    const PARAM_ONLY: &[&str] = &[
        "sig",
        "key",
        "code",
        "ticket",
        "jwt",
        "assertion",
        "samlresponse",
        "samlrequest",
    ];
    let (secret, pii) = classify(name);
    secret || (minimise && pii) || PARAM_ONLY.iter().any(|n| name.eq_ignore_ascii_case(n))
}

/// What is secret inside a longer string, such as a launch URL
/// (`https://tool.example/launch?access_token=…#id_token=…`), a form-encoded list or JSON sent
/// as a string (scrubbed as JSON): the
/// values of secret-named `name=value` parameters (under `minimise` also PII-named ones, such
/// as `email=`), also inside another parameter's value (`redirect=https://…?token=…`, plain or
/// percent-encoded), a URL's credentials (`https://user:password@host/`), and JWTs anywhere.
/// `None` when nothing changes: most strings have no `=`, no `eyJ` and no `://` with an `@`,
/// and are not searched.
pub(crate) fn scrub_inside(s: &str, minimise: bool) -> Option<String> {
    let b = s.as_bytes();
    // A string that is JSON itself (an extension or a parameter list sent as text) is
    // scrubbed as JSON, and written again only if that removed something.
    if matches!(b.first(), Some(b'{' | b'['))
        && let Ok(sent) = serde_json::from_str::<Json>(s)
    {
        let mut scrubbed = sent.clone();
        scrub_value(&mut scrubbed, minimise);
        return (scrubbed != sent).then(|| ltiscope_ingest::json_text(&scrubbed));
    }
    scrub_embedded(s, minimise, None)
}

/// The rules [`scrub_inside`] and [`scrub_text`] share: URLs' credentials, `name=value`
/// parameters ([`scrub_params`], `hash` as there) and JWTs, each searched for only where the
/// byte that starts it occurs. `None` when nothing changes.
fn scrub_embedded(
    s: &str,
    minimise: bool,
    hash: Option<&dyn Fn(&str) -> String>,
) -> Option<String> {
    // Every string of every event passes here, and most hold none of the three bytes that
    // can start anything to redact: one search finds them all.
    let b = s.as_bytes();
    let (mut has_userinfo, mut has_param, mut has_jwt) = (false, false, false);
    for i in memchr::memchr3_iter(b'@', b'=', b'J', b) {
        match b[i] {
            b'@' => has_userinfo = true,
            b'=' => has_param = true,
            _ => has_jwt |= i >= 2 && &b[i - 2..i] == b"ey",
        }
    }
    let has_userinfo = has_userinfo && s.contains("://");
    if !(has_userinfo || has_param || has_jwt) {
        return None;
    }
    let mut out: Option<String> = None;
    let mut step = |scrub: &dyn Fn(&str) -> Option<String>| {
        if let Some(t) = scrub(out.as_deref().unwrap_or(s)) {
            out = Some(t);
        }
    };
    if has_userinfo {
        step(&scrub_userinfo);
    }
    if has_param && params_may_need_scrubbing(s, minimise, hash.is_some()) {
        step(&|t| scrub_params(t, minimise, hash, 0));
    }
    if has_jwt {
        step(&|t| match JWT.replace_all(t, REDACTED) {
            Cow::Owned(t) => Some(t),
            Cow::Borrowed(_) => None,
        });
    }
    out
}

/// Whether [`scrub_params`] may change `s`: some `=` has a secret-named (under `minimise` also
/// PII-named; when user ids are hashed, a user-id) name before it, or something is
/// percent-encoded. The names are the runs of name
/// characters before each `=`, as the regex reads them at any depth, so a "no" is always right;
/// and it costs a fraction of the regex on the strings that hold parameters but nothing to
/// redact (most URLs with a query: callgrind, `examples/prepare_cost`).
fn params_may_need_scrubbing(s: &str, minimise: bool, hashes_user_ids: bool) -> bool {
    let b = s.as_bytes();
    if b.contains(&b'%') {
        return true;
    }
    b.iter()
        .enumerate()
        .filter(|(_, c)| **c == b'=')
        .any(|(eq, _)| {
            let mut start = eq;
            while start > 0 && !ends_param_name(b[start - 1]) {
                start -= 1;
            }
            // Both ends are ASCII bytes (or the string's ends), so on character boundaries.
            let name = &s[start..eq];
            !name.is_empty()
                && (redacts_param(name, minimise)
                    || (hashes_user_ids && USER_ID_KEYS.contains(&name)))
        })
}

/// How deep parameters inside parameters' values are followed; a value nested deeper that
/// still holds parameters is redacted whole (and the work stays bounded whatever the input).
const MAX_NESTING: usize = 4;

/// The `name=value` parameters of `s` whose values [`scrub_inside`] redacts; with `hash`, also
/// the values of user-id parameters (`user_id=`) become pseudonyms (for text that is not JSON,
/// where the pseudonymiser cannot find them by key).
fn scrub_params(
    s: &str,
    minimise: bool,
    hash: Option<&dyn Fn(&str) -> String>,
    depth: usize,
) -> Option<String> {
    let mut changed = false;
    let out = PARAM.replace_all(s, |c: &regex::Captures<'_>| {
        let (name, value) = (&c[1], &c[2]);
        let replaced = if redacts_param(name, minimise) {
            Some(REDACTED.to_owned())
        } else if let Some(h) = hash.filter(|_| USER_ID_KEYS.contains(&name)) {
            Some(h(value))
        } else {
            scrub_nested(value, minimise, hash, depth)
        };
        match replaced {
            Some(v) => {
                changed = true;
                format!("{name}={v}")
            }
            None => c[0].to_owned(),
        }
    });
    changed.then(|| out.into_owned())
}

/// What a parameter's value that carries parameters of its own (a URL to go on to), plain or
/// percent-encoded, becomes when something in it is redacted. An encoded value holding
/// something to redact goes whole (re-encoding it would be guesswork), and so does one nested
/// deeper than [`MAX_NESTING`].
fn scrub_nested(
    value: &str,
    minimise: bool,
    hash: Option<&dyn Fn(&str) -> String>,
    depth: usize,
) -> Option<String> {
    let encoded = value.as_bytes().contains(&b'%');
    if !encoded && !value.as_bytes().contains(&b'=') {
        return None;
    }
    if depth >= MAX_NESTING {
        return Some(REDACTED.to_owned());
    }
    if let Some(inner) = scrub_params(value, minimise, hash, depth + 1) {
        return Some(inner);
    }
    if encoded {
        let decoded = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
        if decoded != value
            && (scrub_params(&decoded, minimise, hash, depth + 1).is_some()
                || scrub_userinfo(&decoded).is_some()
                || JWT.is_match(&decoded))
        {
            return Some(REDACTED.to_owned());
        }
    }
    None
}

/// The credentials of every URL in `s` (`https://user:password@host/…`) replaced by
/// `[redacted]`, the host kept: `None` when no URL has any.
fn scrub_userinfo(s: &str) -> Option<String> {
    let ends_authority =
        |c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>') || c.is_whitespace();
    let mut out = String::new();
    let mut copied = 0;
    // Each `://` on its own: one URL's authority may end in the colon of the next (`a://u@b://…`).
    for (i, _) in s.match_indices("://") {
        let start = i + 3;
        let authority = s[start..].split(ends_authority).next().unwrap_or("");
        if let Some(at) = authority.rfind('@')
            && authority[..at] != *REDACTED
        {
            out.push_str(&s[copied..start]);
            out.push_str(REDACTED);
            copied = start + at;
        }
    }
    (copied > 0).then(|| {
        out.push_str(&s[copied..]);
        out
    })
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
pub(crate) fn collect_user_ids(v: &Json, ids: &mut HashSet<String>) {
    match v {
        Json::Object(map) => {
            let person = map
                .get("type")
                .or_else(|| map.get("@type"))
                .and_then(Json::as_str)
                .is_some_and(|t| t.ends_with("Person"));
            for (k, child) in map {
                let id_field =
                    USER_ID_KEYS.contains(&k.as_str()) || (person && (k == "id" || k == "@id"));
                match child {
                    Json::String(s) if id_field && !s.is_empty() => {
                        ids.insert(s.clone());
                    }
                    Json::Number(n) if id_field => {
                        ids.insert(n.to_string());
                    }
                    _ => {}
                }
                if k == "account"
                    && let Some(name) = child.get("name").and_then(Json::as_str)
                {
                    ids.insert(name.to_owned());
                    if let Some((_, bare)) = urn_uuid(name) {
                        ids.insert(bare);
                    }
                }
                collect_user_ids(child, ids);
            }
        }
        Json::Array(items) => {
            for item in items {
                collect_user_ids(item, ids);
            }
        }
        _ => {}
    }
}

/// The IRI form of a pseudonym, for a user id that was an IRI: `urn:pseudonym:u_…`. Read back
/// (a re-derive), it stands for its pseudonym (`Pseudonymiser::pseudonym`).
pub(crate) const PSEUDONYM_IRI: &str = "urn:pseudonym:";

/// Whether a value is a pseudonym: `u_` and 32 hex digits.
pub(crate) fn is_pseudonym(s: &str) -> bool {
    s.len() == 34 && s.starts_with("u_") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The anonymous Caliper person: not a user, never pseudonymised (a parser reads it as no
/// user at all, and must still after redaction).
const ANONYMOUS_PERSON: &str = "http://purl.imsglobal.org/caliper/Person";

/// A `urn:uuid:` value (any case) split into its prefix as written and the id a parser reads
/// from it (`ltiscope_ingest::normalise_event_id`: a UUID lower-cased).
fn urn_uuid(s: &str) -> Option<(&str, String)> {
    let prefix = s.get(..9).filter(|p| p.eq_ignore_ascii_case("urn:uuid:"))?;
    let bare = ltiscope_ingest::normalise_event_id(s);
    (!bare.is_empty()).then_some((prefix, bare))
}

/// Replaces user identifiers with pseudonyms: whole values that are ids, and long ids (UUIDs,
/// IRIs) wherever they occur inside other strings, such as `.../users/<uuid>` IRIs.
pub(crate) fn replace_user_ids(v: &mut Json, ids: &HashSet<String>, hash: &dyn Fn(&str) -> String) {
    let mut long: Vec<&String> = ids
        .iter()
        .filter(|id| id.len() >= 12 && *id != ANONYMOUS_PERSON)
        .collect();
    long.sort_by_key(|id| std::cmp::Reverse(id.len()));
    replace_in(v, ids, &long, hash);
}

fn replace_in(
    v: &mut Json,
    ids: &HashSet<String>,
    long: &[&String],
    hash: &dyn Fn(&str) -> String,
) {
    match v {
        Json::Object(map) => {
            for child in map.values_mut() {
                replace_in(child, ids, long, hash);
            }
        }
        Json::Array(items) => {
            for item in items {
                replace_in(item, ids, long, hash);
            }
        }
        Json::String(s) => {
            // `urn:uuid:<id>` keeps its prefix around the pseudonym of the id the record
            // holds (parsers strip the prefix, as `normalise_event_id` does), so the original
            // derives again to the record's pseudonym.
            if let Some((prefix, bare)) = urn_uuid(s)
                && ids.contains(&bare)
            {
                *s = format!("{prefix}{}", hash(&bare));
                return;
            }
            if ids.contains(s.as_str()) && s != ANONYMOUS_PERSON {
                // An IRI stays an IRI (Caliper requires one where an actor is given by its
                // id alone), so the original still parses.
                *s = if ltiscope_ingest::looks_like_iri(s) {
                    format!("{PSEUDONYM_IRI}{}", hash(s))
                } else {
                    hash(s)
                };
                return;
            }
            for id in long {
                if s.contains(id.as_str()) {
                    *s = s.replace(id.as_str(), &hash(id));
                }
            }
        }
        Json::Number(n) => {
            let text = n.to_string();
            if ids.contains(&text) {
                *v = Json::String(hash(&text));
            }
        }
        _ => {}
    }
}

/// Each `"key": "value` of text that is not JSON (the value may be cut off where a body was
/// truncated): the key and where its value stands. Every `"` is tried as the start of a key,
/// so a string read as one pair's value is also tried as the next pair's key: broken text pairs
/// its quotes unpredictably, and a regex's matches, which never overlap, once paired them so
/// that a secret-named key was read as a value and its own value kept (found by fuzzing). A key
/// holds no JSON punctuation: otherwise the structure between two strings could be read as a
/// key (`..."x":[null,":",{"oauth_signature":...` read `:[null,` as a key and `,{` as its
/// value, and skipped the secret behind it).
fn quoted_pairs(text: &str) -> Vec<(&str, std::ops::Range<usize>)> {
    let b = text.as_bytes();
    let skip_space = |mut j: usize| {
        while b.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        j
    };
    let mut pairs = Vec::new();
    for quote in memchr::memchr_iter(b'"', b) {
        let key_start = quote + 1;
        let Some(len) = b[key_start..]
            .iter()
            .position(|c| matches!(c, b'"' | b'\\' | b'[' | b']' | b'{' | b'}' | b','))
        else {
            continue;
        };
        let key_end = key_start + len;
        if len == 0 || b[key_end] != b'"' {
            continue;
        }
        let colon = skip_space(key_end + 1);
        if b.get(colon) != Some(&b':') {
            continue;
        }
        let open = skip_space(colon + 1);
        if b.get(open) != Some(&b'"') {
            continue;
        }
        let mut end = open + 1;
        while end < b.len() && b[end] != b'"' {
            end += if b[end] == b'\\' { 2 } else { 1 };
        }
        // Every index is that of an ASCII byte or the text's end: character boundaries.
        pairs.push((&text[key_start..key_end], open + 1..end.min(b.len())));
    }
    pairs
}
/// `name=value`, as in a URL's query or fragment or a form post. A name is whatever stands
/// between the last separator (`?`, `&`, `;`, `#`, `/`, a quote, ASCII whitespace) and the `=`,
/// so that `auth[token]=` and `access%5Ftoken=` are names too. The value ends at the next
/// parameter (`&`, `;`), the fragment (`#`), whitespace or a quote, so that a parameter before
/// the fragment does not hide one after it (`?a=1#access_token=…`).
static PARAM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([^=&;#?/"\t\n\x0B\x0C\r ]+)=([^&;#"\t\n\x0B\x0C\r ]*)"#)
        .unwrap_or_else(|_| unreachable!())
});
/// The bytes a parameter name never holds ([`PARAM`]).
fn ends_param_name(b: u8) -> bool {
    matches!(
        b,
        b'=' | b'&' | b';' | b'#' | b'?' | b'/' | b'"' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' '
    )
}
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
/// `"key": "value"` and `key=value` pairs, URLs' credentials, JWTs, and under `minimise`
/// emails, IPv4 addresses and PII-named pairs. With `hash`, values of user-id keys become pseudonyms.
pub(crate) fn scrub_text(
    text: &str,
    minimise: bool,
    hash: Option<&dyn Fn(&str) -> String>,
) -> String {
    let mut scrubbed = String::with_capacity(text.len());
    let mut copied = 0;
    for (key, value) in quoted_pairs(text) {
        let redacted = if is_secret_key(key) || (minimise && is_pii_key(key)) {
            Some(REDACTED.to_owned())
        } else {
            hash.filter(|_| USER_ID_KEYS.contains(&key))
                .map(|h| h(&text[value.clone()]))
        };
        if let Some(v) = redacted
            && value.start >= copied
        {
            scrubbed.push_str(&text[copied..value.start]);
            scrubbed.push_str(&v);
            copied = value.end;
        }
    }
    scrubbed.push_str(&text[copied..]);
    let mut text = scrub_embedded(&scrubbed, minimise, hash).unwrap_or(scrubbed);
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
            let mut v = Json::from(serde_json::json!({"contact": email, "list": [email]}));
            scrub_value(&mut v, true);
            assert_eq!(
                v,
                Json::from(serde_json::json!({"contact": REDACTED, "list": [REDACTED]}))
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
    fn secret_parameters_inside_strings_lose_their_values() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
        for (input, want) in [
            (
                "https://tool.example.com/launch?course=7&access_token=S3cr3t#top",
                "https://tool.example.com/launch?course=7&access_token=[redacted]#top",
            ),
            // A parameter before the fragment does not hide a token in it.
            (
                "https://tool.example.com/cb?state=9#id_token=S3cr3t&expires_in=60",
                "https://tool.example.com/cb?state=9#id_token=[redacted]&expires_in=60",
            ),
            // Nor does a parameter whose value is another URL.
            (
                "https://tool.example.com/go?next=https://files.example.com/f?sv=1&sig=S3cr3t",
                "https://tool.example.com/go?next=https://files.example.com/f?sv=1&sig=[redacted]",
            ),
            (
                "https://s3.example.com/f?X-Amz-Credential=S3cr3t;X-Amz-Signature=S3cr3t",
                "https://s3.example.com/f?X-Amz-Credential=[redacted];X-Amz-Signature=[redacted]",
            ),
            (
                "https://maps.example.com/api?key=S3cr3t&q=x",
                "https://maps.example.com/api?key=[redacted]&q=x",
            ),
            (
                "oauth_consumer_key=mykey&oauth_nonce=S3cr3t&user_id=7",
                "oauth_consumer_key=mykey&oauth_nonce=[redacted]&user_id=7",
            ),
            // Percent-encoded, a URL to go on to goes whole when it holds a secret.
            (
                "https://tool.example.com/go?next=https%3A%2F%2Fx.example%2Fcb%3Ftoken%3DS3cr3t&a=1",
                "https://tool.example.com/go?next=[redacted]&a=1",
            ),
            // Credentials in a URL go; the host stays.
            (
                "https://admin:S3cr3t@tool.example.com/launch",
                "https://[redacted]@tool.example.com/launch",
            ),
            (
                "see ftp://a@b:S3cr3t@files.example.com/x and https://ok.example.com/",
                "see ftp://[redacted]@files.example.com/x and https://ok.example.com/",
            ),
            ("x://a@b://c@d/", "x://[redacted]@b://[redacted]@d/"),
            // Any name: brackets (form arrays), escapes, quotes (found by fuzzing).
            (
                "user[name]=jo&user[password]=S3cr3t",
                "user[name]=jo&user[password]=[redacted]",
            ),
            ("access%5Ftoken=S3cr3t", "access%5Ftoken=[redacted]"),
            ("2si'apikeyta0'16-=15", "2si'apikeyta0'16-=[redacted]"),
            // Nested deeper than MAX_NESTING, a value holding parameters goes whole.
            ("a=b=c=d=e=f=token=S3cr3t", "a=b=c=d=e=[redacted]"),
        ] {
            assert_eq!(scrub_inside(input, false).as_deref(), Some(want), "{input}");
        }
        let embedded = format!("https://tool.example.com/l?t={jwt}&x=1");
        assert_eq!(
            scrub_inside(&embedded, false).as_deref(),
            Some("https://tool.example.com/l?t=[redacted]&x=1")
        );
        // PII-named parameters go under `minimise` only.
        let email = "https://tool.example.com/l?lis_person_contact_email_primary=jo@uni.example";
        assert_eq!(scrub_inside(email, false), None);
        assert_eq!(
            scrub_inside(email, true).as_deref(),
            Some("https://tool.example.com/l?lis_person_contact_email_primary=[redacted]")
        );
        for unchanged in [
            "https://tool.example.com/launch?course=7&page=2#top",
            "https://tool.example.com/go?next=https%3A%2F%2Fx.example%2Fcb%3Fpage%3D2",
            "https://[redacted]@tool.example.com/launch",
            "mailto:jo@uni.example",
            "https://tool.example.com/launch",
            "a course title, 1+1=2",
            "x == y",
            "a=b=c=d=e=f=g=h",
            "PEPikqcsphXcnKe/WQajV2VDNcQ=",
            "",
        ] {
            assert_eq!(scrub_inside(unchanged, true), None, "{unchanged}");
        }
        // JSON sent as a string is scrubbed as JSON; written again only when that changed it.
        assert_eq!(
            scrub_inside(r#"{"custom": {"api_token": "S3cr3t", "unit": 4}}"#, false).as_deref(),
            Some(r#"{"custom":{"unit":4}}"#)
        );
        assert_eq!(scrub_inside(r#"{ "unit": 4 }"#, false), None);
        assert_eq!(scrub_inside("[redacted]", true), None);
        // In JSON, the string's parameters go and the rest stays.
        let mut v = Json::from(
            serde_json::json!({"launchUrl": "https://t.example.com/l?token=S3cr3t&a=b"}),
        );
        scrub_value(&mut v, false);
        assert_eq!(
            v,
            Json::from(
                serde_json::json!({"launchUrl": "https://t.example.com/l?token=[redacted]&a=b"})
            )
        );
    }

    #[test]
    fn a_secret_key_read_as_a_value_in_broken_text_still_loses_its_value() {
        // Found by fuzzing: the regex that paired quotes took "secret_key" for the value of
        // "x" and never tried it as a key.
        let text = r#"{"x": "secret_key": "S3cr3t", "y" : "z"#;
        let out = scrub_text(text, false, None);
        assert_eq!(out, r#"{"x": "secret_key": "[redacted]", "y" : "z"#);
        // Scrubbing again finds nothing more, and keeps the text's spacing.
        assert_eq!(scrub_text(&out, false, None), out);
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
        let s = scrub_text(form, false, Some(&|id: &str| format!("u_{id}{id}")));
        assert!(s.contains("user_id=u_77&"), "{s}");
        // A URL in truncated JSON: its token goes, the JSON around it stays.
        let t = r#"{"launchUrl":"https://t.example.com/l?sig=S3cr3t","id":"1"#;
        let s = scrub_text(t, false, None);
        assert!(!s.contains("S3cr3t"), "{s}");
        assert!(s.contains(r#"sig=[redacted]","id":"1"#), "{s}");
    }
}
