//! "Is it a copy?": the stored image nearest to a query by Euclidean distance in pixel space,
//! searched on the GPU as one matrix product, |q - x|^2 = |q|^2 + |x|^2 - 2 q.x.

use crate::ops::matmul::matmul;
use crate::{Error, Gpu, Result, Tensor};

pub struct NearestImages {
    /// The stored images, one per row `[n, pixels]`.
    images: Tensor,
    /// |x|^2 of each stored image.
    norms: Vec<f32>,
    query: Tensor,
    dots: Tensor,
}

/// The stored image closest to a query, and its distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nearest {
    pub index: usize,
    pub distance: f32,
}

fn squared_norm(x: &[f32]) -> f32 {
    x.iter().map(|v| v * v).sum()
}

impl NearestImages {
    /// Stores `images`, consecutive images of `pixels` values each.
    pub fn new(gpu: &Gpu, images: &[f32], pixels: usize) -> Result<NearestImages> {
        if pixels == 0 || images.is_empty() || !images.len().is_multiple_of(pixels) {
            return Err(Error::Invalid(format!(
                "{} values are not whole images of {pixels} pixels",
                images.len()
            )));
        }
        let n = images.len() / pixels;
        Ok(NearestImages {
            images: Tensor::from_slice(gpu, &[n, pixels], images)?,
            norms: images.chunks(pixels).map(squared_norm).collect(),
            query: Tensor::zeros(gpu, &[1, pixels])?,
            dots: Tensor::zeros(gpu, &[1, n])?,
        })
    }

    /// The stored image nearest to `query` (one image of the same size).
    pub async fn nearest(&self, gpu: &Gpu, query: &[f32]) -> Result<Nearest> {
        self.query.write(gpu, query)?;
        matmul(gpu, &self.query, &self.images, None, true, &self.dots)?;
        let dots = self.dots.read(gpu).await?;
        let q = squared_norm(query);
        let (index, squared) = dots
            .iter()
            .zip(&self.norms)
            .map(|(dot, norm)| q + norm - 2.0 * dot)
            .enumerate()
            .fold((0, f32::INFINITY), |best, (i, d)| if d < best.1 { (i, d) } else { best });
        Ok(Nearest { index, distance: squared.max(0.0).sqrt() })
    }
}

/// Reference: the same search by brute force, in f64.
pub fn nearest_ref(images: &[f32], pixels: usize, query: &[f32]) -> Nearest {
    let distance = |x: &[f32]| {
        x.iter().zip(query).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum::<f64>().sqrt()
    };
    let (index, d) = images
        .chunks(pixels)
        .map(distance)
        .enumerate()
        .fold((0, f64::INFINITY), |best, (i, d)| if d < best.1 { (i, d) } else { best });
    Nearest { index, distance: d as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    gpu_tests! {
        async fn finds_the_nearest_image() {
            let gpu = gpu().await;
            let mut rng = Rng::new(9);
            let (n, pixels) = (257, 33);
            let images = rng.vec(n * pixels);
            let index = NearestImages::new(gpu, &images, pixels).unwrap();
            for trial in 0..5 {
                // A stored image plus a little noise, so the nearest one is clear.
                let target = (trial * 61) % n;
                let query: Vec<f32> = images[target * pixels..(target + 1) * pixels]
                    .iter()
                    .map(|v| v + 0.05 * rng.uniform())
                    .collect();
                let got = index.nearest(gpu, &query).await.unwrap();
                let want = nearest_ref(&images, pixels, &query);
                assert_eq!((got.index, want.index), (target, target));
                // The expansion |q|^2 + |x|^2 - 2 q.x cancels: a few 1e-6 of |q|^2 (~11 here)
                // on d^2 (~0.03), so about 1e-5 on d (~0.17).
                assert!((got.distance - want.distance).abs() < 1e-4, "{got:?} vs {want:?}");
            }
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let invalid = |r: Result<NearestImages>| matches!(r, Err(Error::Invalid(_)));
            assert!(invalid(NearestImages::new(gpu, &[], 4)));
            assert!(invalid(NearestImages::new(gpu, &[0.0; 7], 4)));
            assert!(invalid(NearestImages::new(gpu, &[0.0; 8], 0)));
            let index = NearestImages::new(gpu, &[1.0; 8], 4).unwrap();
            assert!(matches!(index.nearest(gpu, &[0.0; 3]).await, Err(Error::Invalid(_))));
        }
    }
}
