//! Questions asked together, answered side by side: each lane on its own connection, so a
//! report takes about its longest lane rather than the sum of them (two cores: the CPU is
//! shared, the waits on the database are not). Both backends plan their lanes here; each
//! brings its own connections (another DuckDB connection to the same database, or a spare
//! PostgreSQL connection).

use super::reads_records;
use crate::StoreError;
use ltiscope_model::report::{Question, Table};

/// A lane's share of the questions, in the order asked.
pub(crate) type Job = Vec<Question>;

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

/// The jobs for `qs`: one per lane with questions.
pub(crate) fn plan(qs: &[Question]) -> Vec<Job> {
    let mut lanes: [Job; 3] = Default::default();
    for &q in qs {
        lanes[lane(q)].push(q);
    }
    lanes.into_iter().filter(|l| !l.is_empty()).collect()
}

/// Runs every job on a thread of its own with a connection from `connect` (opened here, one
/// per job, before the threads start), then gives the answers back in the order of `qs`.
pub(crate) fn answer<C: Send>(
    qs: &[Question],
    jobs: &[Job],
    mut connect: impl FnMut() -> Result<C, StoreError>,
    run: impl Fn(&mut C, &Job) -> Result<Vec<Option<Table>>, StoreError> + Sync,
) -> Result<Vec<Option<Table>>, StoreError> {
    let conns = jobs
        .iter()
        .map(|_| connect())
        .collect::<Result<Vec<_>, _>>()?;
    let run = &run;
    let answered = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .zip(conns)
            .map(|(job, mut conn)| scope.spawn(move || run(&mut conn, job)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect::<Vec<_>>()
    });
    // Each job answers its questions in the order asked.
    let mut answered = answered
        .into_iter()
        .map(|a| a.map(Vec::into_iter))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(qs
        .iter()
        .map(|q| {
            jobs.iter()
                .position(|job| job.first().map(|f| lane(*f)) == Some(lane(*q)))
                .and_then(|j| answered[j].next().flatten())
        })
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
            vec![
                vec![Question::TopCourses],
                vec![Question::Roles, Question::Deployments],
                vec![Question::Totals, Question::Daily],
            ]
        );
        assert_eq!(plan(&[Question::Totals, Question::Daily]).len(), 1);
    }
}
