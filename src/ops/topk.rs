//! The k likeliest tokens of each row of logits, found on the GPU, with the two normalizers a
//! sampler needs: so that a step of a large-vocabulary model reads back 2k + 2 numbers a row, not
//! the whole row (SmolLM2: 130 of 49,152 for k = 64).

use super::{expect_output, to_u32};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Gpu, Result, Tensor};

pub(super) const KERNEL: Kernel<Params> = kernel!("topk.wgsl", "main", uses "reduce.wgsl");

params! {
    pub(super) struct Params {
        n: u32,
        k: u32,
        temperature: f32,
    }
}

/// Indices travel as f32, exact below 2^24.
const MAX_LEN: usize = 1 << 24;

/// What `top_k` leaves in its output, read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidates {
    /// The k largest logits, largest first (ties: the smaller index first), and their indices.
    pub logits: Vec<f32>,
    pub ids: Vec<u32>,
    /// ln sum over the whole row of exp(x - max), and of exp((x - max) / temperature) (0 at
    /// temperature 0). The max is `logits[0]`.
    pub log_sum: f32,
    pub log_sum_at_temperature: f32,
}

impl Candidates {
    /// Parses `top_k`'s output of `2k + 2` values for one row.
    pub fn from_output(out: &[f32]) -> Result<Candidates> {
        if out.len() < 4 || !out.len().is_multiple_of(2) {
            invalid!("{} values are not the output of a top-k", out.len());
        }
        let k = (out.len() - 2) / 2;
        Ok(Candidates {
            logits: out[..k].to_vec(),
            ids: out[k..2 * k].iter().map(|&i| i as u32).collect(),
            log_sum: out[2 * k],
            log_sum_at_temperature: out[2 * k + 1],
        })
    }

    /// The candidates' probabilities at temperature 1, from their logits and the row's sum.
    pub fn probabilities(&self) -> Vec<f32> {
        let max = self.logits[0] as f64;
        self.logits.iter().map(|&l| ((l as f64 - max) - self.log_sum as f64).exp() as f32).collect()
    }
}

/// The number of values `top_k` writes for `k` candidates of one row.
pub fn output_len(k: usize) -> usize {
    2 * k + 2
}

/// For each row of `x` (its last dimension), writes the `k` largest and the logs of the sums of
/// exp(x - max) and exp((x - max) / temperature) into that row of `out`, whose last dimension is
/// `2k + 2` (see `Candidates`): `[2k + 2]` for a vector, `[rows, 2k + 2]` for a matrix.
pub fn top_k(gpu: &Gpu, x: &Tensor, k: usize, temperature: f32, out: &Tensor) -> Result<()> {
    let Some((&n, outer)) = x.shape().split_last() else {
        invalid!("top-k needs rows; got a tensor of shape {:?}", x.shape());
    };
    let rows = outer.iter().product::<usize>();
    if k == 0 || k > n {
        invalid!("top-k needs 1 to {n} candidates; got {k}");
    }
    if n > MAX_LEN {
        invalid!("top-k reads rows of at most {MAX_LEN} values; got {n}");
    }
    if !(temperature.is_finite() && temperature >= 0.0) {
        invalid!("temperature must be 0 or more; got {temperature}");
    }
    let shape: Vec<usize> = outer.iter().copied().chain([output_len(k)]).collect();
    expect_output("top-k output", out, &shape, [x])?;
    if gpu.is_reference() {
        let rows = x.host()?.chunks(n).flat_map(|row| top_k_ref(row, k, temperature)).collect();
        return out.set_host(rows);
    }
    let params = Params { n: to_u32("top-k row", n)?, k: to_u32("top-k", k)?, temperature };
    let groups = Workgroups::grid(gpu, [rows, 1, 1])?;
    gpu.dispatch(&KERNEL, &params, &[x.buffer()?, out.buffer()?], groups, out)
}

/// Reference for one row: a sort, and the sums in f64.
pub fn top_k_ref(x: &[f32], k: usize, temperature: f32) -> Vec<f32> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    // + 0.0 makes -0.0 equal to 0.0, as the kernel's comparisons have it.
    order.sort_by(|&a, &b| (x[b] + 0.0).total_cmp(&(x[a] + 0.0)).then(a.cmp(&b)));
    order.truncate(k);
    let max = x[order[0]] as f64;
    let sum: f64 = x.iter().map(|&v| (v as f64 - max).exp()).sum();
    let sum_t: f64 = if temperature > 0.0 {
        x.iter().map(|&v| ((v as f64 - max) / temperature as f64).exp()).sum()
    } else {
        1.0
    };
    let logits = order.iter().map(|&i| x[i]);
    let ids = order.iter().map(|&i| i as f32);
    logits.chain(ids).chain([sum.ln() as f32, sum_t.ln() as f32]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Error;

    async fn check(gpu: &Gpu, seed: u64, n: usize, k: usize, temperature: f32, ties: bool) {
        let mut rng = Rng::new(seed);
        // With ties, values on a coarse grid, so that many are equal and the order by index shows.
        let host: Vec<f32> =
            rng.vec(n).iter().map(|v| if ties { (v * 4.0).round() } else { v * 12.0 }).collect();
        let x = Tensor::from_slice(gpu, &[n], &host).unwrap();
        let out = poisoned(gpu, &[output_len(k)]);
        top_k(gpu, &x, k, temperature, &out).unwrap();
        let got = Candidates::from_output(&out.read(gpu).await.unwrap()).unwrap();
        let want = Candidates::from_output(&top_k_ref(&host, k, temperature)).unwrap();
        let what = format!("top-{k} of {n} at temperature {temperature}");
        // The values and indices are copies and must be exact; the log sums add up to n rounded
        // exps (a few ulps each) in another order: 2e-6 relative at most seen.
        assert_eq!((&got.logits, &got.ids), (&want.logits, &want.ids), "{what}");
        let sums = [got.log_sum, got.log_sum_at_temperature];
        let want_sums = [want.log_sum, want.log_sum_at_temperature];
        assert_close(&format!("{what}: log sums"), &sums, &want_sums, 1e-5, 1e-5);
    }

    gpu_tests! {
        async fn each_row_of_a_matrix_gets_its_own_candidates() {
            let gpu = gpu().await;
            let (rows, n, k) = (61, 517, 5);
            let mut rng = Rng::new(7);
            // Each row shifted, so that a kernel reading one row for all would be caught.
            let host: Vec<f32> = rng.vec(rows * n).iter().enumerate().map(|(i, v)| v * 9.0 + (i / n) as f32).collect();
            let x = Tensor::from_slice(gpu, &[rows, n], &host).unwrap();
            let out = poisoned(gpu, &[rows, output_len(k)]);
            top_k(gpu, &x, k, 0.9, &out).unwrap();
            let got = out.read(gpu).await.unwrap();
            for (r, (got, row)) in got.chunks(output_len(k)).zip(host.chunks(n)).enumerate() {
                let want = top_k_ref(row, k, 0.9);
                assert_eq!(got[..2 * k], want[..2 * k], "row {r}");
                assert_close(&format!("row {r}: log sums"), &got[2 * k..], &want[2 * k..], 1e-5, 1e-5);
            }
            let wrong = Tensor::zeros(gpu, &[output_len(k)]).unwrap();
            assert!(matches!(top_k(gpu, &x, k, 0.9, &wrong), Err(Error::Invalid(_))));
        }

        async fn matches_reference_on_awkward_sizes_and_ties() {
            let gpu = gpu().await;
            for (seed, n, k, temperature, ties) in [
                (1, 3, 1, 1.0, false),
                (2, 7, 7, 0.5, false),
                (3, 65, 40, 0.8, true),
                (4, 257, 64, 1.7, true),
                (5, 49_152, 64, 0.7, false),
                (6, 1000, 1, 0.0, true),
            ] {
                check(gpu, seed, n, k, temperature, ties).await;
            }
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let x = Tensor::zeros(gpu, &[9]).unwrap();
            let bad = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            bad(top_k(gpu, &x, 0, 1.0, &Tensor::zeros(gpu, &[2]).unwrap()));
            bad(top_k(gpu, &x, 10, 1.0, &Tensor::zeros(gpu, &[22]).unwrap()));
            bad(top_k(gpu, &x, 3, -1.0, &Tensor::zeros(gpu, &[8]).unwrap()));
            bad(top_k(gpu, &x, 3, f32::NAN, &Tensor::zeros(gpu, &[8]).unwrap()));
            bad(top_k(gpu, &x, 3, 1.0, &Tensor::zeros(gpu, &[7]).unwrap()));
            assert!(Candidates::from_output(&[1.0, 2.0, 3.0]).is_err());
            gpu.check().unwrap();
        }
    }
}
