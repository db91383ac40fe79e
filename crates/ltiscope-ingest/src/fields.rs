//! Reading loosely typed JSON the way platforms actually send it: keys may be missing or
//! `null`, numbers may come as strings and strings as numbers, entities may be "thinned" to their
//! IRI, and `type`/`@type`, `id`/`@id` both occur.

use crate::json::Json;

/// A non-empty string under `key`.
pub(crate) fn str_at<'a>(v: &'a Json, key: &str) -> Option<&'a str> {
    match v.get(key)? {
        Json::String(s) if !s.trim().is_empty() => Some(s.as_str()),
        _ => None,
    }
}

/// A scalar under `key` as text: strings as they are, numbers and booleans printed. Brightspace
/// sends numeric ids both ways.
pub(crate) fn text_at(v: &Json, key: &str) -> Option<String> {
    scalar_text(v.get(key)?)
}

/// A scalar as text; `None` for null, empty strings, arrays and objects.
pub(crate) fn scalar_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The id of an entity reference: the IRI string itself when thinned, else `id` or `@id`.
pub(crate) fn id_of(v: &Json) -> Option<&str> {
    match v {
        Json::String(s) if !s.is_empty() => Some(s.as_str()),
        Json::Object(_) => str_at(v, "id").or_else(|| str_at(v, "@id")),
        _ => None,
    }
}

/// The type of an entity or event, shortened to its last IRI segment:
/// `http://purl.imsglobal.org/caliper/v1/lis/Person` and `Person` both give `Person`.
pub(crate) fn type_of(v: &Json) -> Option<&str> {
    let t = str_at(v, "type").or_else(|| str_at(v, "@type"))?;
    Some(short_term(t))
}

/// The last segment of an IRI term (after `#` or `/`), or the term itself.
pub(crate) fn short_term(t: &str) -> &str {
    t.rsplit(['#', '/']).next().unwrap_or(t)
}

/// A string list under `key`: an array of strings, or one string holding a comma-separated list.
pub(crate) fn string_list(v: Option<&Json>) -> Vec<String> {
    match v {
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(scalar_text)
            .flat_map(|s| split_list(&s))
            .collect(),
        Some(Json::String(s)) => split_list(s),
        Some(Json::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Normalises an event id so both spellings of a retry match: `urn:uuid:` removed, UUIDs lower
/// cased, anything else kept as sent.
pub fn normalise_event_id(id: &str) -> String {
    let id = id.trim();
    let bare = id
        .get(..9)
        .filter(|p| p.eq_ignore_ascii_case("urn:uuid:"))
        .map_or(id, |_| &id[9..]);
    if looks_like_uuid(bare) {
        bare.to_ascii_lowercase()
    } else {
        bare.to_owned()
    }
}

/// True for the 8-4-4-4-12 hex form.
pub(crate) fn looks_like_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// An id derived from the content, for events sent without one (Caliper 1.0). The text hashed
/// has each object's keys sorted, so the same event re-sent with its members in another order
/// gives the same id; it is byte for byte what serde_json's own tree wrote, so ids are those
/// of the releases that parsed into it.
pub(crate) fn content_id(v: &Json) -> String {
    let text = crate::json_text_sorted(v);
    format!(
        "{CONTENT_ID_PREFIX}{:032x}",
        xxhash_rust::xxh3::xxh3_128(text.as_bytes())
    )
}

const CONTENT_ID_PREFIX: &str = "sha:";

/// Whether an event id was derived from the event's content ([`content_id`]) because the
/// event came without one. Such an id is of the content as received: the kept original,
/// scrubbed, hashes to another, so a re-derive keeps the stored one.
pub fn is_content_id(id: &str) -> bool {
    id.starts_with(CONTENT_ID_PREFIX)
}

/// The host of a URL, lower case, without port or credentials.
pub(crate) fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = if let Some(stripped) = host_port.strip_prefix('[') {
        stripped.split(']').next()?
    } else {
        host_port.split(':').next()?
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// A string is usable as an IRI reference: a scheme, a colon, no whitespace.
pub fn looks_like_iri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_in_both_spellings_match() {
        assert_eq!(
            normalise_event_id("urn:uuid:6B495FE6-CDD9-459A-AA1F-39E4979B87F5"),
            normalise_event_id("6b495fe6-cdd9-459a-aa1f-39e4979b87f5")
        );
        assert_eq!(normalise_event_id("abc"), "abc");
    }

    #[test]
    fn hosts() {
        assert_eq!(
            url_host("https://User@Tool.Example.org:8443/x?y").as_deref(),
            Some("tool.example.org")
        );
        assert_eq!(url_host("not a url"), None);
    }

    #[test]
    fn loose_scalars() {
        let v = Json::from(json!({"a": "12", "b": 12, "c": null, "d": "", "e": [1]}));
        assert_eq!(text_at(&v, "a").as_deref(), Some("12"));
        assert_eq!(text_at(&v, "b").as_deref(), Some("12"));
        assert_eq!(text_at(&v, "c"), None);
        assert_eq!(text_at(&v, "d"), None);
        assert_eq!(text_at(&v, "e"), None);
    }

    #[test]
    fn iris() {
        assert!(looks_like_iri("https://example.edu/x"));
        assert!(looks_like_iri("urn:uuid:1"));
        assert!(!looks_like_iri("This is not an object or an IRI"));
        assert!(!looks_like_iri("session123"));
    }
}
