//! PostgreSQL schema migrations, applied in order, each once, each in its own transaction,
//! under an advisory lock so that several processes starting together migrate once. Never
//! edit a shipped migration: add a new one.
//!
//! The same tables as the DuckDB schema, with three differences: `events`, `launches` and
//! their keys carry the tenant first (the distribution column on Citus), the two big tables are
//! partitioned by month of event time (partitions are created by the writer as events arrive;
//! retention drops whole months), and text columns use the "C" collation so that sorting
//! agrees with DuckDB and indexes compare bytes.

/// (version, name, SQL).
pub(super) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "events, launches, quarantine, ingest log, api keys",
        r#"
-- Idempotency: one row per stored event; the primary key decides which copy of a retried
-- batch is stored, across every collector process. Unpartitioned, so the key is unique
-- whatever time an event claims; event_time is kept for retention.
CREATE TABLE event_keys (
    tenant      TEXT COLLATE "C" NOT NULL,
    event_key   UUID NOT NULL,            -- hash of (source, tenant, event_id)
    event_time  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant, event_key)
);
CREATE INDEX event_keys_time ON event_keys (event_time);

CREATE TABLE events (
    event_key   UUID NOT NULL,
    source      TEXT COLLATE "C" NOT NULL,
    tenant      TEXT COLLATE "C" NOT NULL,
    event_id    TEXT COLLATE "C" NOT NULL,
    kind        TEXT COLLATE "C" NOT NULL,  -- launch | other | entity
    event_type  TEXT COLLATE "C" NOT NULL,
    action      TEXT COLLATE "C" NOT NULL,
    event_time  TIMESTAMP NOT NULL,         -- UTC
    received_at TIMESTAMP NOT NULL,         -- UTC
    body        TEXT NOT NULL               -- the scrubbed original, for replay
) PARTITION BY RANGE (event_time);
CREATE INDEX events_received ON events (received_at);

CREATE TABLE launches (
    event_key         UUID NOT NULL,
    source            TEXT COLLATE "C" NOT NULL,
    tenant            TEXT COLLATE "C" NOT NULL,
    event_id          TEXT COLLATE "C" NOT NULL,
    action            TEXT COLLATE "C" NOT NULL,   -- launch | return | use
    event_time        TIMESTAMP NOT NULL,
    received_at       TIMESTAMP NOT NULL,
    user_key          TEXT COLLATE "C",
    user_hash         BIGINT,
    user_platform_id  TEXT COLLATE "C",
    user_iri          TEXT COLLATE "C",
    user_external_id  TEXT COLLATE "C",
    role              TEXT COLLATE "C" NOT NULL,
    roles_raw         TEXT COLLATE "C" NOT NULL,
    test_user         BOOLEAN NOT NULL,
    impersonator      TEXT COLLATE "C",
    course_key        TEXT COLLATE "C",
    course_hash       BIGINT,
    course_platform_id TEXT COLLATE "C",
    course_iri        TEXT COLLATE "C",
    course_label      TEXT COLLATE "C",
    course_title      TEXT COLLATE "C",
    course_number     TEXT COLLATE "C",
    org_unit_type     TEXT COLLATE "C",
    tool_id           TEXT COLLATE "C" NOT NULL,
    tool_name         TEXT COLLATE "C" NOT NULL,
    tool_match        TEXT COLLATE "C" NOT NULL,
    launch_url        TEXT COLLATE "C",
    launch_host       TEXT COLLATE "C",
    consumer_key      TEXT COLLATE "C",
    client_id         TEXT COLLATE "C",
    deployment_id     TEXT COLLATE "C",
    tool_provider_id  TEXT COLLATE "C",
    lti_version       TEXT COLLATE "C",
    message_type      TEXT COLLATE "C",
    resource_link_id  TEXT COLLATE "C",
    launch_id         TEXT COLLATE "C",
    session_id        TEXT COLLATE "C",
    locale            TEXT COLLATE "C",
    metrics           TEXT,
    visit_key         BIGINT
) PARTITION BY RANGE (event_time);
CREATE INDEX launches_time ON launches (event_time) WHERE action = 'launch';
CREATE INDEX launches_tool ON launches (tool_id, event_time);
CREATE INDEX launches_course ON launches (course_key, event_time);
CREATE INDEX launches_returns ON launches (tenant, launch_id) WHERE action = 'return';
CREATE INDEX launches_user ON launches (user_key);

CREATE TABLE quarantine (
    id          BIGSERIAL PRIMARY KEY,
    received_at TIMESTAMP NOT NULL,
    source      TEXT COLLATE "C",
    origin      TEXT NOT NULL,
    item_index  BIGINT NOT NULL,
    reason_code TEXT COLLATE "C" NOT NULL,
    reason      TEXT NOT NULL,
    body        TEXT NOT NULL,          -- scrubbed
    replayed_at TIMESTAMP
);
CREATE INDEX quarantine_received ON quarantine (received_at);

CREATE TABLE ingest_log (
    received_at TIMESTAMP NOT NULL,
    origin      TEXT NOT NULL,
    source      TEXT COLLATE "C" NOT NULL,
    launches    BIGINT NOT NULL,
    non_lti     BIGINT NOT NULL,
    duplicates  BIGINT NOT NULL
);
CREATE INDEX ingest_log_received ON ingest_log (received_at);

CREATE TABLE api_keys (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL,          -- ingest:<source>|ingest:any|read|admin
    key_hash    TEXT NOT NULL,          -- hex SHA-256 of the key; the key itself is never stored
    key_prefix  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);
"#,
    ),
    (
        2,
        "rollups",
        r#"
-- Rollups (see rollup/mod.rs), as in the DuckDB schema. Marks are written by every
-- collector in its write transaction; refreshes run one at a time under an advisory lock.
CREATE TABLE rollup_marks (
    id     BIGSERIAL PRIMARY KEY,
    tenant TEXT COLLATE "C" NOT NULL,
    hour   TIMESTAMP NOT NULL,
    kind   TEXT COLLATE "C" NOT NULL
);
CREATE TABLE rollup_state (
    timezone          TEXT NOT NULL,
    visit_window_secs BIGINT NOT NULL,
    time_cap_secs     BIGINT NOT NULL
);
INSERT INTO rollup_state VALUES ('UTC', 600, 14400);
CREATE TABLE rollup_users (user_hash BIGINT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE rollup_courses (course_hash BIGINT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE rollup_days (
    tenant     TEXT COLLATE "C" NOT NULL,
    day        DATE NOT NULL,
    source     TEXT COLLATE "C" NOT NULL,
    tool_id    TEXT COLLATE "C" NOT NULL,
    tool_name  TEXT COLLATE "C" NOT NULL,
    role       TEXT COLLATE "C" NOT NULL,
    test_user  BOOLEAN NOT NULL,
    launches   BIGINT NOT NULL,
    visits     BIGINT NOT NULL,
    first_us   BIGINT NOT NULL,
    last_us    BIGINT NOT NULL,
    users      BYTEA NOT NULL,
    courses    BYTEA NOT NULL,
    paired_ms  BYTEA NOT NULL
);
CREATE INDEX rollup_days_day ON rollup_days (day, tenant);
INSERT INTO rollup_marks (tenant, hour, kind)
SELECT DISTINCT tenant, date_trunc('hour', event_time), action FROM launches
WHERE action IN ('launch', 'return');
"#,
    ),
    (
        3,
        "rollup tool days and facets",
        r#"
-- As in the DuckDB schema: the sets of rollup_days merged over roles and sources, and the
-- launches per rollup day and facet value for the one-tool report.
CREATE TABLE rollup_tool_days (
    tenant     TEXT COLLATE "C" NOT NULL,
    day        DATE NOT NULL,
    tool_id    TEXT COLLATE "C" NOT NULL,
    test_user  BOOLEAN NOT NULL,
    users      BYTEA NOT NULL,
    courses    BYTEA NOT NULL,
    paired_ms  BYTEA NOT NULL
);
CREATE INDEX rollup_tool_days_day ON rollup_tool_days (day, tenant);
CREATE TABLE rollup_facets (
    tenant     TEXT COLLATE "C" NOT NULL,
    day        DATE NOT NULL,
    source     TEXT COLLATE "C" NOT NULL,
    tool_id    TEXT COLLATE "C" NOT NULL,
    tool_name  TEXT COLLATE "C" NOT NULL,
    role       TEXT COLLATE "C" NOT NULL,
    test_user  BOOLEAN NOT NULL,
    facet      TEXT COLLATE "C" NOT NULL,
    value      TEXT COLLATE "C" NOT NULL,
    launches   BIGINT NOT NULL,
    first_us   BIGINT NOT NULL,
    last_us    BIGINT NOT NULL,
    users      BYTEA NOT NULL,
    courses    BYTEA NOT NULL
);
CREATE INDEX rollup_facets_tool ON rollup_facets (tool_id, facet, day);
DELETE FROM rollup_days;
INSERT INTO rollup_marks (tenant, hour, kind)
SELECT DISTINCT tenant, date_trunc('hour', event_time), action FROM launches
WHERE action IN ('launch', 'return');
"#,
    ),
    (
        4,
        "freshness indexes",
        r#"
-- The overview's freshness per source (latest event, latest receipt, events of the last day)
-- as index lookups instead of a scan of every event.
CREATE INDEX events_source_time ON events (source, event_time);
CREATE INDEX events_source_received ON events (source, received_at);
"#,
    ),
    (
        5,
        "rollup course names",
        r#"
-- As in the DuckDB schema: each numbered course keeps its tenant, key and label.
ALTER TABLE rollup_courses ADD COLUMN tenant TEXT COLLATE "C";
ALTER TABLE rollup_courses ADD COLUMN course_key TEXT COLLATE "C";
ALTER TABLE rollup_courses ADD COLUMN label TEXT COLLATE "C";
UPDATE rollup_courses SET tenant = x.tenant, course_key = x.course_key, label = x.label
FROM (SELECT course_hash, min(tenant) AS tenant, min(course_key) AS course_key,
             coalesce(min(course_label), min(course_title)) AS label
      FROM launches WHERE action = 'launch' AND course_hash IS NOT NULL
      GROUP BY course_hash) x
WHERE rollup_courses.course_hash = x.course_hash;
"#,
    ),
    (
        6,
        "covering tool index",
        r#"
-- The one-tool report counts a tool's launches per course from the launch records: with the
-- numbers it reads in the index, PostgreSQL scans the index alone instead of fetching every
-- launch of the tool from the heap (the top courses of a median tool at 10M launches: 3.0 s ->
-- 0.14 s). It replaces the plain (tool_id, event_time) index, which it covers.
CREATE INDEX launches_tool_cover ON launches (tool_id, event_time)
    INCLUDE (action, test_user, course_hash, user_hash, role);
DROP INDEX launches_tool;
"#,
    ),
    (
        7,
        "time in tool over the cap",
        r#"
-- The launches of each rollup row whose first return came after the cap but within twice it,
-- so the time-in-tool report is answered from rollups too. Rebuilt by the next refresh.
ALTER TABLE rollup_days ADD COLUMN over_cap BIGINT NOT NULL DEFAULT 0;
DELETE FROM rollup_days;
DELETE FROM rollup_tool_days;
DELETE FROM rollup_facets;
INSERT INTO rollup_marks (tenant, hour, kind)
SELECT DISTINCT tenant, date_trunc('hour', event_time), action FROM launches
WHERE action IN ('launch', 'return');
"#,
    ),
    (
        8,
        "course rollup",
        r#"
-- As in the DuckDB schema: the courses report's rollup (rollup/courses.rs), one row per
-- tenant, local month, course and test-user flag (for all tools, and per tool in the second
-- table): the month's summary and an entry per local day. Tools by dense number. Built by the
-- next refresh, which recomputes every day that has launch records.
CREATE TABLE rollup_tools (tool_id TEXT COLLATE "C" PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE rollup_course_months (
    tenant    TEXT COLLATE "C" NOT NULL,
    month     DATE NOT NULL,
    course_no BIGINT NOT NULL,
    test_user BOOLEAN NOT NULL,
    summary   BYTEA NOT NULL,
    days      BYTEA NOT NULL
);
CREATE TABLE rollup_course_tool_months (
    tenant    TEXT COLLATE "C" NOT NULL,
    month     DATE NOT NULL,
    tool_id   TEXT COLLATE "C" NOT NULL,
    course_no BIGINT NOT NULL,
    test_user BOOLEAN NOT NULL,
    summary   BYTEA NOT NULL,
    days      BYTEA NOT NULL
);
-- The refresh rewrites a month's rows course by course; the one-tool report reads a tool's
-- rows of a few months.
CREATE INDEX rollup_course_months_course ON rollup_course_months (tenant, month, course_no);
CREATE INDEX rollup_course_tool_months_course
    ON rollup_course_tool_months (tenant, month, course_no);
CREATE INDEX rollup_course_tool_months_tool ON rollup_course_tool_months (tool_id, month);
INSERT INTO rollup_marks (tenant, hour, kind)
SELECT DISTINCT tenant, date_trunc('hour', event_time), action FROM launches
WHERE action IN ('launch', 'return');
"#,
    ),
    (
        9,
        "quarantined items stored once",
        r#"
-- A quarantined item is stored once, by its key (crate::keys::quarantine_key, computed here
-- in SQL for the stored items); of their copies, the first received stays.
ALTER TABLE quarantine ADD COLUMN item_key TEXT COLLATE "C";
UPDATE quarantine SET item_key = encode(sha256(convert_to(
    origin || chr(31) || item_index::text || chr(31) || body, 'UTF8')), 'hex');
DELETE FROM quarantine q USING quarantine first
WHERE q.item_key = first.item_key AND q.id > first.id;
ALTER TABLE quarantine ALTER COLUMN item_key SET NOT NULL;
CREATE UNIQUE INDEX quarantine_item ON quarantine (item_key);
"#,
    ),
    (
        10,
        "tool names follow the rules",
        r#"
-- The fingerprint of the tool rules and catalogue that named the stored launch records
-- (crate::naming); none yet, so the first writer to open the database names them again.
CREATE TABLE tool_naming (fingerprint TEXT NOT NULL);
-- The combinations of identifiers whose records are being renamed: filled and emptied within
-- one transaction. The columns are those of `launches`, their types too: the identifiers,
-- the stored name, the new name.
CREATE TABLE tool_renames AS
SELECT launch_url, launch_host, consumer_key, client_id, deployment_id, tool_provider_id,
       tool_id, tool_name, tool_match,
       tool_id AS new_id, tool_name AS new_name, tool_match AS new_match
FROM launches WITH NO DATA;
"#,
    ),
    (
        11,
        "derivation fingerprint",
        r#"
-- The fingerprint of the parser and redaction that derived the stored events (crate::derivation);
-- none in a database that already holds events: an earlier ltiscope derived them.
CREATE TABLE derivation (fingerprint TEXT NOT NULL);
"#,
    ),
    (
        12,
        "user and course keys derived, not stored",
        r#"
-- `user_key` and `course_key` are what `UserRef::key` and `CourseRef::key` derive from the
-- identifiers beside them: the database now derives them itself (stored generated columns),
-- so the writers no longer send them, on both backends (BENCHMARKS.md, "The keys derived,
-- not stored"). They move to the end of the table; `COPY` without a column list leaves
-- generated columns out, so the writers' rows match the other columns in their order.
DROP INDEX IF EXISTS launches_user;
DROP INDEX IF EXISTS launches_course;
ALTER TABLE launches DROP COLUMN user_key, DROP COLUMN course_key;
ALTER TABLE launches
    ADD COLUMN user_key TEXT COLLATE "C"
        GENERATED ALWAYS AS (coalesce(user_iri, user_platform_id, user_external_id)) STORED,
    ADD COLUMN course_key TEXT COLLATE "C"
        GENERATED ALWAYS AS (coalesce(course_iri, course_platform_id)) STORED;
CREATE INDEX launches_course ON launches (course_key, event_time);
CREATE INDEX launches_user ON launches (user_key);
"#,
    ),
];
