//! Connectivity: every rule of the language builds the same storage, a CSR
//! matrix by presynaptic neuron (synapses sorted by pre, then post), with an
//! index by postsynaptic neuron. Random rules draw from Philox keyed by the
//! projection's stream, so the network is the same for a seed whatever the
//! thread count.

use crate::philox;

/// Synapses of one projection.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Csr {
    /// Presynaptic neurons.
    pub n_pre: usize,
    /// Postsynaptic neurons.
    pub n_post: usize,
    /// Synapses of pre neuron `i` are `offsets[i]..offsets[i + 1]`.
    pub offsets: Vec<usize>,
    /// The postsynaptic neuron of each synapse.
    pub post: Vec<u32>,
    /// The presynaptic neuron of each synapse.
    pub pre: Vec<u32>,
    /// Synapses onto post neuron `j` are `by_post[by_post_offsets[j]..by_post_offsets[j + 1]]`.
    pub by_post_offsets: Vec<usize>,
    /// Synapse indices grouped by postsynaptic neuron (ascending within a group).
    pub by_post: Vec<u32>,
    /// When this holds a part of a projection's synapses (a network split
    /// across processes): each one's index among all of them, the key of
    /// its random draws and its number in recordings; empty when it holds
    /// them all (each synapse's index is its own).
    #[serde(default)]
    pub keys: Vec<u32>,
}

impl Csr {
    /// The number of synapses.
    pub fn len(&self) -> usize {
        self.post.len()
    }

    /// Whether there are no synapses.
    pub fn is_empty(&self) -> bool {
        self.post.is_empty()
    }

    /// Builds the storage from (pre, post) pairs (any order; duplicates kept:
    /// multapses are allowed by the file and fixed-total rules).
    pub fn from_pairs(n_pre: usize, n_post: usize, pairs: Vec<(u32, u32)>) -> Csr {
        // Pairs in (pre, post) order: a counting sort by pre (stable), then
        // each presynaptic neuron's targets sorted where the rule did not
        // already give them in order (most rules do). Linear in the pairs.
        let mut offsets = vec![0usize; n_pre + 1];
        for &(i, _) in &pairs {
            offsets[i as usize + 1] += 1;
        }
        for i in 0..n_pre {
            offsets[i + 1] += offsets[i];
        }
        let mut post = vec![0u32; pairs.len()];
        let mut fill = offsets.clone();
        for &(i, j) in &pairs {
            post[fill[i as usize]] = j;
            fill[i as usize] += 1;
        }
        drop(pairs);
        let mut pre = vec![0u32; post.len()];
        for i in 0..n_pre {
            let seg = &mut post[offsets[i]..offsets[i + 1]];
            if !seg.is_sorted() {
                seg.sort_unstable();
            }
            pre[offsets[i]..offsets[i + 1]].fill(i as u32);
        }
        let mut by_post_offsets = vec![0usize; n_post + 1];
        for &j in &post {
            by_post_offsets[j as usize + 1] += 1;
        }
        for j in 0..n_post {
            by_post_offsets[j + 1] += by_post_offsets[j];
        }
        let mut fill = by_post_offsets.clone();
        let mut by_post = vec![0u32; post.len()];
        for (s, &j) in post.iter().enumerate() {
            by_post[fill[j as usize]] = s as u32;
            fill[j as usize] += 1;
        }
        Csr {
            n_pre,
            n_post,
            offsets,
            post,
            pre,
            by_post_offsets,
            by_post,
            keys: vec![],
        }
    }
}

/// A connection rule with its arguments evaluated.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Rule {
    /// Every pair.
    AllToAll,
    /// `i` to `i`.
    OneToOne,
    /// Each pair with probability `p`.
    Bernoulli(f64),
    /// `k` distinct sources for each target.
    FixedIndegree(u64),
    /// `k` distinct targets for each source.
    FixedOutdegree(u64),
    /// `n` distinct pairs.
    FixedTotal(u64),
    /// Given pairs (from a matrix or an edge file), already validated.
    Pairs(Vec<(u32, u32)>),
}

/// Why connectivity could not be built.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConnectError(pub String);

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a rule needs to know about where it connects.
#[derive(Clone, Copy, Debug)]
pub struct Ends {
    /// Presynaptic population size.
    pub n_pre: usize,
    /// Postsynaptic population size.
    pub n_post: usize,
    /// Whether source and target are the same population (autapses matter).
    pub same: bool,
    /// Whether `i == j` is allowed within one population.
    pub autapses: bool,
}

impl Ends {
    fn allowed(&self, i: u32, j: u32) -> bool {
        self.autapses || !self.same || i != j
    }
}

/// Draws `k` distinct values from `0..n` except `skip` (Floyd's algorithm on
/// Philox draws keyed by `element`), sorted.
fn sample_distinct(
    seed: u64,
    stream: u32,
    element: u32,
    n: u64,
    k: u64,
    skip: Option<u32>,
) -> Vec<u32> {
    let m = if skip.is_some() { n - 1 } else { n };
    let mut chosen: Vec<u64> = Vec::with_capacity(k as usize);
    // Floyd's algorithm; membership in a bit set when it is small enough
    // (the same picks as a hash set, far faster), else a hash set.
    let mut bits: Vec<u64> = if m <= 1 << 26 {
        vec![0; (m as usize).div_ceil(64)]
    } else {
        vec![]
    };
    let mut set = std::collections::HashSet::new();
    for (draw, t) in ((m - k)..m).enumerate() {
        let u = philox::uniform(seed, stream, element, draw as u64);
        let r = ((u * (t + 1) as f64) as u64).min(t);
        let pick = if bits.is_empty() {
            let p = if set.contains(&r) { t } else { r };
            set.insert(p);
            p
        } else {
            let taken = |x: u64| bits[(x / 64) as usize] >> (x % 64) & 1 == 1;
            let p = if taken(r) { t } else { r };
            bits[(p / 64) as usize] |= 1 << (p % 64);
            p
        };
        chosen.push(pick);
    }
    let mut out: Vec<u32> = chosen
        .into_iter()
        .map(|x| match skip {
            Some(s) if x >= u64::from(s) => (x + 1) as u32,
            _ => x as u32,
        })
        .collect();
    out.sort_unstable();
    out
}

/// Refuses a rule that cannot be met between populations `ends` (what
/// `circ check` can tell before anything is drawn).
pub fn validate(rule: &Rule, ends: Ends) -> Result<(), ConnectError> {
    let (np, nq) = (ends.n_pre, ends.n_post);
    let excluded = |avail: usize| {
        if ends.same && !ends.autapses {
            avail.saturating_sub(1)
        } else {
            avail
        }
    };
    match rule {
        Rule::AllToAll => {
            let total = np as u128 * nq as u128;
            if total > 2_000_000_000 {
                return Err(ConnectError(format!(
                    "all_to_all between {np} and {nq} neurons makes {total} synapses, more than this machine can hold"
                )));
            }
        }
        Rule::OneToOne if np != nq => {
            return Err(ConnectError(format!(
                "one_to_one needs populations of one size, but they have {np} and {nq} neurons"
            )));
        }
        Rule::Bernoulli(p) if !(0.0..=1.0).contains(p) => {
            return Err(ConnectError(format!(
                "a connection probability must be between 0 and 1, but it is {p}"
            )));
        }
        Rule::FixedIndegree(k) if *k > excluded(np) as u64 => {
            return Err(ConnectError(format!(
                "fixed_indegree({k}) needs {k} distinct sources per neuron, but only {} are available",
                excluded(np)
            )));
        }
        Rule::FixedOutdegree(k) if *k > excluded(nq) as u64 => {
            return Err(ConnectError(format!(
                "fixed_outdegree({k}) needs {k} distinct targets per neuron, but only {} are available",
                excluded(nq)
            )));
        }
        Rule::FixedTotal(n) => {
            let possible = np as u128 * nq as u128
                - if ends.same && !ends.autapses {
                    np.min(nq) as u128
                } else {
                    0
                };
            if u128::from(*n) > possible {
                return Err(ConnectError(format!(
                    "fixed_total({n}) asks for more distinct pairs than the {possible} there are"
                )));
            }
        }
        Rule::Pairs(list) => {
            if let Some((i, j)) = list
                .iter()
                .find(|(i, j)| (*i as usize) >= np || (*j as usize) >= nq)
            {
                return Err(ConnectError(format!(
                    "the pair ({i}, {j}) is outside populations of {np} and {nq} neurons"
                )));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Builds the synapses of `rule` between `ends`; `filter(i, j)` keeps a pair
/// (a `where` condition). Errors say what is impossible, in numbers.
pub fn build(
    rule: &Rule,
    ends: Ends,
    seed: u64,
    stream: u32,
    filter: &dyn Fn(u32, u32) -> bool,
) -> Result<Csr, ConnectError> {
    build_onto(rule, ends, seed, stream, filter, 0..ends.n_post as u32)
}

/// [`build`] for the targets `posts` only (a rank's block; `filter` must
/// refuse the others): the same synapses onto them, and rules that draw
/// per target draw for these alone.
pub fn build_onto(
    rule: &Rule,
    ends: Ends,
    seed: u64,
    stream: u32,
    filter: &dyn Fn(u32, u32) -> bool,
    posts: std::ops::Range<u32>,
) -> Result<Csr, ConnectError> {
    validate(rule, ends)?;
    let (np, nq) = (ends.n_pre, ends.n_post);
    let mut pairs: Vec<(u32, u32)> = vec![];
    let keep = |i: u32, j: u32| ends.allowed(i, j) && filter(i, j);
    match rule {
        Rule::AllToAll => {
            for i in 0..np as u32 {
                for j in posts.clone() {
                    if keep(i, j) {
                        pairs.push((i, j));
                    }
                }
            }
        }
        Rule::OneToOne => {
            for i in 0..np as u32 {
                if filter(i, i) && (ends.autapses || !ends.same) {
                    pairs.push((i, i));
                }
            }
        }
        Rule::Bernoulli(p) => {
            if *p > 0.0 {
                // Skip ahead by geometric gaps: work in proportion to the synapses made.
                let log_q = (1.0 - p).ln();
                for i in 0..np as u32 {
                    let mut j: i64 = -1;
                    let mut draw = 0u64;
                    loop {
                        let gap = if *p >= 1.0 {
                            1
                        } else {
                            let u = 1.0 - philox::uniform(seed, stream, i, draw);
                            draw += 1;
                            (u.ln() / log_q).floor() as i64 + 1
                        };
                        j = j.saturating_add(gap.max(1));
                        if j >= nq as i64 {
                            break;
                        }
                        if keep(i, j as u32) {
                            pairs.push((i, j as u32));
                        }
                    }
                }
            }
        }
        Rule::FixedIndegree(k) => {
            let avail = if ends.same && !ends.autapses {
                np.saturating_sub(1)
            } else {
                np
            } as u64;
            for j in posts {
                let skip = (ends.same && !ends.autapses && (j as usize) < np).then_some(j);
                let n = if skip.is_some() { avail + 1 } else { avail };
                for i in sample_distinct(seed, stream, j, n, *k, skip) {
                    if filter(i, j) {
                        pairs.push((i, j));
                    }
                }
            }
        }
        Rule::FixedOutdegree(k) => {
            let avail = if ends.same && !ends.autapses {
                nq.saturating_sub(1)
            } else {
                nq
            } as u64;
            for i in 0..np as u32 {
                let skip = (ends.same && !ends.autapses && (i as usize) < nq).then_some(i);
                let n = if skip.is_some() { avail + 1 } else { avail };
                for j in sample_distinct(seed, stream, i, n, *k, skip) {
                    if filter(i, j) {
                        pairs.push((i, j));
                    }
                }
            }
        }
        Rule::FixedTotal(n) => {
            let mut seen = std::collections::HashSet::new();
            let mut draw = 0u64;
            while (seen.len() as u64) < *n {
                let w = philox::words(seed, stream, 0, draw);
                draw += 1;
                let i = ((u64::from(w[0]) * np as u64) >> 32) as u32;
                let j = ((u64::from(w[1]) * nq as u64) >> 32) as u32;
                if ends.allowed(i, j) && seen.insert((i, j)) && filter(i, j) {
                    pairs.push((i, j));
                }
            }
        }
        Rule::Pairs(list) => {
            for &(i, j) in list {
                if keep(i, j) {
                    pairs.push((i, j));
                }
            }
        }
    }
    Ok(Csr::from_pairs(np, nq, pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENDS: Ends = Ends {
        n_pre: 400,
        n_post: 300,
        same: false,
        autapses: false,
    };
    fn all(_: u32, _: u32) -> bool {
        true
    }

    #[test]
    fn bernoulli_has_the_expected_count_and_is_reproducible() {
        let a = build(&Rule::Bernoulli(0.1), ENDS, 1, 7, &all).expect("build");
        let expect = 0.1 * 400.0 * 300.0;
        assert!(
            (a.len() as f64 - expect).abs() < 4.0 * (expect * 0.9f64).sqrt(),
            "{}",
            a.len()
        );
        assert_eq!(
            a,
            build(&Rule::Bernoulli(0.1), ENDS, 1, 7, &all).expect("build")
        );
        assert_ne!(
            a,
            build(&Rule::Bernoulli(0.1), ENDS, 2, 7, &all).expect("build")
        );
        assert_eq!(
            build(&Rule::Bernoulli(1.0), ENDS, 1, 7, &all)
                .expect("build")
                .len(),
            120_000
        );
        assert!(build(&Rule::Bernoulli(1.5), ENDS, 1, 7, &all).is_err());
    }

    #[test]
    fn degrees_are_exact_and_autapses_excluded() {
        let same = Ends {
            n_pre: 50,
            n_post: 50,
            same: true,
            autapses: false,
        };
        let c = build(&Rule::FixedIndegree(10), same, 3, 1, &all).expect("build");
        for j in 0..50 {
            let srcs: Vec<u32> = c.by_post[c.by_post_offsets[j]..c.by_post_offsets[j + 1]]
                .iter()
                .map(|&s| c.pre[s as usize])
                .collect();
            assert_eq!(srcs.len(), 10);
            assert!(!srcs.contains(&(j as u32)));
            let mut d = srcs.clone();
            d.dedup();
            assert_eq!(d.len(), 10, "duplicate sources");
        }
        let c = build(&Rule::FixedOutdegree(49), same, 3, 1, &all).expect("build");
        assert_eq!(c.len(), 50 * 49);
        assert!(c.pre.iter().zip(&c.post).all(|(i, j)| i != j));
        assert!(build(&Rule::FixedIndegree(50), same, 3, 1, &all).is_err());
        let c = build(&Rule::FixedTotal(500), same, 3, 1, &all).expect("build");
        assert_eq!(c.len(), 500);
        let one = build(
            &Rule::OneToOne,
            Ends {
                autapses: true,
                ..same
            },
            0,
            0,
            &all,
        )
        .expect("build");
        assert_eq!(one.len(), 50);
        assert!(build(&Rule::OneToOne, ENDS, 0, 0, &all).is_err());
    }

    #[test]
    fn filters_and_pairs() {
        let c = build(&Rule::AllToAll, ENDS, 0, 0, &|i, j| i == 2 * j).expect("build");
        assert_eq!(c.len(), 200);
        let c = build(&Rule::Pairs(vec![(3, 1), (0, 2), (3, 0)]), ENDS, 0, 0, &all).expect("build");
        assert_eq!(
            (c.pre.clone(), c.post.clone()),
            (vec![0, 3, 3], vec![2, 0, 1])
        );
        assert_eq!(c.offsets[4] - c.offsets[3], 2);
        assert!(build(&Rule::Pairs(vec![(400, 0)]), ENDS, 0, 0, &all).is_err());
    }
}
