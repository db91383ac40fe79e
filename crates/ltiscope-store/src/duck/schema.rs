//! DuckDB schema migrations, applied in order, each once, each in its own transaction. Never
//! edit a shipped migration: add a new one.

/// (version, name, SQL).
pub(super) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "events, launches, quarantine, ingest log",
        r#"
-- Idempotency: one row per stored event. Kept apart from `events` so the unique index only
-- holds 16-byte keys and a write checks it without copying event bodies around.
CREATE TABLE event_keys (
    event_key   HUGEINT PRIMARY KEY       -- hash of (source, tenant, event_id)
);

CREATE TABLE events (
    event_key   HUGEINT NOT NULL,         -- = event_keys.event_key
    source      VARCHAR NOT NULL,
    tenant      VARCHAR NOT NULL,
    event_id    VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,         -- launch | other | entity
    event_type  VARCHAR NOT NULL,
    action      VARCHAR NOT NULL,
    event_time  TIMESTAMP NOT NULL,       -- UTC
    received_at TIMESTAMP NOT NULL,       -- UTC
    body        VARCHAR NOT NULL          -- the scrubbed original, for replay
);

CREATE TABLE launches (
    event_key         HUGEINT NOT NULL,   -- = events.event_key
    source            VARCHAR NOT NULL,
    tenant            VARCHAR NOT NULL,
    event_id          VARCHAR NOT NULL,
    action            VARCHAR NOT NULL,   -- launch | return | use
    event_time        TIMESTAMP NOT NULL,
    received_at       TIMESTAMP NOT NULL,
    user_key          VARCHAR,
    user_hash         BIGINT,             -- hash of (tenant, user_key), for fast distinct counts
    user_platform_id  VARCHAR,
    user_iri          VARCHAR,
    user_external_id  VARCHAR,
    role              VARCHAR NOT NULL,
    roles_raw         VARCHAR NOT NULL,   -- JSON array of the values as sent
    test_user         BOOLEAN NOT NULL,
    impersonator      VARCHAR,
    course_key        VARCHAR,
    course_hash       BIGINT,
    course_platform_id VARCHAR,
    course_iri        VARCHAR,
    course_label      VARCHAR,
    course_title      VARCHAR,
    course_number     VARCHAR,
    org_unit_type     VARCHAR,
    tool_id           VARCHAR NOT NULL,
    tool_name         VARCHAR NOT NULL,
    tool_match        VARCHAR NOT NULL,
    launch_url        VARCHAR,
    launch_host       VARCHAR,
    consumer_key      VARCHAR,
    client_id         VARCHAR,
    deployment_id     VARCHAR,
    tool_provider_id  VARCHAR,
    lti_version       VARCHAR,
    message_type      VARCHAR,
    resource_link_id  VARCHAR,
    launch_id         VARCHAR,
    session_id        VARCHAR,
    locale            VARCHAR,
    metrics           VARCHAR             -- JSON array of [metric, value, max]
);

CREATE SEQUENCE quarantine_id START 1;
CREATE TABLE quarantine (
    id          BIGINT PRIMARY KEY DEFAULT nextval('quarantine_id'),
    received_at TIMESTAMP NOT NULL,
    source      VARCHAR,
    origin      VARCHAR NOT NULL,
    item_index  BIGINT NOT NULL,
    reason_code VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    body        VARCHAR NOT NULL,         -- scrubbed
    replayed_at TIMESTAMP
);

CREATE TABLE ingest_log (
    received_at TIMESTAMP NOT NULL,
    origin      VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    launches    BIGINT NOT NULL,
    non_lti     BIGINT NOT NULL,
    duplicates  BIGINT NOT NULL
);
"#,
    ),
    (
        2,
        "api keys",
        r#"
CREATE SEQUENCE api_key_id START 1;
CREATE TABLE api_keys (
    id          BIGINT PRIMARY KEY DEFAULT nextval('api_key_id'),
    name        VARCHAR NOT NULL,
    scope       VARCHAR NOT NULL,         -- ingest:<source>|ingest:any|read|admin
    key_hash    VARCHAR NOT NULL,         -- hex SHA-256 of the key; the key itself is never stored
    key_prefix  VARCHAR NOT NULL,         -- first characters, to recognise a key in lists
    created_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);
"#,
    ),
    (
        3,
        "visit keys",
        r#"
-- One integer per (tenant, user, tool, link) so the visits window sorts 16-byte rows instead
-- of strings: on 10M launches the sort fits in memory instead of spilling. New rows get xxh3
-- from the writer; rows stored before this migration get DuckDB's hash of the same parts, so
-- a visit that spans the upgrade itself may be counted twice.
ALTER TABLE launches ADD COLUMN visit_key BIGINT;
UPDATE launches SET visit_key = CAST(hash(tenant, user_key, tool_id, coalesce(resource_link_id, launch_url, '')) >> 1 AS BIGINT);
"#,
    ),
    (
        4,
        "rollups",
        r#"
-- Rollups (see rollup/mod.rs): what the big reports read instead of every launch record.
-- Marks: the (tenant, UTC hour, launch|return) of stored records not yet rolled up, written in
-- the same transaction as the records; a refresh recomputes the days they change.
CREATE SEQUENCE rollup_mark_id START 1;
CREATE TABLE rollup_marks (
    id     BIGINT NOT NULL DEFAULT nextval('rollup_mark_id'),
    tenant VARCHAR NOT NULL,
    hour   TIMESTAMP NOT NULL,
    kind   VARCHAR NOT NULL
);
-- How the rollups cut days and count visits and time in tool.
CREATE TABLE rollup_state (
    timezone          VARCHAR NOT NULL,
    visit_window_secs BIGINT NOT NULL,
    time_cap_secs     BIGINT NOT NULL
);
INSERT INTO rollup_state VALUES ('UTC', 600, 14400);
-- Dense numbers of users and courses (by their tenant-qualified hashes), the members of the
-- rollup sets. Assigned only by the refresh, one at a time, so no index is needed to keep
-- them unique (an index would cost memory on every open).
CREATE TABLE rollup_users (user_hash BIGINT NOT NULL, n INTEGER NOT NULL);
CREATE TABLE rollup_courses (course_hash BIGINT NOT NULL, n INTEGER NOT NULL);
CREATE TABLE rollup_days (
    tenant     VARCHAR NOT NULL,
    day        DATE NOT NULL,             -- local day in rollup_state.timezone
    source     VARCHAR NOT NULL,
    tool_id    VARCHAR NOT NULL,
    tool_name  VARCHAR NOT NULL,
    role       VARCHAR NOT NULL,
    test_user  BOOLEAN NOT NULL,
    launches   BIGINT NOT NULL,
    visits     BIGINT NOT NULL,           -- launches that start a visit
    first_us   BIGINT NOT NULL,           -- first and last launch, epoch microseconds
    last_us    BIGINT NOT NULL,
    users      BLOB NOT NULL,             -- set of rollup_users.n
    courses    BLOB NOT NULL,             -- set of rollup_courses.n
    paired_ms  BLOB NOT NULL              -- time in tool of paired launches, milliseconds
);
-- Records stored before rollups existed: every hour marked, so the first refresh builds them.
INSERT INTO rollup_marks (tenant, hour, kind)
SELECT DISTINCT tenant, date_trunc('hour', event_time), action FROM launches
WHERE action IN ('launch', 'return');
"#,
    ),
    (
        5,
        "rollup tool days and facets",
        r#"
-- The sets of rollup_days merged over roles and sources, per (tenant, local day, tool, test
-- user): reports without a role or source filter read these (a fraction of the rows) for
-- their distinct counts and medians, and sum the counts of rollup_days in SQL.
CREATE TABLE rollup_tool_days (
    tenant     VARCHAR NOT NULL,
    day        DATE NOT NULL,
    tool_id    VARCHAR NOT NULL,
    test_user  BOOLEAN NOT NULL,
    users      BLOB NOT NULL,
    courses    BLOB NOT NULL,
    paired_ms  BLOB NOT NULL
);
-- Launches per (tenant, local day, source, tool, role, test user) and facet value, for the
-- one-tool report: the UTC hour (epoch microseconds), the message type and LTI version as sent
-- ('(not sent)' when missing), and the deployment (a JSON array of client id, deployment id,
-- consumer key, tool-provider id and launch host), the last with its sets of users and courses.
CREATE TABLE rollup_facets (
    tenant     VARCHAR NOT NULL,
    day        DATE NOT NULL,
    source     VARCHAR NOT NULL,
    tool_id    VARCHAR NOT NULL,
    tool_name  VARCHAR NOT NULL,
    role       VARCHAR NOT NULL,
    test_user  BOOLEAN NOT NULL,
    facet      VARCHAR NOT NULL,          -- hour | message_type | lti_version | deployment
    value      VARCHAR NOT NULL,
    launches   BIGINT NOT NULL,
    first_us   BIGINT NOT NULL,
    last_us    BIGINT NOT NULL,
    users      BLOB NOT NULL,             -- deployment rows only (empty otherwise)
    courses    BLOB NOT NULL
);
-- Rebuilt from the launch records by the next refresh.
DELETE FROM rollup_days;
INSERT INTO rollup_marks (tenant, hour, kind)
SELECT DISTINCT tenant, date_trunc('hour', event_time), action FROM launches
WHERE action IN ('launch', 'return');
"#,
    ),
    (
        6,
        "rollup course names",
        r#"
-- Each numbered course keeps its tenant, key and label (as first rolled up), so the top
-- courses read only numbers from the launch records and take names from here.
ALTER TABLE rollup_courses ADD COLUMN tenant VARCHAR;
ALTER TABLE rollup_courses ADD COLUMN course_key VARCHAR;
ALTER TABLE rollup_courses ADD COLUMN label VARCHAR;
UPDATE rollup_courses SET tenant = x.tenant, course_key = x.course_key, label = x.label
FROM (SELECT course_hash, any_value(tenant) AS tenant, any_value(course_key) AS course_key,
             coalesce(any_value(course_label), any_value(course_title)) AS label
      FROM launches WHERE action = 'launch' AND course_hash IS NOT NULL
      GROUP BY course_hash) x
WHERE rollup_courses.course_hash = x.course_hash;
"#,
    ),
    (
        7,
        "time in tool over the cap",
        r#"
-- The launches of each rollup row whose first return came after the cap but within twice it,
-- so the time-in-tool report is answered from rollups too. Rebuilt by the next refresh.
ALTER TABLE rollup_days ADD COLUMN over_cap BIGINT DEFAULT 0;
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
        "inbox watermark",
        r#"
-- The last group of the collector's inbox (duck/inbox.rs) copied into these tables, written in
-- the same transaction as the copy, so a group is never moved twice.
CREATE TABLE inbox_state (moved_seq BIGINT NOT NULL);
INSERT INTO inbox_state VALUES (0);
"#,
    ),
    (
        9,
        "course rollup",
        r#"
-- The courses report's rollup (rollup/courses.rs): one row per tenant, local month, course and
-- test-user flag (for all tools, and per tool in the second table) holding the month's
-- summary and an entry per local day. Tools by dense number. Built by the next refresh, which
-- recomputes every day that has launch records.
CREATE TABLE rollup_tools (tool_id VARCHAR PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE rollup_course_months (
    tenant    VARCHAR NOT NULL,
    month     DATE NOT NULL,
    course_no BIGINT NOT NULL,
    test_user BOOLEAN NOT NULL,
    summary   BLOB NOT NULL,
    days      BLOB NOT NULL
);
CREATE TABLE rollup_course_tool_months (
    tenant    VARCHAR NOT NULL,
    month     DATE NOT NULL,
    tool_id   VARCHAR NOT NULL,
    course_no BIGINT NOT NULL,
    test_user BOOLEAN NOT NULL,
    summary   BLOB NOT NULL,
    days      BLOB NOT NULL
);
INSERT INTO rollup_marks (tenant, hour, kind)
SELECT DISTINCT tenant, date_trunc('hour', event_time), action FROM launches
WHERE action IN ('launch', 'return');
"#,
    ),
    (
        10,
        "event bodies compressed with zstd",
        r#"
-- The scrubbed originals are long JSON documents cut from a few templates. DuckDB's zstd
-- stores them several times smaller than its default string compression (FSST or dictionary)
-- and costs the writer less CPU at commit (docs/benchmarks-history.md, "Event bodies in
-- zstd"). A column's compression is fixed when its table is created, so the table is rebuilt.
CREATE TABLE events_zstd (
    event_key   HUGEINT NOT NULL,
    source      VARCHAR NOT NULL,
    tenant      VARCHAR NOT NULL,
    event_id    VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,
    event_type  VARCHAR NOT NULL,
    action      VARCHAR NOT NULL,
    event_time  TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    body        VARCHAR USING COMPRESSION zstd NOT NULL
);
INSERT INTO events_zstd SELECT * FROM events;
DROP TABLE events;
ALTER TABLE events_zstd RENAME TO events;
"#,
    ),
    (
        11,
        "quarantined items stored once",
        r#"
-- A quarantined item is stored once, by its key (crate::keys::quarantine_key, computed here
-- in SQL for the stored items); of their copies, the first received stays.
-- DuckDB cannot build an index in a transaction that updated rows, so the table is rebuilt.
CREATE TABLE quarantine_keyed (
    id          BIGINT PRIMARY KEY DEFAULT nextval('quarantine_id'),
    received_at TIMESTAMP NOT NULL,
    source      VARCHAR,
    origin      VARCHAR NOT NULL,
    item_index  BIGINT NOT NULL,
    reason_code VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    body        VARCHAR NOT NULL,         -- scrubbed
    replayed_at TIMESTAMP,
    item_key    VARCHAR NOT NULL UNIQUE
);
INSERT INTO quarantine_keyed
SELECT * FROM (
    SELECT *, sha256(origin || chr(31) || CAST(item_index AS VARCHAR) || chr(31) || body) AS item_key
    FROM quarantine)
QUALIFY row_number() OVER (PARTITION BY item_key ORDER BY id) = 1;
DROP TABLE quarantine;
ALTER TABLE quarantine_keyed RENAME TO quarantine;
"#,
    ),
    (
        12,
        "tool names follow the rules",
        r#"
-- The fingerprint of the tool rules and catalogue that named the stored launch records
-- (crate::naming); none yet, so the first writer to open the database names them again.
CREATE TABLE tool_naming (fingerprint VARCHAR NOT NULL);
-- The combinations of identifiers whose records are being renamed: filled and emptied within
-- one transaction. The columns are those of `launches`, their types too: the identifiers,
-- the stored name, the new name.
CREATE TABLE tool_renames AS
SELECT launch_url, launch_host, consumer_key, client_id, deployment_id, tool_provider_id,
       tool_id, tool_name, tool_match,
       tool_id AS new_id, tool_name AS new_name, tool_match AS new_match
FROM launches LIMIT 0;
"#,
    ),
    (
        13,
        "derivation fingerprint",
        r#"
-- The fingerprint of the parser and redaction that derived the stored events (crate::derivation);
-- none in a database that already holds events: an earlier ltiscope derived them.
CREATE TABLE derivation (fingerprint VARCHAR NOT NULL);
"#,
    ),
    (
        14,
        "launch ids compressed with zstd",
        r#"
-- The launch records' near-unique strings (event, session and launch ids, user IRI and key)
-- compressed with zstd instead of DuckDB's automatic choice (FSST): on a million launches the
-- table alone was stored 22-39% faster and 9% smaller in two rounds, and read as fast (BENCHMARKS.md,
-- "The launch records' ids in zstd"). A column's compression is fixed when its table is
-- created, so the table is rebuilt, its columns in the same order.
CREATE TABLE launches_zstd (
    event_key         HUGEINT NOT NULL,
    source            VARCHAR NOT NULL,
    tenant            VARCHAR NOT NULL,
    event_id          VARCHAR USING COMPRESSION zstd NOT NULL,
    action            VARCHAR NOT NULL,
    event_time        TIMESTAMP NOT NULL,
    received_at       TIMESTAMP NOT NULL,
    user_key          VARCHAR USING COMPRESSION zstd,
    user_hash         BIGINT,
    user_platform_id  VARCHAR,
    user_iri          VARCHAR USING COMPRESSION zstd,
    user_external_id  VARCHAR,
    role              VARCHAR NOT NULL,
    roles_raw         VARCHAR NOT NULL,
    test_user         BOOLEAN NOT NULL,
    impersonator      VARCHAR,
    course_key        VARCHAR,
    course_hash       BIGINT,
    course_platform_id VARCHAR,
    course_iri        VARCHAR,
    course_label      VARCHAR,
    course_title      VARCHAR,
    course_number     VARCHAR,
    org_unit_type     VARCHAR,
    tool_id           VARCHAR NOT NULL,
    tool_name         VARCHAR NOT NULL,
    tool_match        VARCHAR NOT NULL,
    launch_url        VARCHAR,
    launch_host       VARCHAR,
    consumer_key      VARCHAR,
    client_id         VARCHAR,
    deployment_id     VARCHAR,
    tool_provider_id  VARCHAR,
    lti_version       VARCHAR,
    message_type      VARCHAR,
    resource_link_id  VARCHAR,
    launch_id         VARCHAR USING COMPRESSION zstd,
    session_id        VARCHAR USING COMPRESSION zstd,
    locale            VARCHAR,
    metrics           VARCHAR,
    visit_key         BIGINT
);
INSERT INTO launches_zstd SELECT * FROM launches;
DROP TABLE launches;
ALTER TABLE launches_zstd RENAME TO launches;
"#,
    ),
    (
        15,
        "user and course keys derived, not stored",
        r#"
-- `user_key` and `course_key` are what `UserRef::key` and `CourseRef::key` derive from the
-- identifiers beside them, so the table derives them itself when they are read, instead of
-- storing a second copy of the user's and the course's IRI in every Blackboard launch (on a
-- million launches DuckDB alone stored the table 0.4-2.1 s faster in six pairs and 21 MB
-- smaller without them: BENCHMARKS.md, "The keys derived, not stored"). A column cannot become generated in
-- place, so the table is rebuilt, its columns in the same order.
CREATE TABLE launches_derived (
    event_key         HUGEINT NOT NULL,
    source            VARCHAR NOT NULL,
    tenant            VARCHAR NOT NULL,
    event_id          VARCHAR USING COMPRESSION zstd NOT NULL,
    action            VARCHAR NOT NULL,
    event_time        TIMESTAMP NOT NULL,
    received_at       TIMESTAMP NOT NULL,
    user_key          VARCHAR
        GENERATED ALWAYS AS (coalesce(user_iri, user_platform_id, user_external_id)) VIRTUAL,
    user_hash         BIGINT,
    user_platform_id  VARCHAR,
    user_iri          VARCHAR USING COMPRESSION zstd,
    user_external_id  VARCHAR,
    role              VARCHAR NOT NULL,
    roles_raw         VARCHAR NOT NULL,
    test_user         BOOLEAN NOT NULL,
    impersonator      VARCHAR,
    course_key        VARCHAR GENERATED ALWAYS AS (coalesce(course_iri, course_platform_id)) VIRTUAL,
    course_hash       BIGINT,
    course_platform_id VARCHAR,
    course_iri        VARCHAR,
    course_label      VARCHAR,
    course_title      VARCHAR,
    course_number     VARCHAR,
    org_unit_type     VARCHAR,
    tool_id           VARCHAR NOT NULL,
    tool_name         VARCHAR NOT NULL,
    tool_match        VARCHAR NOT NULL,
    launch_url        VARCHAR,
    launch_host       VARCHAR,
    consumer_key      VARCHAR,
    client_id         VARCHAR,
    deployment_id     VARCHAR,
    tool_provider_id  VARCHAR,
    lti_version       VARCHAR,
    message_type      VARCHAR,
    resource_link_id  VARCHAR,
    launch_id         VARCHAR USING COMPRESSION zstd,
    session_id        VARCHAR USING COMPRESSION zstd,
    locale            VARCHAR,
    metrics           VARCHAR,
    visit_key         BIGINT
);
-- By name: the new table's generated columns take no values.
INSERT INTO launches_derived BY NAME SELECT * EXCLUDE (user_key, course_key)
FROM launches;
DROP TABLE launches;
ALTER TABLE launches_derived RENAME TO launches;
"#,
    ),
    (
        16,
        "rollup sets stored uncompressed",
        r#"
-- The rollups' sets (varints of dense numbers and milliseconds: rollup/codec.rs) and the
-- course rollup's entries are binary, which DuckDB's automatic choice for a BLOB (FSST with a
-- dictionary) first builds a symbol table for and then hardly shrinks. Stored uncompressed,
-- the five tables of a million launches, loaded through the write-ahead log, were
-- checkpointed in 0.12-0.13 s instead of 0.37-0.41 s, for 21% more rollup bytes (27.0 MB
-- against 22.3 MB; the database 505 MB): BENCHMARKS.md, "Rollup sets uncompressed". A
-- column's compression is fixed when its table is created, so the tables are rebuilt, their
-- columns in the same order.
CREATE TABLE rollup_days_new (
    tenant     VARCHAR NOT NULL,
    day        DATE NOT NULL,
    source     VARCHAR NOT NULL,
    tool_id    VARCHAR NOT NULL,
    tool_name  VARCHAR NOT NULL,
    role       VARCHAR NOT NULL,
    test_user  BOOLEAN NOT NULL,
    launches   BIGINT NOT NULL,
    visits     BIGINT NOT NULL,
    first_us   BIGINT NOT NULL,
    last_us    BIGINT NOT NULL,
    users      BLOB USING COMPRESSION uncompressed NOT NULL,
    courses    BLOB USING COMPRESSION uncompressed NOT NULL,
    paired_ms  BLOB USING COMPRESSION uncompressed NOT NULL,
    over_cap   BIGINT DEFAULT 0
);
INSERT INTO rollup_days_new SELECT * FROM rollup_days;
DROP TABLE rollup_days;
ALTER TABLE rollup_days_new RENAME TO rollup_days;
CREATE TABLE rollup_tool_days_new (
    tenant     VARCHAR NOT NULL,
    day        DATE NOT NULL,
    tool_id    VARCHAR NOT NULL,
    test_user  BOOLEAN NOT NULL,
    users      BLOB USING COMPRESSION uncompressed NOT NULL,
    courses    BLOB USING COMPRESSION uncompressed NOT NULL,
    paired_ms  BLOB USING COMPRESSION uncompressed NOT NULL
);
INSERT INTO rollup_tool_days_new SELECT * FROM rollup_tool_days;
DROP TABLE rollup_tool_days;
ALTER TABLE rollup_tool_days_new RENAME TO rollup_tool_days;
CREATE TABLE rollup_facets_new (
    tenant     VARCHAR NOT NULL,
    day        DATE NOT NULL,
    source     VARCHAR NOT NULL,
    tool_id    VARCHAR NOT NULL,
    tool_name  VARCHAR NOT NULL,
    role       VARCHAR NOT NULL,
    test_user  BOOLEAN NOT NULL,
    facet      VARCHAR NOT NULL,
    value      VARCHAR NOT NULL,
    launches   BIGINT NOT NULL,
    first_us   BIGINT NOT NULL,
    last_us    BIGINT NOT NULL,
    users      BLOB USING COMPRESSION uncompressed NOT NULL,
    courses    BLOB USING COMPRESSION uncompressed NOT NULL
);
INSERT INTO rollup_facets_new SELECT * FROM rollup_facets;
DROP TABLE rollup_facets;
ALTER TABLE rollup_facets_new RENAME TO rollup_facets;
CREATE TABLE rollup_course_months_new (
    tenant    VARCHAR NOT NULL,
    month     DATE NOT NULL,
    course_no BIGINT NOT NULL,
    test_user BOOLEAN NOT NULL,
    summary   BLOB USING COMPRESSION uncompressed NOT NULL,
    days      BLOB USING COMPRESSION uncompressed NOT NULL
);
INSERT INTO rollup_course_months_new SELECT * FROM rollup_course_months;
DROP TABLE rollup_course_months;
ALTER TABLE rollup_course_months_new RENAME TO rollup_course_months;
CREATE TABLE rollup_course_tool_months_new (
    tenant    VARCHAR NOT NULL,
    month     DATE NOT NULL,
    tool_id   VARCHAR NOT NULL,
    course_no BIGINT NOT NULL,
    test_user BOOLEAN NOT NULL,
    summary   BLOB USING COMPRESSION uncompressed NOT NULL,
    days      BLOB USING COMPRESSION uncompressed NOT NULL
);
INSERT INTO rollup_course_tool_months_new SELECT * FROM rollup_course_tool_months;
DROP TABLE rollup_course_tool_months;
ALTER TABLE rollup_course_tool_months_new RENAME TO rollup_course_tool_months;
"#,
    ),
];
