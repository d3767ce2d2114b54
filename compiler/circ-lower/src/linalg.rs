//! Dense matrix exponentials for exact propagators (small systems only:
//! one neuron model's linear states).

/// A dense square matrix, row-major.
pub type Mat = Vec<Vec<f64>>;

fn identity(n: usize) -> Mat {
    (0..n).map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect()).collect()
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
    a.iter().map(|r| r.iter().map(|x| x.abs()).sum::<f64>()).fold(0.0, f64::max)
}

/// exp(A) by scaling and squaring with a Taylor series: A is scaled by 2^-s
/// until its norm is below 1/2, the series is summed to machine precision,
/// and the result squared s times.
pub fn expm(a: &Mat) -> Mat {
    let n = a.len();
    let norm = norm1(a);
    let s = if norm > 0.5 { (norm / 0.5).log2().ceil() as i32 } else { 0 };
    let scale = 0.5f64.powi(s);
    let b: Mat = a.iter().map(|r| r.iter().map(|x| x * scale).collect()).collect();
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
        if biggest < 1e-18 {
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
        assert!((phi[0][1] / p21 - 1.0).abs() < 1e-12, "{} {}", phi[0][1], p21);
        assert!((phi[1][1] - (-dt / ts).exp()).abs() < 1e-15);
    }
}
