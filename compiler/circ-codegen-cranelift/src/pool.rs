//! A pool of worker threads that wait for work by spinning, then sleeping.
//!
//! A step hands work to the threads several times (each split kernel), a
//! few microseconds each. Waking a sleeping thread costs tens of
//! microseconds on a virtual machine, more than the work: Brunel's
//! deliveries on 2 threads took 3.4 s with a pool whose workers sleep at
//! once (rayon), against 2.4 s on one thread. Workers here spin for about a
//! millisecond after each job (OpenMP's active wait, as NEST runs), and sleep
//! only when the simulation has stopped handing out work.

use std::cell::UnsafeCell;
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
    /// Bumped once per job; workers run the job when it changes.
    epoch: AtomicU64,
    /// The current job and its number of tasks, written only while no
    /// worker reads them (between a job's end and the next epoch).
    job: UnsafeCell<(Job, usize)>,
    /// Workers still running the current job.
    pending: AtomicUsize,
    /// Whether a task of the current job panicked on a worker.
    panicked: AtomicBool,
    /// Workers asleep on `wake`.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    stop: AtomicBool,
}

// SAFETY: `job` is written by the one thread that runs jobs (`run` takes
// `&self` but `SpinPool` is not `Sync`), only while every worker is between
// jobs; workers read it after observing the epoch written after it.
#[allow(unsafe_code)]
unsafe impl Sync for Shared {}
#[allow(unsafe_code)]
unsafe impl Send for Shared {}

/// Worker threads plus the calling thread, for one job at a time.
pub struct SpinPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// `run` is not reentrant and must stay on one thread.
    _not_sync: std::marker::PhantomData<std::cell::Cell<()>>,
}

impl SpinPool {
    /// A pool of `threads` threads in all: the caller and `threads - 1` workers.
    pub fn new(threads: usize) -> std::io::Result<SpinPool> {
        let noop: &(dyn Fn(usize) + Sync) = &|_| {};
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            job: UnsafeCell::new((noop as Job, 0)),
            pending: AtomicUsize::new(0),
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
                .spawn(move || worker(&shared, w, threads))?;
            workers.push(handle);
        }
        Ok(SpinPool {
            shared,
            workers,
            _not_sync: std::marker::PhantomData,
        })
    }

    /// Threads in all, the caller's included.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `f(t)` for every task `t` in `0..tasks`: thread `w` takes tasks
    /// `w, w + threads, ...`, the caller those from 0. Returns when all are
    /// done; a panic in any task is raised here after all are done.
    pub fn run(&self, tasks: usize, f: &(dyn Fn(usize) + Sync)) {
        let threads = self.threads();
        if tasks <= 1 || threads == 1 {
            (0..tasks).for_each(f);
            return;
        }
        let sh = &*self.shared;
        // SAFETY: every worker finished the previous job (`pending` was 0),
        // and this call waits for every worker to finish this one before
        // returning, so `f` outlives all uses of the pointer.
        #[allow(unsafe_code)]
        unsafe {
            let job: Job = std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(f);
            *sh.job.get() = (job, tasks);
        }
        sh.pending.store(self.workers.len(), Ordering::SeqCst);
        sh.epoch.fetch_add(1, Ordering::SeqCst);
        if sh.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = sh.lock.lock().unwrap_or_else(|e| e.into_inner());
            sh.wake.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| {
            (0..tasks).step_by(threads).for_each(f);
        }));
        let mut spins = 0u32;
        while sh.pending.load(Ordering::Acquire) != 0 {
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

impl Drop for SpinPool {
    fn drop(&mut self) {
        let sh = &*self.shared;
        sh.stop.store(true, Ordering::SeqCst);
        sh.epoch.fetch_add(1, Ordering::SeqCst);
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

fn worker(sh: &Shared, w: usize, threads: usize) {
    let mut seen = 0u64;
    loop {
        // Wait for the next epoch: spin, then sleep.
        let started = Instant::now();
        let mut spins = 0u32;
        loop {
            if sh.epoch.load(Ordering::Acquire) != seen {
                break;
            }
            if spins % 256 == 255 && started.elapsed() > SPIN {
                let mut guard = sh.lock.lock().unwrap_or_else(|e| e.into_inner());
                sh.sleepers.fetch_add(1, Ordering::SeqCst);
                while sh.epoch.load(Ordering::SeqCst) == seen {
                    guard = sh.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
                sh.sleepers.fetch_sub(1, Ordering::SeqCst);
                break;
            }
            pause(&mut spins);
        }
        seen = sh.epoch.load(Ordering::Acquire);
        if sh.stop.load(Ordering::SeqCst) {
            return;
        }
        // SAFETY: written before the epoch this thread observed; the caller
        // keeps the job alive until `pending` reaches 0.
        #[allow(unsafe_code)]
        let f = unsafe { &*(*sh.job.get()).0 };
        #[allow(unsafe_code)]
        let tasks = unsafe { (*sh.job.get()).1 };
        let done = catch_unwind(AssertUnwindSafe(|| {
            (w..tasks).step_by(threads).for_each(f);
        }));
        if done.is_err() {
            sh.panicked.store(true, Ordering::SeqCst);
        }
        sh.pending.fetch_sub(1, Ordering::Release);
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
