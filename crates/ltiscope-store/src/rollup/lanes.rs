//! Questions asked together, answered side by side: each lane on its own connection, so a
//! report takes about its longest lane rather than the sum of them (two cores: the CPU is
//! shared, the waits on the database are not). Both backends plan their lanes here; each
//! brings its own connections (another DuckDB connection to the same database, or a spare
//! PostgreSQL connection).
//!
//! The course questions (the only ones that decode a row per course and month, most of the
//! work of the courses report) can also be split by course number into shards, each a lane:
//! the shards' courses are disjoint, so their rows are put together and put in order again
//! ([`super::courses::merge`]).

use super::courses;
use super::reads_records;
use crate::StoreError;
use ltiscope_model::report::{Question, Table};

/// The courses a lane answers the course questions for: those whose course number is `is`
/// modulo `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shard {
    pub(crate) of: u32,
    pub(crate) is: u32,
}

impl Shard {
    /// Every course.
    pub(crate) const ALL: Shard = Shard { of: 1, is: 0 };

    /// The condition on a course number column, empty for every course.
    pub(crate) fn condition(self, column: &str) -> String {
        if self.of > 1 {
            format!(" AND {column} % {} = {}", self.of, self.is)
        } else {
            String::new()
        }
    }
}

/// A lane's share of the questions.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    lane: usize,
    /// The questions, in the order asked.
    pub(crate) questions: Vec<Question>,
    pub(crate) shard: Shard,
}

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

/// The jobs for `qs`: a job per lane with questions, the course lane split into
/// `course_shards` shards.
pub(crate) fn plan(qs: &[Question], course_shards: u32) -> Vec<Job> {
    let mut lanes: [Vec<Question>; 3] = Default::default();
    for &q in qs {
        lanes[lane(q)].push(q);
    }
    let mut jobs = Vec::new();
    for (l, questions) in lanes.into_iter().enumerate() {
        if questions.is_empty() {
            continue;
        }
        let of = if l == 0 { course_shards.max(1) } else { 1 };
        for is in 0..of {
            jobs.push(Job {
                lane: l,
                questions: questions.clone(),
                shard: Shard { of, is },
            });
        }
    }
    jobs
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
            let parts: Vec<Option<Table>> = jobs
                .iter()
                .zip(answered.iter_mut())
                .filter(|(job, _)| job.lane == lane(*q))
                .map(|(_, a)| a.next().flatten())
                .collect();
            merge(*q, parts)
        })
        .collect())
}

/// One question's answer from its shards: `None` if any shard could not answer it.
fn merge(q: Question, parts: Vec<Option<Table>>) -> Option<Table> {
    if parts.len() == 1 {
        return parts.into_iter().next().flatten();
    }
    let tables = parts.into_iter().collect::<Option<Vec<Table>>>()?;
    Some(courses::merge(q, tables))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_course_lane_is_sharded_and_the_others_are_not() {
        let qs = [
            Question::Totals,
            Question::TopCourses,
            Question::Roles,
            Question::Daily,
            Question::Deployments,
        ];
        let jobs = plan(&qs, 2);
        let shape: Vec<(Vec<Question>, Shard)> = jobs
            .iter()
            .map(|j| (j.questions.clone(), j.shard))
            .collect();
        assert_eq!(
            shape,
            vec![
                (vec![Question::TopCourses], Shard { of: 2, is: 0 }),
                (vec![Question::TopCourses], Shard { of: 2, is: 1 }),
                (vec![Question::Roles, Question::Deployments], Shard::ALL),
                (vec![Question::Totals, Question::Daily], Shard::ALL),
            ]
        );
        assert_eq!(plan(&[Question::Totals], 2).len(), 1);
        assert_eq!(Shard::ALL.condition("n"), "");
        assert_eq!(Shard { of: 2, is: 1 }.condition("n"), " AND n % 2 = 1");
    }
}
