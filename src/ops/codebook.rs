//! A VQ-VAE's codebook (`models.VqVae`): each position of a channel-first map to the index of
//! its nearest codebook vector (the quantizer), and codes back to their vectors (what the
//! decoder reads).

use super::{expect_output, to_u32};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Gpu, Result, Tensor};

pub(super) const NEAREST: Kernel<Params> = kernel!("codebook.wgsl", "nearest");
pub(super) const LOOKUP: Kernel<Params> = kernel!("codebook.wgsl", "lookup");
const WORKGROUP_SIZE: u32 = 64;

params! {
    pub(super) struct Params {
        positions: u32,
        hw: u32,
        d: u32,
        k: u32,
    }
}

/// The codebook's `[k, d]` and the map's `[n, d, h, w]` sizes as the kernels read them.
fn params(codebook: &Tensor, map: &[usize]) -> Result<Params> {
    let &[k, d] = codebook.shape() else {
        invalid!("a codebook must be [codes, width]; got {:?}", codebook.shape());
    };
    let &[n, md, h, w] = map else {
        invalid!("a code map must be [n, width, h, w]; got {map:?}");
    };
    if k == 0 || d == 0 || md != d {
        invalid!("a map of width {md} cannot use a codebook {:?}", codebook.shape());
    }
    Ok(Params {
        positions: to_u32("code positions", n * h * w)?,
        hw: to_u32("code grid", h * w)?,
        d: to_u32("code width", d)?,
        k: to_u32("codebook size", k)?,
    })
}

/// `codes[n, h, w]` = the index (as f32) of the codebook row nearest to `map[n, :, h, w]`, by
/// squared distance, the lower index on a tie.
pub fn nearest_code(gpu: &Gpu, map: &Tensor, codebook: &Tensor, codes: &Tensor) -> Result<()> {
    let p = params(codebook, map.shape())?;
    let s = map.shape();
    expect_output("codes", codes, &[s[0], s[2], s[3]], [map, codebook])?;
    if gpu.is_reference() {
        let want = nearest_code_ref(&map.host()?, p.hw as usize, &codebook.host()?, p.d as usize);
        return codes.set_host(want);
    }
    let groups = Workgroups::linear(gpu, p.positions as usize, WORKGROUP_SIZE)?;
    let buffers = [codebook.buffer()?, map.buffer()?, codes.buffer()?];
    gpu.dispatch(&NEAREST, &p, &buffers, groups, codes)
}

/// `out[n, :, h, w] = codebook[ids[(n h + h) w + w]]`, for `out` `[n, d, h, w]` and one id per
/// position, each below the codebook's size.
pub fn lookup_codes(gpu: &Gpu, codebook: &Tensor, ids: &[u32], out: &Tensor) -> Result<()> {
    let p = params(codebook, out.shape())?;
    if ids.len() != p.positions as usize {
        invalid!("{} codes do not fill a code map {:?}", ids.len(), out.shape());
    }
    if let Some(&bad) = ids.iter().find(|&&id| id >= p.k) {
        invalid!("code {bad} is outside the codebook of {}", p.k);
    }
    expect_output("code map", out, out.shape(), [codebook])?;
    if gpu.is_reference() {
        return out.set_host(lookup_codes_ref(&codebook.host()?, p.d as usize, p.hw as usize, ids));
    }
    let groups = Workgroups::linear(gpu, out.numel(), WORKGROUP_SIZE)?;
    let buffers = [codebook.buffer()?, &gpu.input(out, ids)?, out.buffer()?];
    gpu.dispatch(&LOOKUP, &p, &buffers, groups, out)
}

/// Reference `nearest_code`: distances in f64, first minimum kept.
pub fn nearest_code_ref(map: &[f32], hw: usize, codebook: &[f32], d: usize) -> Vec<f32> {
    let positions = map.len() / d;
    (0..positions)
        .map(|i| {
            let at = (i / hw) * d * hw + i % hw;
            let distance = |row: &[f32]| -> f64 {
                row.iter()
                    .enumerate()
                    .map(|(j, &c)| (map[at + j * hw] as f64 - c as f64).powi(2))
                    .sum()
            };
            let (best, _) = codebook.chunks(d).map(distance).enumerate().fold(
                (0, f64::INFINITY),
                |best, (c, dist)| if dist < best.1 { (c, dist) } else { best },
            );
            best as f32
        })
        .collect()
}

/// Reference `lookup_codes`.
pub fn lookup_codes_ref(codebook: &[f32], d: usize, hw: usize, ids: &[u32]) -> Vec<f32> {
    let mut out = vec![0.0; ids.len() * d];
    for (i, &id) in ids.iter().enumerate() {
        let at = (i / hw) * d * hw + i % hw;
        for j in 0..d {
            out[at + j * hw] = codebook[id as usize * d + j];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Error;

    gpu_tests! {
        async fn finds_the_nearest_code_and_looks_it_back_up() {
            let gpu = gpu().await;
            let mut rng = Rng::new(4);
            // Awkward sizes: 3 images of 5 x 7 positions, codes 19 wide, 37 of them.
            let (n, d, h, w, k) = (3, 19, 5, 7, 37);
            let (codebook, book) = random(gpu, &mut rng, &[k, d]);
            // Each position near a chosen code (so the answer is clear), a few exactly on one,
            // and one between two equal rows, where the lower index must win.
            let mut picks: Vec<usize> = (0..n * h * w).map(|_| rng.below(k)).collect();
            picks[0] = k - 1;
            let mut values = vec![0.0; n * d * h * w];
            for (i, &c) in picks.iter().enumerate() {
                let at = (i / (h * w)) * d * h * w + i % (h * w);
                for j in 0..d {
                    let noise = if i % 5 == 0 { 0.0 } else { 0.05 * rng.uniform() };
                    values[at + j * h * w] = book[c * d + j] + noise;
                }
            }
            let map = Tensor::from_slice(gpu, &[n, d, h, w], &values).unwrap();
            let codes = poisoned(gpu, &[n, h, w]);
            nearest_code(gpu, &map, &codebook, &codes).unwrap();
            let got = codes.read(gpu).await.unwrap();
            assert_eq!(got, nearest_code_ref(&values, h * w, &book, d));
            let want: Vec<f32> = picks.iter().map(|&c| c as f32).collect();
            assert_eq!(got, want, "the noise is far smaller than the codes' spacing");

            let mut twice = book.clone();
            twice[5 * d..6 * d].copy_from_slice(&book[2 * d..3 * d]);
            let twice = Tensor::from_slice(gpu, &[k, d], &twice).unwrap();
            let on_two: Vec<f32> = (0..d).map(|j| book[2 * d + j]).collect();
            let one = Tensor::from_slice(gpu, &[1, d, 1, 1], &on_two).unwrap();
            let code = poisoned(gpu, &[1, 1, 1]);
            nearest_code(gpu, &one, &twice, &code).unwrap();
            assert_eq!(code.read(gpu).await.unwrap(), [2.0], "a tie goes to the lower index");

            // Back to vectors: a copy, exact.
            let ids: Vec<u32> = picks.iter().map(|&c| c as u32).collect();
            let out = poisoned(gpu, &[n, d, h, w]);
            lookup_codes(gpu, &codebook, &ids, &out).unwrap();
            let looked_up = out.read(gpu).await.unwrap();
            assert_eq!(looked_up, lookup_codes_ref(&book, d, h * w, &ids));
            let exact: Vec<usize> = (0..n * h * w).step_by(5).collect();
            for i in exact {
                let at = (i / (h * w)) * d * h * w + i % (h * w);
                assert_eq!(looked_up[at + 3 * h * w], values[at + 3 * h * w], "position {i}");
            }
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            let codebook = Tensor::zeros(gpu, &[4, 3]).unwrap();
            let map = Tensor::zeros(gpu, &[2, 3, 2, 2]).unwrap();
            invalid(nearest_code(gpu, &map, &codebook, &Tensor::zeros(gpu, &[2, 2, 3]).unwrap()));
            let wide = Tensor::zeros(gpu, &[2, 5, 2, 2]).unwrap();
            invalid(nearest_code(gpu, &wide, &codebook, &Tensor::zeros(gpu, &[2, 2, 2]).unwrap()));
            invalid(lookup_codes(gpu, &codebook, &[0; 7], &map));
            invalid(lookup_codes(gpu, &codebook, &[0, 1, 2, 3, 4, 0, 0, 0], &map));
            invalid(lookup_codes(gpu, &codebook, &[0; 12], &codebook));
            gpu.check().unwrap();
        }
    }
}
