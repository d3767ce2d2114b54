//! A simulation split across processes ([`crate::comm`]): what the ranks
//! agree on while building, how a rank's synapses get their numbers in the
//! whole network, and the exchanges of a step and of the run's end.
//! Everything here is a no-op for one process.

use super::{Backend, BuildError, Estimate, RunError, Samples, Simulation, Wiring};
use crate::comm::Comm;
use crate::connect::Csr;
use crate::layout::{RecordKind, Space};
use crate::schedule::Op;

/// What one of `ranks` holds of a network estimated at `e`: every neuron's
/// state (each rank allocates whole populations, computes its block), a
/// share of the synapses and of the rings, the recordings on rank 0.
pub(super) fn per_rank(e: &Estimate, ranks: usize) -> Estimate {
    let r = ranks.max(1) as f64;
    Estimate {
        state: e.state,
        synapses: e.synapses / r,
        synapse_bytes: e.synapse_bytes / r,
        rings: e.rings,
        recordings: e.recordings,
    }
}

/// Every rank's outcome of a step of the build that may fail on some ranks
/// only: all go on, or all fail with the error of the lowest key (the
/// synapse the whole network would have stopped at) and then lowest rank.
pub(super) fn agree<T>(comm: &dyn Comm, mine: Result<T, (u64, String)>) -> Result<T, BuildError> {
    if comm.size() == 1 {
        return mine.map_err(|e| BuildError(e.1));
    }
    let (ok, err) = match mine {
        Ok(v) => (Some(v), None),
        Err((key, msg)) => (None, Some(([key, 0, 0, 0], msg.into_bytes()))),
    };
    match (crate::comm::first_of(comm, err), ok) {
        (None, Some(v)) => Ok(v),
        (Some(msg), _) => Err(BuildError(String::from_utf8_lossy(&msg).into_owned())),
        // Unreachable: this rank's own error is among the gathered.
        (None, None) => Err(BuildError("a rank failed".into())),
    }
}

/// Gives each of this rank's synapses its index in the whole projection
/// (synapses ordered by pre, then post: before a rank's synapses of row
/// `i` come every rank's of the rows before, then the earlier ranks' of
/// row `i`, whose targets are lower). Returns the whole projection's count.
pub(super) fn number_synapses(comm: &dyn Comm, csr: &mut Csr) -> usize {
    if comm.size() == 1 {
        return csr.len();
    }
    let mine: Vec<u64> = csr
        .offsets
        .windows(2)
        .map(|w| (w[1] - w[0]) as u64)
        .collect();
    let mut rows = mine.clone();
    comm.sum_u64(&mut rows);
    let mut before = mine;
    comm.exscan_u64(&mut before);
    let mut keys = Vec::with_capacity(csr.len());
    let mut start = 0u64;
    for (i, w) in csr.offsets.windows(2).enumerate() {
        let first = start + before[i];
        // Keys are 32 bits, as one process's synapse indices are.
        keys.extend((0..(w[1] - w[0]) as u64).map(|q| (first + q) as u32));
        start += rows[i];
    }
    csr.keys = keys;
    start as usize
}

/// The whole projection's shortest and longest delay in steps (`None`
/// when it has no synapses).
pub(super) fn delay_range(comm: &dyn Comm, steps: &[u32]) -> (Option<u32>, Option<u32>) {
    let low = steps
        .iter()
        .copied()
        .min()
        .map_or(i64::MIN, |d| -i64::from(d));
    let high = steps.iter().copied().max().map_or(-1, i64::from);
    let (low, high) = (comm.max_i64(low), comm.max_i64(high));
    if high < 0 {
        (None, None)
    } else {
        (Some((-low) as u32), Some(high as u32))
    }
}

/// Appends a rank's sorted spikes `list` of its block `(lo, hi)`: a count
/// and the indices, or, when that is longer (more than one neuron in 32
/// spiking), the high bit and the count, then the block as a bitmap.
fn encode(out: &mut Vec<u32>, list: &[u32], (lo, hi): (usize, usize)) {
    let words = hi.saturating_sub(lo).div_ceil(32);
    if list.len() > words {
        out.push(0x8000_0000 | list.len() as u32);
        let at = out.len();
        out.resize(at + words, 0);
        for &i in list {
            let b = i as usize - lo;
            out[at + b / 32] |= 1 << (b % 32);
        }
    } else {
        out.push(list.len() as u32);
        out.extend_from_slice(list);
    }
}

/// Reads what [`encode`] wrote at `*at` for the block `block`, appending
/// the spikes to `out` in increasing order.
fn decode(all: &[u32], at: &mut usize, block: std::ops::Range<usize>, out: &mut Vec<u32>) {
    let head = all.get(*at).copied().unwrap_or(0);
    *at += 1;
    if head & 0x8000_0000 != 0 {
        let words = block.len().div_ceil(32);
        for (w, &bits) in all[(*at).min(all.len())..(*at + words).min(all.len())]
            .iter()
            .enumerate()
        {
            let mut bits = bits;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                out.push((block.start + w * 32 + b) as u32);
                bits &= bits - 1;
            }
        }
        *at += words;
    } else {
        let n = head as usize;
        let end = (*at + n).min(all.len());
        out.extend_from_slice(&all[(*at).min(end)..end]);
        *at = end;
    }
}

/// This rank's part of a sorted list of a population's elements.
pub(super) fn own_slice(list: &[u32], (lo, hi): (usize, usize)) -> &[u32] {
    let a = list.partition_point(|&i| (i as usize) < lo);
    let b = list.partition_point(|&i| (i as usize) < hi);
    &list[a..b]
}

/// What a step split across processes keeps between its operations.
pub(super) struct Exchange {
    /// Whether the network is split (else nothing here is used).
    pub split: bool,
    /// Per population: whether its spikes of this step so far are this
    /// rank's alone (not exchanged yet).
    local: Vec<bool>,
    /// Per population, per variable: whether this rank holds every
    /// element's current value (brought from their owners).
    fresh: Vec<Vec<bool>>,
    /// Per projection: the presynaptic variables its kernels read.
    reads: Vec<Vec<usize>>,
    /// Whether this step exchanged spikes.
    exchanged: bool,
    /// The signal this rank heard at the start of the step.
    pub heard: i32,
    /// The largest signal any rank had heard at the last exchange.
    pub signal: i32,
    /// The time spent in exchanges so far.
    pub time: std::time::Duration,
    /// Whether spikes wait for an exchange every few steps (the whole
    /// network's shortest delay D is 2 steps or more), instead of being
    /// exchanged every step before the first delivery.
    pub deferred: bool,
    /// Steps between exchanges: with `deferred`, half of D (rounded down),
    /// so that an epoch's spikes travel while the next epoch computes and
    /// are entered before any is due; else 1.
    pub epoch: u64,
    /// The room, in words, of each rank's part of an overlapped exchange
    /// (all parts of a nonblocking all-gather have one length).
    pub cap: usize,
    /// With an epoch of several steps: each step's own spikes since the
    /// last exchange, per population.
    pub buffer: Vec<(u64, Vec<Vec<u32>>)>,
}

impl Exchange {
    /// `words` in a frame of [`Exchange::cap`] words: their count, then as
    /// many as fit.
    pub(super) fn frame(&self, words: &[u32]) -> Vec<u32> {
        let mut out = vec![0u32; self.cap];
        out[0] = words.len() as u32;
        let n = words.len().min(self.cap - 1);
        out[1..=n].copy_from_slice(&words[..n]);
        out
    }

    /// The exchanges of `sim`'s steps on `backend`.
    pub(super) fn new(sim: &Simulation<'_>, backend: &dyn Backend) -> Exchange {
        let layout = sim.layout;
        // The whole network's shortest delay, in steps (an empty projection
        // enters spikes at once: one delay, 0); one process never waits.
        let shortest = if sim.comm.size() > 1 {
            let d = sim.s.projs.iter().map(|st| st.min_delay.unwrap_or(0)).min();
            u64::from(d.unwrap_or(0))
        } else {
            0
        };
        Exchange {
            split: sim.comm.size() > 1,
            local: vec![false; layout.pops.len()],
            fresh: layout
                .pops
                .iter()
                .map(|p| vec![false; p.vars.len()])
                .collect(),
            // One process reads its own values: nothing to bring.
            reads: (0..layout.projs.len())
                .filter(|_| sim.comm.size() > 1)
                .map(|k| {
                    backend.pre_reads(k).unwrap_or_else(|| {
                        (0..layout.pops[layout.projs[k].pre].vars.len()).collect()
                    })
                })
                .collect(),
            exchanged: false,
            heard: 0,
            signal: 0,
            time: std::time::Duration::ZERO,
            deferred: shortest >= 2,
            epoch: if shortest >= 2 { shortest / 2 } else { 1 },
            cap: 256,
            buffer: vec![],
        }
    }
}

impl Simulation<'_> {
    /// Before operation `op` of a split step: spikes that a delivery
    /// needs come from every rank; presynaptic values a projection reads
    /// come from their owners; what the operation changes is marked.
    pub(super) fn before_op(
        &mut self,
        _backend: &dyn Backend,
        op: Op,
        spiking: &mut [Vec<u32>],
        x: &mut Exchange,
    ) {
        match op {
            Op::ZeroInputs(p)
            | Op::Dynamic(p)
            | Op::PopStep(p)
            | Op::Update(p)
            | Op::Reset(p)
            | Op::ApplyEvents(p) => x.fresh[p].fill(false),
            Op::Couple(k) => {
                self.bring_pre(k, x);
                x.fresh[self.layout.projs[k].post].fill(false);
            }
            Op::ProjDynamic(k) | Op::ProjUpdate(k) | Op::OnPost(k) => self.bring_pre(k, x),
            Op::Deliver(k) => {
                if !x.deferred && x.local[self.layout.projs[k].pre] {
                    self.exchange(spiking, x);
                }
                self.bring_pre(k, x);
            }
            Op::Threshold(_) | Op::Poisson(_) | Op::Scheduled(_) => {}
        }
    }

    /// After operation `op` of a split step: a population's new spikes are
    /// this rank's own until exchanged (a backend that computed more gave
    /// others too: they are its owners' to give).
    pub(super) fn after_op(&mut self, op: Op, spiking: &mut [Vec<u32>], x: &mut Exchange) {
        if let Op::Threshold(p) | Op::PopStep(p) | Op::Poisson(p) | Op::Scheduled(p) = op {
            let (lo, hi) = self.own[p];
            spiking[p].retain(|&i| (lo..hi).contains(&(i as usize)));
            x.local[p] = true;
            x.fresh[p].fill(false);
        }
    }

    /// The end of a split step: the spikes not exchanged yet (every step
    /// exchanges once at least, which carries the signals heard).
    pub(super) fn end_step(&mut self, spiking: &mut [Vec<u32>], x: &mut Exchange) {
        if !x.exchanged || x.local.iter().any(|&l| l) {
            self.exchange(spiking, x);
        }
        x.exchanged = false;
    }

    /// Every rank's spikes of the populations whose lists are local, in
    /// rank order (so in element order), and the largest signal heard.
    fn exchange(&mut self, spiking: &mut [Vec<u32>], x: &mut Exchange) {
        let pops: Vec<usize> = (0..spiking.len()).filter(|&p| x.local[p]).collect();
        let mut mine = vec![x.heard.max(0) as u32];
        for &p in &pops {
            encode(&mut mine, &spiking[p], self.own[p]);
        }
        let t0 = std::time::Instant::now();
        let all = self.comm.all_gather_u32(&mine);
        x.time += t0.elapsed();
        for &p in &pops {
            spiking[p].clear();
        }
        let (mut at, mut signal) = (0, 0i32);
        // Each rank's part has the same shape: a signal, then per
        // population its spikes.
        for r in 0..self.comm.size() {
            signal = signal.max(all.get(at).copied().unwrap_or(0) as i32);
            at += 1;
            for &p in &pops {
                let b = crate::comm::block(self.layout.pops[p].size, r, self.comm.size());
                decode(&all, &mut at, b, &mut spiking[p]);
            }
        }
        for &p in &pops {
            x.local[p] = false;
        }
        x.signal = x.signal.max(signal);
        x.exchanged = true;
    }

    /// Brings the presynaptic values projection `k` reads up to date from
    /// the ranks that compute them.
    fn bring_pre(&mut self, k: usize, x: &mut Exchange) {
        let p = self.layout.projs[k].pre;
        let (lo, hi) = self.own[p];
        for &v in &x.reads[k] {
            if x.fresh[p].get(v).copied().unwrap_or(true) {
                continue;
            }
            let scalar = self.layout.pops[p].vars.get(v).is_none_or(|var| var.scalar);
            let buf = &mut self.s.vars[p][v];
            // One value for all: every rank computes it.
            if !scalar {
                let t0 = std::time::Instant::now();
                let all = self
                    .comm
                    .all_gather_f64(&buf[lo.min(buf.len())..hi.min(buf.len())]);
                x.time += t0.elapsed();
                if all.len() == buf.len() {
                    buf.copy_from_slice(&all);
                }
            }
            x.fresh[p][v] = true;
        }
    }

    /// [`Simulation::check_finite`] across processes: every rank gets the
    /// first place the whole network's search finds, or none.
    pub(super) fn check_finite_everywhere(&self, t: f64) -> Option<RunError> {
        if self.comm.size() == 1 {
            return self.check_finite(t);
        }
        let mine = self.first_not_finite(t).map(|(key, e)| {
            let RunError::NotFinite {
                place, var, value, ..
            } = e
            else {
                unreachable!("the search finds values")
            };
            let mut b = value.to_bits().to_le_bytes().to_vec();
            b.extend_from_slice(place.as_bytes());
            b.push(0);
            b.extend_from_slice(var.as_bytes());
            (key, b)
        });
        let b = crate::comm::first_of(self.comm, mine)?;
        let value = f64::from_bits(u64::from_le_bytes(b.get(..8)?.try_into().ok()?));
        let text = String::from_utf8_lossy(&b[8..]).into_owned();
        let (place, var) = text.split_once('\0')?;
        Some(RunError::NotFinite {
            place: place.into(),
            var: var.into(),
            value,
            t,
        })
    }

    /// This rank's message of the steps `steps` (its own spikes): the
    /// signal heard, then per step and population the spikes.
    pub(super) fn pack(&self, steps: &[(u64, Vec<Vec<u32>>)], x: &Exchange) -> Vec<u32> {
        let mut mine = vec![x.heard.max(0) as u32];
        for (_, lists) in steps {
            for (p, list) in lists.iter().enumerate() {
                encode(&mut mine, list, self.own[p]);
            }
        }
        mine
    }

    /// Every rank's spikes of the steps since the last exchange, at once
    /// (a stop, the run's end).
    pub(super) fn flush(
        &mut self,
        x: &mut Exchange,
        result: &mut super::RunResult,
        rate_counts: &mut [u64],
        dt: f64,
    ) {
        let steps = std::mem::take(&mut x.buffer);
        let mine = self.pack(&steps, x);
        let t0 = std::time::Instant::now();
        let all = self.comm.all_gather_u32(&mine);
        x.time += t0.elapsed();
        self.receive(&all, steps, x, result, rate_counts, dt);
    }

    /// From every rank's message (in rank order, one after another): the
    /// signals heard, and the spikes of `steps`, entered into the delay
    /// rings (none is due yet: an epoch is at most half the shortest
    /// delay, and the last epoch is received before the next one starts)
    /// and recorded with their steps.
    pub(super) fn receive(
        &mut self,
        all: &[u32],
        steps: Vec<(u64, Vec<Vec<u32>>)>,
        x: &mut Exchange,
        result: &mut super::RunResult,
        rate_counts: &mut [u64],
        dt: f64,
    ) {
        let npop = self.layout.pops.len();
        let mut global: Vec<Vec<Vec<u32>>> = steps.iter().map(|_| vec![vec![]; npop]).collect();
        let (mut at, size) = (0, self.comm.size());
        for r in 0..size {
            x.signal = x.signal.max(all.get(at).copied().unwrap_or(0) as i32);
            at += 1;
            for lists in &mut global {
                for (p, list) in lists.iter_mut().enumerate() {
                    let b = crate::comm::block(self.layout.pops[p].size, r, size);
                    decode(all, &mut at, b, list);
                }
            }
        }
        for ((n, _), lists) in steps.iter().zip(&global) {
            for k in 0..self.layout.projs.len() {
                let pre = self.layout.projs[k].pre;
                self.enter(k, *n, &lists[pre]);
            }
            for (p, fired) in lists.iter().enumerate() {
                result.spikes[p].extend(fired.iter().map(|&i| (*n, i)));
            }
            self.count_rates(*n, dt, lists, rate_counts, &mut result.samples);
        }
    }

    /// Every rank's `words` from what a gather of [`Exchange::frame`]s
    /// gave, in rank order, one after another: a message longer than the
    /// frames' room sends the rest in a second, blocking gather (and the
    /// room grows alike on every rank).
    pub(super) fn unframe(&self, all: &[u32], words: &[u32], x: &mut Exchange) -> Vec<u32> {
        let (cap, size) = (x.cap, self.comm.size());
        let lens: Vec<usize> = (0..size)
            .map(|r| all.get(r * cap).copied().unwrap_or(0) as usize)
            .collect();
        let room = cap - 1;
        let rest = if lens.iter().any(|&l| l > room) {
            let t0 = std::time::Instant::now();
            let rest = self.comm.all_gather_u32(words.get(room..).unwrap_or(&[]));
            x.time += t0.elapsed();
            let longest = lens.iter().copied().max().unwrap_or(0);
            x.cap = (longest + 1) * 5 / 4 + 16;
            rest
        } else {
            vec![]
        };
        let mut out = Vec::with_capacity(lens.iter().sum());
        let mut at_rest = 0;
        for (r, &len) in lens.iter().enumerate() {
            let head = len.min(room);
            out.extend_from_slice(&all[r * cap + 1..r * cap + 1 + head]);
            let more = len - head;
            out.extend_from_slice(&rest[at_rest..at_rest + more]);
            at_rest += more;
        }
        out
    }

    /// The length of projection `k`'s variable `v` in the whole network
    /// (a rank holds some of the synapses).
    pub(super) fn proj_var_len(&self, k: usize, v: usize) -> usize {
        let Some(st) = self.s.projs.get(k) else {
            return 0;
        };
        let here = st.vars.get(v).map_or(0, Vec::len);
        match self.layout.projs.get(k).and_then(|p| p.vars.get(v)) {
            Some(var) if var.space == Space::Syn && self.comm.size() > 1 => st.total,
            _ => here,
        }
    }

    /// For a recording of values split across processes: the (column,
    /// index in this rank's buffer) of the values this rank holds; `None`
    /// when every rank holds them all (one value, pre states) or the
    /// network is not split.
    pub(super) fn split_columns(&self, record: usize) -> Option<Vec<(usize, usize)>> {
        if self.comm.size() == 1 {
            return None;
        }
        let rec = self.layout.records.get(record)?;
        let block = |(lo, hi): (usize, usize), first: usize, last: usize| {
            (lo.max(first)..hi.min(last))
                .map(|i| (i - first, i))
                .collect::<Vec<_>>()
        };
        match rec.kind {
            RecordKind::Var {
                var, first, last, ..
            } => {
                let scalar = self.layout.pops.get(rec.pop)?.vars.get(var)?.scalar;
                (!scalar).then(|| block(self.own[rec.pop], first, last))
            }
            RecordKind::Synapses {
                proj,
                var,
                first,
                last,
                ..
            } => {
                let st = self.s.projs.get(proj)?;
                let layout = self.layout.projs.get(proj)?;
                let n = self.proj_var_len(proj, var);
                let (first, last) = (first.min(n), last.min(n));
                match layout.vars.get(var)?.space {
                    Space::PostState => Some(block(self.own[layout.post], first, last)),
                    Space::Syn => {
                        // Keys increase with the rank's synapses.
                        let keys = &st.csr.keys;
                        let a = keys.partition_point(|&g| (g as usize) < first);
                        let b = keys.partition_point(|&g| (g as usize) < last);
                        Some((a..b).map(|s| (keys[s] as usize - first, s)).collect())
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Gives rank 0 every rank's columns of the split recordings.
    pub(super) fn gather_samples(&self, samples: &mut [Samples]) {
        for (k, s) in samples.iter_mut().enumerate() {
            let Some(cols) = self.split_columns(k) else {
                continue;
            };
            let width = s.width;
            let rows = s.values.len().checked_div(width).unwrap_or(0);
            let mut mine = vec![cols.len() as f64];
            mine.extend(cols.iter().map(|c| c.0 as f64));
            for r in 0..rows {
                mine.extend(cols.iter().map(|c| s.values[r * width + c.0]));
            }
            let all = self.comm.gather_f64(&mine);
            let mut at = 0;
            while at < all.len() {
                let n = all[at] as usize;
                let cs: Vec<usize> = all[at + 1..at + 1 + n]
                    .iter()
                    .map(|&c| c as usize)
                    .collect();
                at += 1 + n;
                for r in 0..rows {
                    for (q, &c) in cs.iter().enumerate() {
                        s.values[r * width + c] = all[at + r * n + q];
                    }
                }
                at += rows * n;
            }
        }
    }

    /// Gives rank 0 the values every rank computed of every population's
    /// per-element variables and projections' post states (what the
    /// summary and a final state read).
    pub(super) fn gather_state(&mut self) {
        let comm = self.comm;
        for (p, vars) in self.s.vars.iter_mut().enumerate() {
            let (lo, hi) = self.own[p];
            let layout = &self.layout.pops[p].vars;
            for (_, buf) in vars
                .iter_mut()
                .enumerate()
                .filter(|(v, _)| layout.get(*v).is_some_and(|var| !var.scalar))
            {
                let all = comm.gather_f64(&buf[lo.min(buf.len())..hi.min(buf.len())]);
                if all.len() == buf.len() {
                    buf.copy_from_slice(&all);
                }
            }
        }
        for (k, st) in self.s.projs.iter_mut().enumerate() {
            let layout = &self.layout.projs[k];
            let (lo, hi) = self.own[layout.post];
            for (v, var) in layout.vars.iter().enumerate() {
                if var.space != Space::PostState {
                    continue;
                }
                let Some(buf) = st.vars.get_mut(v) else {
                    continue;
                };
                let all = comm.gather_f64(&buf[lo.min(buf.len())..hi.min(buf.len())]);
                if all.len() == buf.len() {
                    buf.copy_from_slice(&all);
                }
            }
        }
    }

    /// Rank 0's [`Wiring`] of projection `k` from every rank's `here`, in
    /// the whole projection's order.
    pub(super) fn gather_wiring(&self, k: usize, here: Wiring) -> Wiring {
        let keys = &self.s.projs[k].csr.keys;
        let mut mine = Vec::with_capacity(here.i.len() * 4);
        for (s, ((&i, &j), &d)) in here.i.iter().zip(&here.j).zip(&here.delay).enumerate() {
            mine.extend([
                f64::from(keys.get(s).copied().unwrap_or(0)),
                f64::from(i),
                f64::from(j),
                d,
            ]);
        }
        let all = self.comm.gather_f64(&mine);
        let mut rows: Vec<&[f64]> = all.chunks_exact(4).collect();
        rows.sort_by(|a, b| a[0].total_cmp(&b[0]));
        Wiring {
            i: rows.iter().map(|r| r[1] as u32).collect(),
            j: rows.iter().map(|r| r[2] as u32).collect(),
            delay: rows.iter().map(|r| r[3]).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spikes_read_back_as_lists_or_bitmaps() {
        // A block of 100 neurons from 37: few spikes go as a list, many
        // (more than one in 32) as a bitmap; both read back in order.
        let block = (37, 137);
        for list in [
            vec![],
            vec![37, 100, 136],
            (37..137).step_by(3).collect::<Vec<u32>>(),
            (37..137).collect(),
        ] {
            let mut words = vec![7];
            encode(&mut words, &list, block);
            encode(&mut words, &[40], block);
            let bitmap = list.len() > 4;
            assert_eq!(words[1] & 0x8000_0000 != 0, bitmap, "{list:?}");
            let (mut at, mut back, mut next) = (1, vec![], vec![]);
            decode(&words, &mut at, 37..137, &mut back);
            decode(&words, &mut at, 37..137, &mut next);
            assert_eq!(back, list);
            assert_eq!(next, vec![40]);
            assert_eq!(at, words.len());
        }
    }
}
