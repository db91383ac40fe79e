//! Which parse workers yield the CPU to the single writer.
//!
//! An import has one writer (DuckDB's storing, which cannot be split) and several parse
//! workers. With a worker per CPU, the writer shares a CPU with a worker now and then, and the
//! scheduler gives each an equal share: on two cores the writer waited 3.6-6.5 s of a
//! million-event import for a CPU its own workers held (the kernel's run delay, read by
//! `bench/threads.py`). So one worker per CPU beside the writer runs at the normal priority
//! and the rest at the lowest: they only use the time the others leave idle. All workers at
//! the lowest priority were as fast on a quiet machine but a quarter slower than all at
//! normal priority beside another busy program, which then took their share; with this
//! split, an eighth (BENCHMARKS.md, "The writer first").

/// How many of `workers` keep the normal priority: one per CPU beside the writer's, at least
/// one.
fn full_priority(workers: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    workers.min(cpus.saturating_sub(1)).max(1)
}

/// Sets the priority of worker `worker` (counted from 0) of `workers`: the first
/// [`full_priority`] keep theirs, the rest yield to others. Each worker calls it first thing,
/// on its own thread.
pub(crate) fn take_place(worker: usize, workers: usize) {
    if worker >= full_priority(workers) {
        yield_to_others();
    }
}

/// Lowers the calling thread's priority to the lowest (nice 19), where the system allows
/// (Linux: a thread's nice value is its own). Failing that, the thread runs on as it was: the
/// import is then as fast as before, not wrong.
fn yield_to_others() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19) {
        tracing::debug!("could not lower a parse worker's priority: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_worker_per_cpu_beside_the_writer_keeps_full_priority() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(full_priority(1), 1);
        assert_eq!(full_priority(64 + cpus), (cpus - 1).max(1));
        assert_eq!(full_priority(cpus), (cpus - 1).max(1));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_worker_lowers_only_its_own_priority() {
        let me = || rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let before = me();
        let lowered = std::thread::spawn(move || {
            yield_to_others();
            me()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, 19);
        assert_eq!(me(), before, "the calling thread keeps its priority");
    }
}
