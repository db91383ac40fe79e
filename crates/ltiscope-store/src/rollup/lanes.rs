//! Questions asked together, answered side by side: each lane on its own connection, so a
//! report takes about its longest lane rather than the sum of them (two cores: the CPU is
//! shared, the waits on the database are not). Both backends answer through [`answer`]; each
//! brings its own connections (another DuckDB connection to the same database, or a spare
//! PostgreSQL connection).

use super::reads_records;
use crate::StoreError;
use ltiscope_model::report::{Question, Table};

/// How many lanes there are.
const LANES: usize = 3;

/// The lane a question is answered in: the course questions; the deployments and roles (each
/// a read of its own, with sets to union); everything else (the shared read of counts and
/// sets, the counted facets). For the one-tool report at 10M launches on DuckDB, the questions
/// of each lane timed one by one add up to ~230, ~120 and ~160 ms.
fn lane(q: Question) -> usize {
    match q {
        _ if reads_records(q) => 0,
        Question::Deployments | Question::Roles => 1,
        _ => 2,
    }
}

/// The questions of each lane, in the order asked.
fn plan(qs: &[Question]) -> [Vec<Question>; LANES] {
    let mut lanes: [Vec<Question>; LANES] = Default::default();
    for &q in qs {
        lanes[lane(q)].push(q);
    }
    lanes
}

/// Answers `qs` with `alone` when they fall in one lane; otherwise each lane with questions
/// on a thread of its own, with a connection from `connect` (opened here, before the threads
/// start) that goes to `release` once its lane answered (not after a failure, which may have
/// broken it). The answers come back in the order of `qs`.
pub(crate) fn answer<C: Send>(
    qs: &[Question],
    alone: impl FnOnce() -> Result<Vec<Option<Table>>, StoreError>,
    mut connect: impl FnMut() -> Result<C, StoreError>,
    run: impl Fn(&mut C, &[Question]) -> Result<Vec<Option<Table>>, StoreError> + Sync,
    mut release: impl FnMut(C),
) -> Result<Vec<Option<Table>>, StoreError> {
    let lanes = plan(qs);
    if lanes.iter().filter(|l| !l.is_empty()).count() < 2 {
        return alone();
    }
    let conns = lanes
        .iter()
        .map(|l| (!l.is_empty()).then(&mut connect).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    let run = &run;
    let answered = std::thread::scope(|scope| {
        let handles: Vec<_> = lanes
            .iter()
            .zip(conns)
            .map(|(l, conn)| {
                scope.spawn(move || {
                    conn.map(|mut conn| (run(&mut conn, l), conn))
                        .map_or((Ok(Vec::new()), None), |(a, c)| (a, Some(c)))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect::<Vec<_>>()
    });
    let mut per_lane = Vec::with_capacity(LANES);
    for (answer, conn) in answered {
        if let (Ok(_), Some(conn)) = (&answer, conn) {
            release(conn);
        }
        per_lane.push(answer);
    }
    // Each lane answers its questions in the order asked.
    let mut per_lane = per_lane
        .into_iter()
        .map(|a| a.map(Vec::into_iter))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(qs
        .iter()
        .map(|q| per_lane[lane(*q)].next().flatten())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_are_split_into_lanes_in_the_order_asked() {
        let qs = [
            Question::Totals,
            Question::TopCourses,
            Question::Roles,
            Question::Daily,
            Question::Deployments,
        ];
        assert_eq!(
            plan(&qs),
            [
                vec![Question::TopCourses],
                vec![Question::Roles, Question::Deployments],
                vec![Question::Totals, Question::Daily],
            ]
        );
        let one = plan(&[Question::Totals, Question::Daily]);
        assert_eq!(one.iter().filter(|l| !l.is_empty()).count(), 1);
    }
}
