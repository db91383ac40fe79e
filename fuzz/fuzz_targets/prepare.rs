//! The write path's pure half on any bytes: parse and normalise (as a document and as JSON
//! Lines, the source detected or forced), then redact under a policy. It must never panic, and
//! what it would store must hold no secret: every kept original is JSON without a
//! secret-named key (nor, under `minimise`, a PII-named one), no string in it or in a record's
//! launch URL keeps a secret parameter's value, a URL's credentials or a JWT, and a quarantined
//! text needs no second scrubbing. And what `ltiscope rederive` relies on: a kept original
//! derives again, held to its source and redacted alike, to the same record and original (or
//! to another identity, which a re-derive leaves as stored).

#![no_main]

use libfuzzer_sys::fuzz_target;
use ltiscope_ingest::{Context, EventKind, RejectedBody, ToolResolver, ToolRule};
use ltiscope_model::Source;
use ltiscope_redact::{PiiPolicy, PseudonymKey, Redactor, is_pii_key, is_secret_key};
use serde_json::Value;
use std::sync::LazyLock;

static TOOLS: LazyLock<ToolResolver> = LazyLock::new(|| {
    ToolResolver::new(vec![
        ToolRule {
            id: "rule-host".into(),
            name: "By host".into(),
            host: Some("*.example.com".into()),
            path: Some("/lti/*/launch".into()),
            ..ToolRule::default()
        },
        ToolRule {
            id: "rule-client".into(),
            name: "By client".into(),
            client_id: Some("1".into()),
            ..ToolRule::default()
        },
    ])
});

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let source = match selector % 5 {
        0 => None,
        1 => Some(Source::BlackboardCaliper),
        2 => Some(Source::BrightspaceBds),
        3 => Some(Source::Caliper),
        _ => Some(Source::Xapi),
    };
    let policy = match (selector / 5) % 3 {
        0 => PiiPolicy::Minimise,
        1 => PiiPolicy::Pseudonymise,
        _ => PiiPolicy::Keep,
    };
    let key = PseudonymKey::new(b"fuzzing-key-0123456789".to_vec()).expect("a valid key");
    let redactor = Redactor::new(policy, Some(key)).expect("a valid redactor");
    let ctx = Context {
        received_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("valid"),
        source,
        tools: &TOOLS,
    };
    let minimise = policy != PiiPolicy::Keep;

    let (mut events, mut rejected) = (Vec::new(), Vec::new());
    {
        let mut sink = redactor.sink(&mut events, &mut rejected);
        ltiscope_ingest::parse_document_into(body, &ctx, &mut sink);
        for (i, line) in body.split(|b| *b == b'\n').enumerate() {
            if !line.trim_ascii().is_empty() {
                ltiscope_ingest::parse_line(line, &ctx, &mut sink, i + 1);
            }
        }
    }
    for stored in events {
        let stored = stored.into_inner();
        let original: Value = serde_json::from_str(&stored.body).expect("a kept original is JSON");
        assert_clean(&original, minimise);
        assert_derives_again(&stored, &redactor, &ctx);
        if let EventKind::Launch(record) = &stored.kind
            && let Some(url) = &record.tool.launch_url
        {
            assert_no_secret_param(url);
            assert_no_jwt(url);
        }
    }
    for r in rejected {
        match &r.into_inner().body {
            // Checked as the text it is stored as, read by serde_json.
            RejectedBody::Json(v) => {
                let stored: Value = serde_json::from_str(&ltiscope_ingest::json_text(v))
                    .expect("a quarantined body is JSON");
                assert_clean(&stored, minimise);
            }
            // Text is scrubbed by pattern: a second pass must find nothing more to scrub,
            // else the first left something behind.
            RejectedBody::Text(t) => {
                assert_eq!(&redactor.text(t), t, "scrubbing the text again changes it")
            }
        }
    }
});

/// The kept original parses again (as the source it was stored as, at its receive time) into
/// one event which, redacted alike, has the same record and original; unless its identity
/// changes (a re-derive leaves those as stored). A content-made id is of the content as
/// received, so it may change.
fn assert_derives_again(
    first: &ltiscope_redact::StoredEvent,
    redactor: &Redactor,
    ctx: &Context<'_>,
) {
    let ctx = Context {
        source: Some(first.meta().source),
        received_at: first.meta().received_at,
        ..*ctx
    };
    let again = ltiscope_ingest::parse_document(first.body.as_bytes(), &ctx);
    assert!(
        again.rejected.is_empty(),
        "the kept original no longer parses: {:?}",
        again.rejected
    );
    assert_eq!(again.events.len(), 1, "one original, one event");
    let Some(e) = again.events.into_iter().next() else {
        return;
    };
    let mut second = redactor.event(e).into_inner();
    let (a, b) = (second.meta().clone(), first.meta());
    let content_ids =
        ltiscope_ingest::is_content_id(&a.event_id) && ltiscope_ingest::is_content_id(&b.event_id);
    if a.tenant != b.tenant
        || a.event_time != b.event_time
        || (a.event_id != b.event_id && !content_ids)
    {
        return;
    }
    match &mut second.kind {
        EventKind::Launch(r) => r.meta.event_id = b.event_id.clone(),
        EventKind::Other(m) | EventKind::Entity(m) => m.event_id = b.event_id.clone(),
    }
    assert_eq!(
        second.kind, first.kind,
        "the original derives to another record"
    );
    assert_eq!(
        second.body, first.body,
        "the original derives to another original"
    );
}

/// No secret-named key (nor, under `minimise`, PII-named key) at any depth, and no string
/// that keeps a secret.
fn assert_clean(v: &Value, minimise: bool) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                assert!(!is_secret_key(k), "secret key {k:?} kept");
                assert!(!(minimise && is_pii_key(k)), "PII key {k:?} kept");
                assert_clean(child, minimise);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| assert_clean(i, minimise)),
        Value::String(s) => {
            assert_no_secret_param(s);
            assert_no_jwt(s);
            // JSON sent as a string is held to the same rules.
            if s.starts_with(['{', '['])
                && let Ok(inner) = serde_json::from_str::<Value>(s)
            {
                assert_clean(&inner, minimise);
            }
        }
        _ => {}
    }
}

/// No JWT anywhere in the string: `eyJ`, ten or more base64url characters, a dot, one or
/// more, another dot.
fn assert_no_jwt(s: &str) {
    let b64 = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-');
    for (i, _) in s.match_indices("eyJ") {
        let rest = &s.as_bytes()[i + 3..];
        let head = rest.iter().take_while(|c| b64(c)).count();
        if head < 10 || rest.get(head) != Some(&b'.') {
            continue;
        }
        let body = rest[head + 1..].iter().take_while(|c| b64(c)).count();
        assert!(
            body == 0 || rest.get(head + 1 + body) != Some(&b'.'),
            "a JWT kept in {s:?}"
        );
    }
}

/// No `name=value` with a secret-named name and a value left, no URL with credentials.
fn assert_no_secret_param(s: &str) {
    for part in s.split(['?', '&', ';', '#', ' ', '"']) {
        if let Some((name, value)) = part.split_once('=') {
            let name = name.rsplit(['/', ':', '?']).next().unwrap_or(name);
            if is_secret_key(name) && !value.is_empty() {
                assert!(
                    value.starts_with("[redacted]"),
                    "secret parameter {name:?} kept in {s:?}"
                );
            }
        }
    }
    for (i, _) in s.match_indices("://") {
        let authority = s[i + 3..]
            .split(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>') || c.is_whitespace()
            })
            .next()
            .unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            assert_eq!(userinfo, "[redacted]", "credentials kept in {s:?}");
        }
    }
}
