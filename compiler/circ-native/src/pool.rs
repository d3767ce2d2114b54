//! A pool of worker threads that wait for work by spinning, then sleeping.
//!
//! A step hands work to the threads several times (each split kernel), a
//! few microseconds each. Waking a sleeping thread costs tens of
//! microseconds on a virtual machine, more than the work: Brunel's
//! deliveries on 2 threads took 3.4 s with a pool whose workers sleep at
//! once (rayon), against 2.4 s on one thread. Workers here spin for about a
//! millisecond after each job (OpenMP's active wait, as NEST runs), and sleep
//! only when the simulation has stopped handing out work.
//!
//! Tasks are claimed, not assigned: the caller takes tasks too, so when a
//! worker is not running (another program has its core) the caller does
//! its share instead of waiting a scheduler slice for it. With fixed
//! shares, a busy machine made Brunel on 2 threads 10x slower.

use std::cell::{Cell, UnsafeCell};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before it sleeps.
const SPIN: Duration = Duration::from_millis(1);

/// A job: called with each task index.
type Job = *const (dyn Fn(usize) + Sync);

/// What the calling thread and the workers share.
struct Shared {
    /// The current job's number (bits 32-63), its number of tasks (16-31)
    /// and its next unclaimed task (0-15): a task is claimed by advancing
    /// the last, in one compare-and-swap of the whole word, so only a task
    /// of the job the claimer saw, and only one that exists.
    ticket: AtomicU64,
    /// The current job, written only between jobs (when every task of the
    /// last one is done), before `ticket` names it; read only by a thread
    /// holding a claimed task of it.
    job: UnsafeCell<Job>,
    /// Tasks of the current job finished.
    done: AtomicUsize,
    /// Whether a task of the current job panicked on a worker.
    panicked: AtomicBool,
    /// Workers asleep on `wake`.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    stop: AtomicBool,
}

// SAFETY: `job` is written by the one thread that runs jobs (`SpinPool` is
// not `Sync`) only when every task of the previous job is done; a worker
// reads it only after claiming a task of the job `ticket` names, which the
// caller published after writing `job`.
#[allow(unsafe_code)]
unsafe impl Sync for Shared {}
#[allow(unsafe_code)]
unsafe impl Send for Shared {}

/// Worker threads plus the calling thread, for one job at a time.
pub struct SpinPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// The number of the last job (`run` is not reentrant and stays on one
    /// thread: `Cell` makes the pool not `Sync`).
    epoch: Cell<u32>,
}

impl SpinPool {
    /// A pool of `threads` threads in all: the caller and `threads - 1` workers.
    pub fn new(threads: usize) -> std::io::Result<SpinPool> {
        let noop: &(dyn Fn(usize) + Sync) = &|_| {};
        let shared = Arc::new(Shared {
            ticket: AtomicU64::new(0),
            job: UnsafeCell::new(noop as Job),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let mut workers = vec![];
        for w in 1..threads.max(1) {
            let shared = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("circ-worker-{w}"))
                .spawn(move || worker(&shared))?;
            workers.push(handle);
        }
        Ok(SpinPool {
            shared,
            workers,
            epoch: Cell::new(0),
        })
    }

    /// Threads in all, the caller's included.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `f(t)` for every task `t` in `0..tasks`, each once, on whichever
    /// thread claims it (the caller claims too). Returns when all are done;
    /// a panic in any task is raised here after all are done.
    pub fn run(&self, tasks: usize, f: &(dyn Fn(usize) + Sync)) {
        if tasks <= 1 || self.workers.is_empty() || tasks > 0xffff {
            (0..tasks).for_each(f);
            return;
        }
        let sh = &*self.shared;
        let e = self.epoch.get().wrapping_add(1);
        self.epoch.set(e);
        // SAFETY: every task of the previous job is done (`run` waited for
        // it), so no thread reads `job`; this call waits for every task of
        // this job before returning, so `f` outlives every use of it.
        #[allow(unsafe_code)]
        unsafe {
            *sh.job.get() = std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(f);
        }
        sh.done.store(0, Ordering::SeqCst);
        sh.ticket.store(
            (u64::from(e) << 32) | ((tasks as u64) << 16),
            Ordering::SeqCst,
        );
        if sh.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = sh.lock.lock().unwrap_or_else(|e| e.into_inner());
            sh.wake.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| claim(sh, e)));
        let mut spins = 0u32;
        while sh.done.load(Ordering::Acquire) < tasks {
            pause(&mut spins);
        }
        if let Err(e) = mine {
            resume_unwind(e);
        }
        if sh.panicked.swap(false, Ordering::SeqCst) {
            panic!("a worker thread panicked in a parallel kernel");
        }
    }
}

/// Claims and runs tasks of job `e` until none is left; counts each done
/// (also when it panics, so the caller's wait ends).
fn claim(sh: &Shared, e: u32) {
    loop {
        let v = sh.ticket.load(Ordering::Acquire);
        let (tasks, t) = ((v >> 16) & 0xffff, v & 0xffff);
        if (v >> 32) as u32 != e || t >= tasks {
            return;
        }
        if sh
            .ticket
            .compare_exchange_weak(v, v + 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            continue;
        }
        // SAFETY: task `t` of job `e` is claimed and not done, so the
        // caller of `run` is still waiting and `job` is still that job's.
        #[allow(unsafe_code)]
        let f = unsafe { &**sh.job.get() };
        let r = catch_unwind(AssertUnwindSafe(|| f(t as usize)));
        sh.done.fetch_add(1, Ordering::Release);
        if let Err(p) = r {
            resume_unwind(p);
        }
    }
}

impl Drop for SpinPool {
    fn drop(&mut self) {
        let sh = &*self.shared;
        sh.stop.store(true, Ordering::SeqCst);
        // A new job number wakes the spinning workers; they see `stop`.
        let e = self.epoch.get().wrapping_add(1);
        sh.ticket.store(u64::from(e) << 32, Ordering::SeqCst);
        {
            let _guard = sh.lock.lock().unwrap_or_else(|e| e.into_inner());
            sh.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Spins briefly, then yields the core: on a machine with more runnable
/// threads than cores, the thread waited for may need this one's core.
fn pause(spins: &mut u32) {
    *spins = spins.wrapping_add(1);
    if *spins < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

fn worker(sh: &Shared) {
    let mut seen = 0u32;
    loop {
        // Wait for the next job: spin, then sleep.
        let started = Instant::now();
        let mut spins = 0u32;
        let epoch = |sh: &Shared| (sh.ticket.load(Ordering::Acquire) >> 32) as u32;
        loop {
            if epoch(sh) != seen || sh.stop.load(Ordering::Relaxed) {
                break;
            }
            if spins % 256 == 255 && started.elapsed() > SPIN {
                let mut guard = sh.lock.lock().unwrap_or_else(|e| e.into_inner());
                sh.sleepers.fetch_add(1, Ordering::SeqCst);
                while epoch(sh) == seen && !sh.stop.load(Ordering::SeqCst) {
                    guard = sh.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
                sh.sleepers.fetch_sub(1, Ordering::SeqCst);
                break;
            }
            pause(&mut spins);
        }
        if sh.stop.load(Ordering::SeqCst) {
            return;
        }
        seen = epoch(sh);
        if catch_unwind(AssertUnwindSafe(|| claim(sh, seen))).is_err() {
            sh.panicked.store(true, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once() {
        let pool = SpinPool::new(3).expect("threads start");
        for tasks in [0, 1, 2, 3, 7] {
            let hits: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
            for _ in 0..100 {
                pool.run(tasks, &|t| {
                    hits[t].fetch_add(1, Ordering::Relaxed);
                });
            }
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 100));
        }
    }

    #[test]
    fn a_worker_panic_reaches_the_caller() {
        let pool = SpinPool::new(2).expect("threads start");
        let r = catch_unwind(AssertUnwindSafe(|| pool.run(2, &|t| assert_ne!(t, 1))));
        assert!(r.is_err());
        // The pool still works afterwards.
        let n = AtomicUsize::new(0);
        pool.run(2, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn sleeping_workers_wake() {
        let pool = SpinPool::new(2).expect("threads start");
        std::thread::sleep(SPIN * 5);
        let n = AtomicUsize::new(0);
        pool.run(2, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 2);
    }
}
