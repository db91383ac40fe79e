//! No input makes the parser panic: arbitrary JSON, mutated fixtures, truncated and random
//! bytes. Every input ends up accepted or rejected, never lost: each top-level item is
//! accounted for.

use ltiscope_ingest::{Context, ToolResolver, parse_document};
use proptest::prelude::*;
use serde_json::{Value, json};

const FIXTURES: &[&[u8]] = &[
    include_bytes!("data/blackboard/lti-event-loggedin.json"),
    include_bytes!("data/blackboard/envelope-lti-launch-and-return.constructed.json"),
    include_bytes!("data/blackboard/bb-caliper-v1p0-envelope-LTIEvent-LTILaunch.json"),
    include_bytes!("data/brightspace/lti-launch-lti13.constructed.json"),
    include_bytes!("data/brightspace/lti-launch-lti11-impersonated.constructed.json"),
    include_bytes!("data/caliper/v1p2/caliperEventToolLaunchLaunched.json"),
    include_bytes!("data/caliper/v1p2/caliperEventToolUseUsedWithProgress.json"),
    include_bytes!("data/caliper/v1p2/caliperEnvelopeMixedBatch.json"),
];

fn parse(bytes: &[u8]) -> ltiscope_ingest::Batch {
    let tools = ToolResolver::default();
    let ctx = Context {
        received_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("valid"),
        source: None,
        tools: &tools,
    };
    parse_document(bytes, &ctx)
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(|f| json!(f)),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,30}".prop_map(Value::String),
        prop::sample::select(vec![
            "LTIEvent",
            "ToolLaunchEvent",
            "ToolUseEvent",
            "SessionEvent",
            "Launched",
            "LoggedIn",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00+0000",
            "urn:uuid:x",
            "https://a.b/v1/sites/s/users/u",
            "https://api.brightspace.com/xapi/verbs/launched",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "type",
                    "@type",
                    "id",
                    "@id",
                    "action",
                    "actor",
                    "object",
                    "eventTime",
                    "data",
                    "sensor",
                    "verb",
                    "timestamp",
                    "context",
                    "extensions",
                    "launchParameters",
                    "federatedSession",
                    "messageParameters",
                    "group",
                    "membership",
                    "generated",
                    "target",
                    "referrer",
                    "session",
                    "edApp",
                    "roles",
                    "launchUrl",
                    "x",
                ]),
                inner,
                0..8,
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// Replaces the value at a pseudo-random place in `v` with `with`.
fn mutate(v: &mut Value, path: &[usize], with: Value) {
    let mut target = v;
    for i in path {
        let len = match &*target {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        if len == 0 {
            break;
        }
        target = match target {
            Value::Object(m) => m.values_mut().nth(i % len).expect("in range"),
            Value::Array(a) => &mut a[i % len],
            other => other,
        };
    }
    *target = with;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        let text = v.to_string();
        let batch = parse(text.as_bytes());
        // Something is always accounted for, except an empty array or an envelope with
        // nothing in its data.
        let envelope = |m: &serde_json::Map<String, Value>| m.contains_key("data")
            && ["sensor", "sendTime", "dataVersion"].iter().any(|k| m.contains_key(*k));
        let expect_some = match &v {
            Value::Array(a) => !a.is_empty(),
            Value::Object(m) if envelope(m) => !matches!(m.get("data"), Some(Value::Array(d)) if d.is_empty()),
            _ => true,
        };
        if expect_some {
            prop_assert!(batch.events.len() + batch.rejected.len() >= 1, "{}", text);
        }
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0..FIXTURES.len(),
        path in prop::collection::vec(any::<usize>(), 0..6),
        with in arb_json(),
    ) {
        let mut v: Value = serde_json::from_slice(FIXTURES[which]).expect("fixture is JSON");
        mutate(&mut v, &path, with);
        let _ = parse(v.to_string().as_bytes());
    }

    #[test]
    fn truncated_fixtures_are_rejected_not_panicking(which in 0..FIXTURES.len(), cut in any::<prop::sample::Index>()) {
        let bytes = FIXTURES[which];
        let n = cut.index(bytes.len());
        let batch = parse(&bytes[..n]);
        if n < bytes.len() && !bytes[n..].iter().all(u8::is_ascii_whitespace) {
            // A cut document is never silently accepted as complete.
            prop_assert!(!batch.rejected.is_empty() || bytes[..n].iter().all(u8::is_ascii_whitespace));
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
    }
}

#[test]
fn deep_nesting_is_rejected_not_overflowing() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let batch = parse(deep.as_bytes());
    assert_eq!(batch.rejected.len(), 1);
    assert_eq!(batch.rejected[0].reason.code(), "not_json");
}
