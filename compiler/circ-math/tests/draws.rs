//! Random draws as math: Philox 4x32-10 and its transforms written once
//! (`circ_math::draw`) give the reference Philox's words, the runtime's
//! uniform, normals with the right moments, and the same bits as the
//! recorded program that code generators inline.

use circ_math::{Draw, eval_draw, program_draw};

/// The reference Philox 4x32-10 (as `circ_runtime::philox`), on u32 words.
fn philox(mut ctr: [u32; 4], mut key: [u32; 2]) -> [u32; 4] {
    for round in 0..10 {
        if round > 0 {
            key[0] = key[0].wrapping_add(0x9E37_79B9);
            key[1] = key[1].wrapping_add(0xBB67_AE85);
        }
        let p0 = u64::from(0xD251_1F53u32) * u64::from(ctr[0]);
        let p1 = u64::from(0xCD9E_8D57u32) * u64::from(ctr[2]);
        ctr = [
            ((p1 >> 32) as u32) ^ ctr[1] ^ key[0],
            p1 as u32,
            ((p0 >> 32) as u32) ^ ctr[3] ^ key[1],
            p0 as u32,
        ];
    }
    ctr
}

fn uniform(seed: u64, stream: u32, element: u32, step: u64) -> f64 {
    let w = philox(
        [stream, element, step as u32, (step >> 32) as u32],
        [seed as u32, (seed >> 32) as u32],
    );
    (((u64::from(w[0]) << 32) | u64::from(w[1])) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Keys that reach every word: large seeds and steps, all-ones elements.
fn keys() -> Vec<(u64, u32, u32, u64)> {
    let mut k = vec![
        (0, 0, 0, 0),
        (u64::MAX, u32::MAX, u32::MAX, u64::MAX),
        (0x243f_6a88_85a3_08d3, 7, 12345, 1 << 40),
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        k.push((
            x,
            (x >> 7) as u32,
            (x >> 19) as u32,
            x.rotate_left(23) >> (x % 40),
        ));
    }
    k
}

#[test]
fn the_reference_philox_has_its_known_answers() {
    assert_eq!(
        philox([0, 0, 0, 0], [0, 0]),
        [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
    );
    assert_eq!(
        philox([0xffff_ffff; 4], [0xffff_ffff; 2]),
        [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
    );
}

#[test]
fn uniform_draws_are_the_reference_ones_bit_for_bit() {
    for (seed, stream, element, step) in keys() {
        let got = eval_draw(Draw::Uniform, seed, stream, element, step);
        let want = uniform(seed, stream, element, step);
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "{seed:x} {stream} {element} {step}"
        );
        assert!((0.0..1.0).contains(&got));
    }
}

#[test]
fn the_recorded_programs_give_the_same_bits() {
    for d in [Draw::Uniform, Draw::Normal] {
        let p = program_draw(d);
        for (seed, stream, element, step) in keys().into_iter().take(3000) {
            let args = [
                f64::from_bits(seed),
                f64::from_bits(u64::from(stream)),
                f64::from_bits(u64::from(element)),
                f64::from_bits(step),
            ];
            assert_eq!(
                p.eval(&args).to_bits(),
                eval_draw(d, seed, stream, element, step).to_bits(),
                "{d:?} {seed:x} {stream} {element} {step}"
            );
        }
    }
}

#[test]
fn normal_draws_have_mean_zero_and_variance_one() {
    let n = 200_000u32;
    let (mut s, mut s2, mut s4) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let x = eval_draw(Draw::Normal, 7, 3, i, 11);
        assert!(x.is_finite());
        s += x;
        s2 += x * x;
        s4 += x * x * x * x;
    }
    let n = f64::from(n);
    let (mean, var) = (s / n, s2 / n - (s / n).powi(2));
    assert!(mean.abs() < 0.01, "mean {mean}");
    assert!((var - 1.0).abs() < 0.01, "variance {var}");
    // Normal, not just unit variance: the fourth moment is 3.
    assert!((s4 / n - 3.0).abs() < 0.06, "fourth moment {}", s4 / n);
}

#[test]
fn normal_draws_are_box_muller_of_the_uniforms_within_rounding() {
    for (seed, stream, element, step) in keys() {
        let w = philox(
            [stream, element, step as u32, (step >> 32) as u32],
            [seed as u32, (seed >> 32) as u32],
        );
        let u1 = 1.0 - uniform(seed, stream, element, step);
        let u2 = (((u64::from(w[2]) << 32) | u64::from(w[3])) >> 12) as f64 / (1u64 << 52) as f64;
        let want = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let got = eval_draw(Draw::Normal, seed, stream, element, step);
        // Absolute near the cosine's zeros, where 2 pi u2's rounding dominates.
        assert!(
            (got - want).abs() <= 4e-15 * want.abs().max(1.0),
            "{seed:x} {stream} {element} {step}: {got} vs {want}"
        );
    }
}
