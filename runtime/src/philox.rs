//! Philox 4x32-10 (Salmon et al., SC'11), the counter-based generator behind
//! every random number of a run. A draw is a pure function of (seed, stream,
//! element, step), so splitting work across threads or devices never changes
//! a result. Kernels draw through circ-math's program of the same Philox
//! (the same uniform bits; normals by its Box–Muller), which code
//! generators inline and vectorise.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// The Philox 4x32 block function with 10 rounds.
pub fn philox4x32_10(mut ctr: [u32; 4], mut key: [u32; 2]) -> [u32; 4] {
    for round in 0..10 {
        if round > 0 {
            key[0] = key[0].wrapping_add(W0);
            key[1] = key[1].wrapping_add(W1);
        }
        let p0 = u64::from(M0) * u64::from(ctr[0]);
        let p1 = u64::from(M1) * u64::from(ctr[2]);
        ctr = [
            ((p1 >> 32) as u32) ^ ctr[1] ^ key[0],
            p1 as u32,
            ((p0 >> 32) as u32) ^ ctr[3] ^ key[1],
            p0 as u32,
        ];
    }
    ctr
}

/// Four random words for (seed, stream, element, step).
pub fn words(seed: u64, stream: u32, element: u32, step: u64) -> [u32; 4] {
    philox4x32_10(
        [stream, element, step as u32, (step >> 32) as u32],
        [seed as u32, (seed >> 32) as u32],
    )
}

fn unit(hi: u32, lo: u32) -> f64 {
    // 53 random bits in [0, 1).
    (((u64::from(hi) << 32) | u64::from(lo)) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform number in [0, 1).
pub fn uniform(seed: u64, stream: u32, element: u32, step: u64) -> f64 {
    let w = words(seed, stream, element, step);
    unit(w[0], w[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // Known-answer vectors of the Random123 distribution (kat_vectors).
        assert_eq!(
            philox4x32_10([0, 0, 0, 0], [0, 0]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32_10([0xffff_ffff; 4], [0xffff_ffff; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    #[test]
    fn uniform_mean() {
        // Kernels' normal draws are circ-math's (tests/draws.rs there).
        let n = 100_000u32;
        let u: f64 = (0..n).map(|i| uniform(1, 0, i, 0)).sum::<f64>() / f64::from(n);
        assert!((u - 0.5).abs() < 0.01);
    }
}
