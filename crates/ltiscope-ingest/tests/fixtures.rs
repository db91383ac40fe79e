//! Every fixture in `tests/data` (copied from the shared fixture set; see `SOURCES.md` there)
//! goes through the real parser. Valid files produce canonical records checked by snapshot;
//! each file in `caliper/v1p2/invalid/` must be quarantined with its specific reason.

use ltiscope_ingest::{Batch, Context, EventKind, ToolResolver, parse_document};
use ltiscope_model::Source;
use std::fmt::Write;
use std::path::{Path, PathBuf};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn parse_file(path: &Path) -> Batch {
    parse_file_from(path, None)
}

/// A fixture parsed as given as from `source` (`import --source`, the Brightspace endpoint).
fn parse_file_from(path: &Path, source: Option<Source>) -> Batch {
    let bytes = std::fs::read(path).expect("fixture readable");
    let tools = ToolResolver::default();
    let ctx = Context {
        received_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("valid"),
        source,
        tools: &tools,
    };
    parse_document(&bytes, &ctx)
}

/// A stable, readable rendering of a batch: what the snapshot reviewer checks.
fn render(batch: &Batch) -> String {
    let mut out = String::new();
    for e in &batch.events {
        let m = e.meta();
        let kind = match &e.kind {
            EventKind::Launch(_) => "launch-record",
            EventKind::Other(_) => "other-event",
            EventKind::Entity(_) => "entity",
        };
        writeln!(
            out,
            "{kind}: source={} tenant={} id={} type={} action={} time={}",
            m.source,
            m.tenant,
            m.event_id,
            m.event_type,
            m.raw_action,
            m.event_time.to_rfc3339()
        )
        .ok();
        if let EventKind::Launch(r) = &e.kind {
            writeln!(out, "  action: {}", r.action.as_str()).ok();
            writeln!(out, "  user: {:?}", r.user).ok();
            writeln!(
                out,
                "  roles: bucket={} test_user={} raw={:?}",
                r.roles.bucket.as_str(),
                r.roles.test_user,
                r.roles.raw
            )
            .ok();
            writeln!(out, "  impersonator: {:?}", r.impersonator).ok();
            writeln!(out, "  course: {:?}", r.course).ok();
            writeln!(out, "  tool: {:?}", r.tool).ok();
            writeln!(
                out,
                "  tool_identity: {} ({}) by {}",
                r.tool_identity.id,
                r.tool_identity.name,
                r.tool_identity.matched_by.as_str()
            )
            .ok();
            writeln!(
                out,
                "  lti: version={:?} message_type={:?} resource_link={:?}",
                r.lti_version.map(|v| v.as_str()),
                r.message_type,
                r.resource_link_id
            )
            .ok();
            writeln!(
                out,
                "  launch_id={:?} session={:?} locale={:?} metrics={:?}",
                r.launch_id, r.session_id, r.locale, r.metrics
            )
            .ok();
        }
    }
    for r in &batch.rejected {
        writeln!(
            out,
            "rejected[{}]: {} — {}",
            r.index,
            r.reason.code(),
            r.reason
        )
        .ok();
    }
    out
}

fn valid_fixtures() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["blackboard", "brightspace", "caliper/v1p2"] {
        for entry in std::fs::read_dir(data_dir().join(dir)).expect("fixture dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_valid_fixture_is_accepted_and_snapshotted() {
    let files = valid_fixtures();
    assert!(files.len() >= 40, "fixtures missing: {}", files.len());
    for path in files {
        let batch = parse_file(&path);
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_owned();
        assert!(
            batch.rejected.is_empty(),
            "{name}: valid fixture rejected: {}",
            render(&batch)
        );
        assert!(!batch.events.is_empty(), "{name}: nothing parsed");
        insta::assert_snapshot!(name, render(&batch));
    }
}

/// Every event of every valid fixture derives again from its kept original alone (what
/// `ltiscope rederive` parses), held to its source: the same canonical record, and the same
/// original. An event whose tenant came from its envelope's sensor keeps the sensor with it.
#[test]
fn every_event_derives_again_from_its_kept_original() {
    let tools = ToolResolver::default();
    let mut from_sensor = 0;
    for path in valid_fixtures() {
        for e in parse_file(&path).events {
            let ctx = Context {
                received_at: e.meta().received_at,
                source: Some(e.meta().source),
                tools: &tools,
            };
            let text = ltiscope_ingest::json_text(&e.original);
            let again = parse_document(text.as_bytes(), &ctx);
            let name = path.display();
            assert!(again.rejected.is_empty(), "{name}: {:?}", again.rejected);
            assert_eq!(again.events.len(), 1, "{name}: one event from one original");
            assert_eq!(again.events[0].kind, e.kind, "{name}: another record");
            assert_eq!(
                again.events[0].original, e.original,
                "{name}: another original"
            );
            from_sensor += usize::from(e.original.get("sensor").is_some());
        }
    }
    assert!(
        from_sensor > 0,
        "no fixture event takes its tenant from the sensor"
    );
}

#[test]
fn every_invalid_caliper_fixture_is_quarantined_with_its_reason() {
    // (file, reason code, words the message must contain)
    let expected = [
        (
            "caliperEntityCourseOffering-MalformedAcademicSessionNotAnInt",
            "invalid_field",
            "academicSession",
        ),
        (
            "caliperEntityLtiSession-MalformedMessageParametersNotAList",
            "invalid_field",
            "messageParameters",
        ),
        (
            "caliperEntitySession-MalformedDurationNotValidDuration",
            "invalid_field",
            "duration",
        ),
        (
            "caliperEntitySession-MalformedStartedAtTimeNotADateTime",
            "invalid_timestamp",
            "startedAtTime",
        ),
        (
            "caliperEvent-MalformedFederatedSessionNotAString",
            "invalid_field",
            "federatedSession",
        ),
        (
            "caliperEvent-MalformedSessionNotAString",
            "invalid_field",
            "`session`",
        ),
        (
            "caliperEventSession-WrongAction",
            "unsupported_action",
            "Deleted",
        ),
        (
            "caliperEventSessionLoggedIn-MalformedReferrerWrongEntityType",
            "wrong_entity_type",
            "referrer",
        ),
        (
            "caliperEventSessionTimedOut-MalformedObjectWrongEntityType",
            "wrong_entity_type",
            "object",
        ),
        (
            "caliperEventToolLaunch-MalformedObjectWrongEntityType",
            "wrong_entity_type",
            "object",
        ),
        (
            "caliperEventToolLaunch-WrongAction",
            "unsupported_action",
            "Deleted",
        ),
        (
            "caliperEventToolUse-MalformedGeneratedWrongEntityType",
            "wrong_entity_type",
            "generated",
        ),
        (
            "caliperEventToolUse-MalformedTargetWrongEntityType",
            "wrong_entity_type",
            "target",
        ),
    ];
    let dir = data_dir().join("caliper/v1p2/invalid");
    let on_disk = std::fs::read_dir(&dir).expect("invalid dir").count();
    assert_eq!(
        on_disk,
        expected.len(),
        "every invalid fixture needs an expectation"
    );
    for (file, code, words) in expected {
        let batch = parse_file(&dir.join(format!("{file}.json")));
        assert!(
            batch.events.is_empty(),
            "{file}: accepted {:?}",
            render(&batch)
        );
        assert_eq!(batch.rejected.len(), 1, "{file}");
        let reason = &batch.rejected[0].reason;
        assert_eq!(reason.code(), code, "{file}: {reason}");
        assert!(reason.to_string().contains(words), "{file}: {reason}");
    }
}

#[test]
fn blackboard_launch_and_return_pair_by_launch_id() {
    let batch =
        parse_file(&data_dir().join("blackboard/envelope-lti-launch-and-return.constructed.json"));
    let records: Vec<_> = batch
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Launch(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].action.as_str(), "launch");
    assert_eq!(records[1].action.as_str(), "return");
    assert_eq!(
        records[0].launch_id.as_deref(),
        Some("d0b8a363-7484-4ee6-b458-0f0e0ce5f05f")
    );
    assert_eq!(records[0].launch_id, records[1].launch_id);
    assert_eq!(records[0].meta.source, Source::BlackboardCaliper);
    assert_eq!(
        records[0].meta.tenant,
        "a118bba8-5378-4533-899b-8862ac59db03"
    );
}

/// Regression: a source given for the input labelled whatever it held, so a Blackboard
/// envelope imported with `--source brightspace-bds` was counted as Brightspace, and stored a
/// second time when imported again without it. A given source names the sender of its own
/// format only; the other format is quarantined whole, saying why.
#[test]
fn a_given_source_labels_its_own_format_and_quarantines_the_other() {
    let dir = data_dir();
    let envelope = dir.join("blackboard/envelope-lti-launch-and-return.constructed.json");
    let statement = dir.join("brightspace/lti-launch-lti13.constructed.json");
    let event = dir.join("caliper/v1p2/caliperEventToolLaunchReturned.json");
    for (file, given, found) in [
        (&envelope, Source::BrightspaceBds, "a Caliper envelope"),
        (&envelope, Source::Xapi, "a Caliper envelope"),
        (&statement, Source::BlackboardCaliper, "an xAPI statement"),
        (&statement, Source::Caliper, "an xAPI statement"),
        (&event, Source::BrightspaceBds, "a Caliper event or entity"),
    ] {
        let batch = parse_file_from(file, Some(given));
        assert!(batch.events.is_empty(), "{file:?} as {given}");
        assert_eq!(batch.rejected.len(), 1, "{file:?} as {given}");
        let reason = &batch.rejected[0].reason;
        assert_eq!(reason.code(), "source_mismatch");
        let said = reason.to_string();
        assert!(
            said.starts_with(found) && said.contains(given.as_str()) && said.contains("--source"),
            "{said}"
        );
    }
    // Within its format, the given source is the label.
    for (file, given, stored) in [
        (&envelope, Source::Caliper, 2),
        (&event, Source::BlackboardCaliper, 1),
        (&statement, Source::Xapi, 1),
    ] {
        let batch = parse_file_from(file, Some(given));
        assert!(batch.rejected.is_empty(), "{file:?} as {given}");
        assert_eq!(batch.events.len(), stored, "{file:?} as {given}");
        assert!(batch.events.iter().all(|e| e.meta().source == given));
    }
}
