//! The JSON tree every body is parsed into: [`Json`], whose objects ([`Map`]) keep their
//! members in a vector, in the order they were sent.
//!
//! serde_json's `Value` keeps an object in a `BTreeMap`: each member parsed is a search of the
//! tree (byte comparisons of keys that share long prefixes: `tool_consumer_info_…`,
//! `https://purl.imsglobal.org/spec/lti/claim/…`) and an insertion that moves its node's
//! entries, and each node is an allocation. Building those maps was half the instructions of
//! parsing a Blackboard launch, and parsing a third of the whole parse side (callgrind,
//! `ltiscope-redact/examples/prepare_cost`; BENCHMARKS.md, "The parse into our own tree").
//! Here a member is appended to a vector. Reading a member scans the vector, comparing lengths
//! first: an event's objects are small, and each is read a few times.
//!
//! The text is still parsed by serde_json (its errors, its depth limit, its numbers), into this
//! tree instead of its own. A key sent twice keeps its first place and its last value (the
//! value serde_json keeps), so a member is read the same whichever tree holds it.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::fmt;

use serde_json::Number;

/// A JSON value. Objects keep their members in the order sent.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Json {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json reads and writes it.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object.
    Object(Map),
}

/// A JSON object's members, in the order sent, each key once. Two maps are equal when they
/// have the same members, in whatever order (as JSON objects are).
#[derive(Debug, Clone, Default)]
pub struct Map(Vec<(String, Json)>);

impl PartialEq for Map {
    /// Pairwise for small maps; through a hash map of the other's members beyond
    /// [`PAIRWISE`], so that comparing two huge objects (a scrubbed JSON string with its
    /// original) costs time in proportion to their size.
    fn eq(&self, other: &Map) -> bool {
        if self.len() != other.len() {
            return false;
        }
        if self.len() <= PAIRWISE {
            return self.iter().all(|(k, v)| other.get(k) == Some(v));
        }
        let theirs: std::collections::HashMap<&str, &Json> =
            other.iter().map(|(k, v)| (k.as_str(), v)).collect();
        self.iter()
            .all(|(k, v)| theirs.get(k.as_str()).is_some_and(|w| *w == v))
    }
}

static NULL: Json = Json::Null;

impl Map {
    /// An empty object.
    pub fn new() -> Self {
        Map(Vec::new())
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no member.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == key)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.position(key).map(|i| &self.0[i].1)
    }

    /// The value of `key`, to change.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        self.position(key).map(|i| &mut self.0[i].1)
    }

    /// Whether `key` is a member.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key` to `value`: in its place when it is a member, else last. Returns the value
    /// it had.
    pub fn insert(&mut self, key: String, value: Json) -> Option<Json> {
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Json> {
        let i = self.position(key)?;
        Some(self.0.remove(i).1)
    }

    /// Keeps the members `keep` says yes to, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut Json) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v));
    }

    /// The members, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &Json)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    /// The values, in order, to change.
    pub fn values_mut(&mut self) -> impl ExactSizeIterator<Item = &mut Json> {
        self.0.iter_mut().map(|(_, v)| v)
    }
}

impl FromIterator<(String, Json)> for Map {
    /// A key given twice keeps its first place and last value, as when parsed.
    fn from_iter<I: IntoIterator<Item = (String, Json)>>(members: I) -> Self {
        Map(each_key_once(members.into_iter().collect()))
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a String, &'a Json);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Json)>,
        fn(&'a (String, Json)) -> (&'a String, &'a Json),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl Json {
    /// The value of `key` of an object; `None` for a non-member and for anything not an
    /// object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(map) => map.get(key),
            _ => None,
        }
    }

    /// The value of `key` of an object, to change.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        match self {
            Json::Object(map) => map.get_mut(key),
            _ => None,
        }
    }

    /// The value at a JSON Pointer (RFC 6901: `/object/definition/type`, `~1` for `/`, `~0`
    /// for `~`, array items by index); `""` is the value itself.
    pub fn pointer(&self, pointer: &str) -> Option<&Json> {
        if pointer.is_empty() {
            return Some(self);
        }
        let rest = pointer.strip_prefix('/')?;
        rest.split('/').try_fold(self, |at, token| {
            let token = token.replace("~1", "/").replace("~0", "~");
            match at {
                Json::Object(map) => map.get(&token),
                Json::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            }
        })
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number as an `f64`, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    /// The object's members, if this is one.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Json::Object(map) => Some(map),
            _ => None,
        }
    }

    /// The array's items, if this is one.
    pub fn as_array(&self) -> Option<&Vec<Json>> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// Whether this is an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    /// The value, leaving `null` in its place.
    pub fn take(&mut self) -> Json {
        std::mem::take(self)
    }
}

/// `value["key"]`: the member, or `null` for a non-member and for anything not an object.
impl std::ops::Index<&str> for Json {
    type Output = Json;
    fn index(&self, key: &str) -> &Json {
        self.get(key).unwrap_or(&NULL)
    }
}

/// `value[i]`: the item, or `null` past the end and for anything not an array.
impl std::ops::Index<usize> for Json {
    type Output = Json;
    fn index(&self, i: usize) -> &Json {
        self.as_array()
            .and_then(|items| items.get(i))
            .unwrap_or(&NULL)
    }
}

impl From<i64> for Json {
    fn from(n: i64) -> Self {
        Json::Number(n.into())
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Self {
        Json::String(s.to_owned())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Self {
        Json::String(s)
    }
}

/// serde_json's value as this tree: its objects' members in its (sorted) order. For values
/// made with `serde_json::json!` (the generator, tests).
impl From<serde_json::Value> for Json {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(b) => Json::Bool(b),
            serde_json::Value::Number(n) => Json::Number(n),
            serde_json::Value::String(s) => Json::String(s),
            serde_json::Value::Array(items) => {
                Json::Array(items.into_iter().map(Json::from).collect())
            }
            serde_json::Value::Object(map) => Json::Object(Map(map
                .into_iter()
                .map(|(k, v)| (k, Json::from(v)))
                .collect())),
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json, E> {
        Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        Deserialize::deserialize(d)
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Json, A::Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        while let Some(key) = access.next_key::<String>()? {
            members.push((key, access.next_value()?));
        }
        Ok(Json::Object(Map(each_key_once(members))))
    }
}

/// Members of at most this many are checked for a repeated key pair by pair; more, through a
/// hash set, so that a body of one huge object costs time in proportion to its size.
const PAIRWISE: usize = 64;

/// `members` with each key once: a key sent twice keeps its first place and its last value (as
/// serde_json reads it). Nearly every object has no repeated key, and is returned as it is.
fn each_key_once(members: Vec<(String, Json)>) -> Vec<(String, Json)> {
    let repeated = if members.len() <= PAIRWISE {
        (1..members.len()).any(|i| members[..i].iter().any(|(k, _)| *k == members[i].0))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(members.len());
        !members.iter().all(|(k, _)| seen.insert(k.as_str()))
    };
    if !repeated {
        return members;
    }
    let mut place: std::collections::HashMap<String, usize> =
        std::collections::HashMap::with_capacity(members.len());
    let mut once: Vec<(String, Json)> = Vec::with_capacity(members.len());
    for (k, v) in members {
        match place.get(k.as_str()) {
            Some(&i) => once[i].1 = v,
            None => {
                place.insert(k.clone(), once.len());
                once.push((k, v));
            }
        }
    }
    once
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(t) => s.serialize_str(t),
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(map) => {
                let mut out = s.serialize_map(Some(map.len()))?;
                for (k, v) in map.iter() {
                    out.serialize_entry(k, v)?;
                }
                out.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Json {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn members_keep_their_order_and_a_repeated_key_its_first_place_and_last_value() {
        let v = parse(r#"{"b": 1, "a": {"z": null, "y": [true]}, "b": "two", "c": 1.5}"#);
        let keys: Vec<&String> = v
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["b", "a", "c"]);
        assert_eq!(v["b"].as_str(), Some("two"));
        assert_eq!(v["a"]["y"], Json::Array(vec![Json::Bool(true)]));
        assert!(v["missing"].is_null() && v["b"]["x"].is_null());
        assert_eq!(v["c"].as_f64(), Some(1.5));
    }

    #[test]
    fn the_tree_reads_what_serde_json_reads() {
        let text = r#"{"é€😀": [1, -2, 18446744073709551615, -2.5e3, "\ud83d\ude00\n"], "k": {"d": null, "e": false}}"#;
        let ours = parse(text);
        let theirs: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(ours, Json::from(theirs.clone()));
        assert_ne!(ours, parse(r#"{"k": {"d": null, "e": true}, "é€😀": []}"#));
        // Written back in the order sent (as serde_json serialises it too), read as the same.
        let text = crate::json_text(&ours);
        assert!(text.starts_with(r#"{"é€😀":[1,-2,18446744073709551615,-2500.0,"😀\n"],"#));
        assert_eq!(serde_json::to_string(&ours).ok().as_ref(), Some(&text));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).ok(),
            Some(theirs)
        );
    }

    #[test]
    fn a_repeated_key_in_a_large_object_keeps_its_first_place_and_last_value() {
        let members: Vec<String> = (0..200).map(|i| format!("\"k{i}\": {i}")).collect();
        let text = format!("{{{}, \"k7\": \"last\"}}", members.join(", "));
        let v = parse(&text);
        let map = v.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>());
        assert_eq!(map.as_ref().map(Vec::len), Some(200));
        assert_eq!(map.as_ref().map(|k| k[7].as_str()), Some("k7"));
        assert_eq!(v["k7"].as_str(), Some("last"));
        assert_eq!(v["k199"], Json::from(199));
        // Equal in another order, unequal with one member changed, both past `PAIRWISE`.
        let mut reversed: Vec<String> = (0..200).rev().map(|i| format!("\"k{i}\": {i}")).collect();
        reversed[192] = "\"k7\": \"last\"".to_owned();
        let again = parse(&format!("{{{}}}", reversed.join(", ")));
        assert_eq!(again, v);
        reversed[0] = "\"k199\": 0".to_owned();
        assert_ne!(parse(&format!("{{{}}}", reversed.join(", "))), v);
    }

    #[test]
    fn members_are_set_removed_and_kept() {
        let mut map = Map::new();
        assert_eq!(map.insert("x".into(), 1.into()), None);
        map.insert("y".into(), "y".into());
        assert_eq!(map.insert("x".into(), 2.into()), Some(1.into()));
        assert_eq!(map.keys().collect::<Vec<_>>(), ["x", "y"]);
        map.retain(|k, _| k != "x");
        assert!(!map.contains_key("x") && map.len() == 1);
        assert_eq!(map.remove("y"), Some("y".into()));
        assert!(map.is_empty());
    }
}
