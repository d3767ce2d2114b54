//! Dense matrix exponentials for exact propagators (small systems only:
//! one neuron model's linear states).

// Row/column index arithmetic reads more clearly than iterator chains here.
#![allow(clippy::needless_range_loop)]

/// A dense square matrix, row-major.
pub type Mat = Vec<Vec<f64>>;

fn identity(n: usize) -> Mat {
    (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect()
}

fn mul(a: &Mat, b: &Mat) -> Mat {
    let n = a.len();
    let mut c = vec![vec![0.0; n]; n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i][k];
            if aik == 0.0 {
                continue;
            }
            for j in 0..n {
                c[i][j] += aik * b[k][j];
            }
        }
    }
    c
}

fn norm1(a: &Mat) -> f64 {
    a.iter()
        .map(|r| r.iter().map(|x| x.abs()).sum::<f64>())
        .fold(0.0, f64::max)
}

/// Balances `a` by a diagonal similarity with powers of two (Parlett and
/// Reinsch): returns `D^-1 A D` and the diagonal of `D`. Models in SI units
/// mix coefficients like 1/C = 1e10 with 1/tau = 100; balancing makes the
/// norm small, so exponentiating needs few squarings and loses no digits.
fn balance(a: &Mat) -> (Mat, Vec<f64>) {
    let n = a.len();
    let mut b = a.clone();
    let mut d = vec![1.0; n];
    for _ in 0..100 {
        let mut changed = false;
        for i in 0..n {
            let (mut col, mut row) = (0.0, 0.0);
            for j in 0..n {
                if j != i {
                    col += b[j][i].abs();
                    row += b[i][j].abs();
                }
            }
            if col == 0.0 || row == 0.0 {
                continue;
            }
            let mut f = 1.0;
            let s = col + row;
            let (mut c, mut r) = (col, row);
            while c < r / 2.0 {
                c *= 2.0;
                r /= 2.0;
                f *= 2.0;
            }
            while c >= r * 2.0 {
                c /= 2.0;
                r *= 2.0;
                f /= 2.0;
            }
            if (c + r) < 0.95 * s {
                changed = true;
                d[i] *= f;
                for j in 0..n {
                    b[i][j] /= f;
                    b[j][i] *= f;
                }
            }
        }
        if !changed {
            break;
        }
    }
    (b, d)
}

/// exp(A): balanced, then scaled by 2^-s until its norm is below 1/2, the
/// Taylor series summed to machine precision, squared s times, unbalanced.
pub fn expm(a: &Mat) -> Mat {
    let (b, d) = balance(a);
    let e = expm_unbalanced(&b);
    let n = a.len();
    (0..n)
        .map(|i| (0..n).map(|j| e[i][j] * d[i] / d[j]).collect())
        .collect()
}

fn expm_unbalanced(a: &Mat) -> Mat {
    let n = a.len();
    let norm = norm1(a);
    let s = if norm > 0.5 {
        (norm / 0.5).log2().ceil() as i32
    } else {
        0
    };
    let scale = 0.5f64.powi(s);
    let b: Mat = a
        .iter()
        .map(|r| r.iter().map(|x| x * scale).collect())
        .collect();
    let mut sum = identity(n);
    let mut term = identity(n);
    for k in 1..40 {
        term = mul(&term, &b);
        let inv = 1.0 / k as f64;
        for row in &mut term {
            for x in row.iter_mut() {
                *x *= inv;
            }
        }
        let mut biggest = 0.0f64;
        for (srow, trow) in sum.iter_mut().zip(&term) {
            for (x, t) in srow.iter_mut().zip(trow) {
                *x += t;
                biggest = biggest.max(t.abs());
            }
        }
        if biggest < 1e-17 * norm1(&sum).max(1e-300) {
            break;
        }
    }
    for _ in 0..s {
        sum = mul(&sum, &sum);
    }
    sum
}

/// For x' = A x + b with b constant over a step of `dt`:
/// x(dt) = Phi x(0) + Gamma b, Phi = exp(A dt), Gamma = integral of exp(A s)
/// from 0 to dt; both from one exponential of the block matrix [[A, I], [0, 0]] dt.
pub fn propagators(a: &Mat, dt: f64) -> (Mat, Mat) {
    let n = a.len();
    let mut m = vec![vec![0.0; 2 * n]; 2 * n];
    for i in 0..n {
        for j in 0..n {
            m[i][j] = a[i][j] * dt;
        }
        m[i][n + i] = dt;
    }
    let e = expm(&m);
    let phi = (0..n).map(|i| e[i][..n].to_vec()).collect();
    let gamma = (0..n).map(|i| e[i][n..].to_vec()).collect();
    (phi, gamma)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_decay_is_exact() {
        let (phi, gamma) = propagators(&vec![vec![-100.0]], 1e-4);
        assert!((phi[0][0] - (-0.01f64).exp()).abs() < 1e-16);
        // Gamma = (e^{a dt} - 1) / a
        assert!((gamma[0][0] - (-0.01f64).exp_m1() / -100.0).abs() < 1e-19);
    }

    #[test]
    fn coupled_triangular_system() {
        // v' = -v/tau_m + I/C, I' = -I/tau_s: the known closed form.
        let (tm, ts, c, dt) = (0.01, 0.002, 2.5e-10, 1e-4);
        let a = vec![vec![-1.0 / tm, 1.0 / c], vec![0.0, -1.0 / ts]];
        let (phi, _) = propagators(&a, dt);
        let p21 = (1.0 / c) * ((-dt / tm).exp() - (-dt / ts).exp()) / (1.0 / ts - 1.0 / tm);
        assert!(
            (phi[0][1] / p21 - 1.0).abs() < 1e-12,
            "{} {}",
            phi[0][1],
            p21
        );
        assert!((phi[1][1] - (-dt / ts).exp()).abs() < 1e-15);
    }
}
