//! Benchmark helper: multiplies the launch records of a database by copying them into further
//! tenants (`<tenant>~2`, `<tenant>~3`, ...), each copy with its own users, courses and event
//! ids, so a generated term of 1M launches becomes 10M launches of ten institutions without
//! generating and importing 10M events. Only the `launches` table (what reports read) is
//! copied; launch/return pairs stay paired inside each copy. The copies are marked for the
//! rollups, which the next refresh (or report) builds.
//!
//!     cargo run --example replicate -- DB COPIES
//!
//! Not for production data: it exists so `bench/reports.sh` can build a 10M-launch database in
//! minutes on two cores.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(db), Some(copies)) = (args.next(), args.next()) else {
        eprintln!("usage: replicate DB COPIES");
        std::process::exit(2);
    };
    let copies: i64 = copies.parse()?;
    let conn = duckdb::Connection::open(&db)?;
    conn.execute_batch("SET preserve_insertion_order = false")?;
    let before: i64 = conn.query_row(
        "SELECT count(*) FROM launches WHERE action = 'launch'",
        [],
        |r| r.get(0),
    )?;
    let started = Instant::now();
    for k in 2..=copies {
        conn.execute_batch(&format!(
            "INSERT INTO launches
             SELECT event_key,
                    source, tenant || '~{k}', event_id || '~{k}', action, event_time, received_at,
                    xor(user_hash, {k} * 2654435761), user_platform_id, user_iri,
                    user_external_id, role, roles_raw, test_user, impersonator,
                    xor(course_hash, {k} * 2654435761), course_platform_id, course_iri,
                    course_label, course_title, course_number, org_unit_type, tool_id, tool_name,
                    tool_match, launch_url, launch_host, consumer_key, client_id, deployment_id,
                    tool_provider_id, lti_version, message_type, resource_link_id, launch_id,
                    session_id, locale, metrics, xor(visit_key, {k} * 2654435761)
             FROM launches WHERE tenant NOT LIKE '%~%'"
        ))?;
        eprintln!(
            "copy {k}/{copies} done after {:.0}s",
            started.elapsed().as_secs_f64()
        );
    }
    // The copies are new launch records: mark their hours so the next refresh rolls them up.
    conn.execute_batch(
        "INSERT INTO rollup_marks (tenant, hour, kind)
         SELECT DISTINCT tenant, date_trunc('hour', event_time), action FROM launches
         WHERE tenant LIKE '%~%' AND action IN ('launch', 'return')",
    )?;
    conn.execute_batch("CHECKPOINT")?;
    let after: i64 = conn.query_row(
        "SELECT count(*) FROM launches WHERE action = 'launch'",
        [],
        |r| r.get(0),
    )?;
    println!("launches: {before} -> {after}");
    Ok(())
}
