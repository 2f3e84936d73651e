//! The convolutional VAE of `training/models.py`: the encoder maps an image to the mean and
//! log-variance of a Gaussian over the latent space; the decoder maps a latent point to pixel
//! probabilities. Weights are uploaded once; buffers are made once per batch size and reused.

use super::scratch::Scratch;
use super::weights::Weights;
use crate::formats::json::Json;
use crate::ops::activation::{activation, Activation};
use crate::ops::conv::{conv2d, conv_transpose2d, Conv2dGeometry};
use crate::ops::matmul::matmul;
use crate::rng::Rng;
use crate::{Error, Gpu, Result, Tensor};

pub const IMAGE: usize = 28;
const HIDDEN: usize = 64 * 7 * 7;

pub struct Vae {
    latent: usize,
    enc1: (Tensor, Tensor),
    enc2: (Tensor, Tensor),
    to_mean: (Tensor, Tensor),
    to_logvar: (Tensor, Tensor),
    from_latent: (Tensor, Tensor),
    dec1: (Tensor, Tensor),
    dec2: (Tensor, Tensor),
    encoders: Scratch<EncoderBuffers>,
    decoders: Scratch<DecoderBuffers>,
}

struct EncoderBuffers {
    images: Tensor,
    h1: [Tensor; 2],
    h2: [Tensor; 2],
    flat: Tensor,
    mean: Tensor,
    logvar: Tensor,
}

struct DecoderBuffers {
    z: Tensor,
    h0: [Tensor; 2],
    grid: Tensor,
    h1: [Tensor; 2],
    logits: Tensor,
    probabilities: Tensor,
}

fn pair(gpu: &Gpu, shape: &[usize]) -> Result<[Tensor; 2]> {
    Ok([Tensor::zeros(gpu, shape)?, Tensor::zeros(gpu, shape)?])
}

impl Vae {
    /// Loads `vae_<data>.safetensors` or `vae2d_<data>.safetensors`, checked against its card.
    pub fn load(gpu: &Gpu, card: &str, safetensors: &[u8]) -> Result<Vae> {
        let card = Json::parse(card)?;
        let latent = card
            .get("architecture")
            .and_then(|a| a.get("latent"))
            .and_then(Json::as_usize)
            .ok_or_else(|| Error::Invalid("the VAE card has no architecture.latent".into()))?;
        let w = Weights::open(gpu, &card, safetensors)?;
        let layer = |name: &str, weight: &[usize], bias: usize| -> Result<(Tensor, Tensor)> {
            Ok((
                w.tensor(&format!("{name}.weight"), weight)?,
                w.tensor(&format!("{name}.bias"), &[bias])?,
            ))
        };
        Ok(Vae {
            latent,
            enc1: layer("enc1", &[32, 1, 4, 4], 32)?,
            enc2: layer("enc2", &[64, 32, 4, 4], 64)?,
            to_mean: layer("to_mean", &[latent, HIDDEN], latent)?,
            to_logvar: layer("to_logvar", &[latent, HIDDEN], latent)?,
            from_latent: layer("from_latent", &[HIDDEN, latent], HIDDEN)?,
            dec1: layer("dec1", &[64, 32, 4, 4], 32)?,
            dec2: layer("dec2", &[32, 1, 4, 4], 1)?,
            encoders: Scratch::new(),
            decoders: Scratch::new(),
        })
    }

    pub fn latent(&self) -> usize {
        self.latent
    }

    /// The mean and log-variance `[n, latent]` of q(z | x) for `n` images of 28 x 28 pixels in
    /// [0, 1], row-major, as the tensors this VAE keeps (overwritten by the next call).
    pub fn encode(&mut self, gpu: &Gpu, images: &[f32]) -> Result<(&Tensor, &Tensor)> {
        let pixels = IMAGE * IMAGE;
        if images.is_empty() || !images.len().is_multiple_of(pixels) {
            return Err(Error::Invalid(format!(
                "{} values are not whole 28 x 28 images",
                images.len()
            )));
        }
        let n = images.len() / pixels;
        let latent = self.latent;
        let b = self.encoders.get(n, || {
            let h2 = pair(gpu, &[n, 64, 7, 7])?;
            Ok(EncoderBuffers {
                images: Tensor::zeros(gpu, &[n, 1, IMAGE, IMAGE])?,
                h1: pair(gpu, &[n, 32, 14, 14])?,
                flat: h2[1].view(&[n, HIDDEN])?,
                h2,
                mean: Tensor::zeros(gpu, &[n, latent])?,
                logvar: Tensor::zeros(gpu, &[n, latent])?,
            })
        })?;
        b.images.write(gpu, images)?;
        let down = Conv2dGeometry::new(2, 1);
        let [h1, h1_act] = &b.h1;
        conv2d(gpu, &b.images, &self.enc1.0, Some(&self.enc1.1), down, h1)?;
        activation(gpu, Activation::Relu, h1, h1_act)?;
        let [h2, _] = &b.h2;
        conv2d(gpu, h1_act, &self.enc2.0, Some(&self.enc2.1), down, h2)?;
        activation(gpu, Activation::Relu, h2, &b.h2[1])?;
        matmul(gpu, &b.flat, &self.to_mean.0, Some(&self.to_mean.1), true, &b.mean)?;
        matmul(gpu, &b.flat, &self.to_logvar.0, Some(&self.to_logvar.1), true, &b.logvar)?;
        Ok((&b.mean, &b.logvar))
    }

    /// Pixel probabilities `[n, 1, 28, 28]` for `n` latent points (`latent` numbers each), as the
    /// tensor this VAE keeps (overwritten by the next call).
    pub fn decode(&mut self, gpu: &Gpu, z: &[f32]) -> Result<&Tensor> {
        let latent = self.latent;
        if z.is_empty() || !z.len().is_multiple_of(latent) {
            return Err(Error::Invalid(format!(
                "{} numbers are not whole latent points of {latent}",
                z.len()
            )));
        }
        let n = z.len() / latent;
        let b = self.decoders.get(n, || {
            let h0 = pair(gpu, &[n, HIDDEN])?;
            Ok(DecoderBuffers {
                z: Tensor::zeros(gpu, &[n, latent])?,
                grid: h0[1].view(&[n, 64, 7, 7])?,
                h0,
                h1: pair(gpu, &[n, 32, 14, 14])?,
                logits: Tensor::zeros(gpu, &[n, 1, IMAGE, IMAGE])?,
                probabilities: Tensor::zeros(gpu, &[n, 1, IMAGE, IMAGE])?,
            })
        })?;
        b.z.write(gpu, z)?;
        let up = Conv2dGeometry::new(2, 1);
        let [h0, h0_act] = &b.h0;
        matmul(gpu, &b.z, &self.from_latent.0, Some(&self.from_latent.1), true, h0)?;
        activation(gpu, Activation::Relu, h0, h0_act)?;
        let [h1, h1_act] = &b.h1;
        conv_transpose2d(gpu, &b.grid, &self.dec1.0, Some(&self.dec1.1), up, h1)?;
        activation(gpu, Activation::Relu, h1, h1_act)?;
        conv_transpose2d(gpu, h1_act, &self.dec2.0, Some(&self.dec2.1), up, &b.logits)?;
        activation(gpu, Activation::Sigmoid, &b.logits, &b.probabilities)?;
        Ok(&b.probabilities)
    }
}

/// The reparameterisation trick: z = mean + eps * exp(logvar / 2), for eps drawn from N(0, I).
pub fn reparameterise(mean: &[f32], logvar: &[f32], eps: &[f32]) -> Vec<f32> {
    mean.iter().zip(logvar).zip(eps).map(|((m, lv), e)| m + e * (0.5 * lv).exp()).collect()
}

/// `n` standard normal numbers from `seed`: the same seed gives the same numbers in the browser
/// and natively.
pub fn standard_normal(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.normal() as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::safetensors::SafeTensors;
    use crate::testing::*;

    struct Checkpoint {
        card: &'static str,
        weights: &'static [u8],
        fixture: &'static [u8],
    }

    macro_rules! checkpoint {
        ($name:literal) => {
            Checkpoint {
                card: include_str!(concat!("../../www/models/", $name, ".json")),
                weights: include_bytes!(concat!("../../www/models/", $name, ".safetensors")),
                fixture: include_bytes!(concat!("../../tests/fixtures/", $name, ".safetensors")),
            }
        };
    }

    const CHECKPOINTS: [Checkpoint; 4] = [
        checkpoint!("vae_mnist"),
        checkpoint!("vae_fashion"),
        checkpoint!("vae2d_mnist"),
        checkpoint!("vae2d_fashion"),
    ];

    /// Sums of up to 3,136 products (the linear layers), in another order than PyTorch's.
    /// Largest errors seen on lavapipe: 1.8e-6 means, 4.3e-6 log-variances, 9.5e-7 pixels; the
    /// tolerances leave about 5x for other adapters.
    async fn every_vae_matches_pytorch_on(gpu: &Gpu) {
        for c in &CHECKPOINTS {
            let f = SafeTensors::parse(c.fixture).unwrap();
            let mut vae = Vae::load(gpu, c.card, c.weights).unwrap();
            let (n, l) = (8, vae.latent());
            let images = f.f32("images", &[n, 1, IMAGE, IMAGE]).unwrap();
            let (mean, logvar) = vae.encode(gpu, &images).unwrap();
            let mean = mean.read(gpu).await.unwrap();
            let logvar = logvar.read(gpu).await.unwrap();
            let want_mean = f.f32("mean", &[n, l]).unwrap();
            let want_logvar = f.f32("logvar", &[n, l]).unwrap();
            assert_close("mean", &mean, &want_mean, 2e-5, 1e-5);
            assert_close("logvar", &logvar, &want_logvar, 2e-5, 1e-5);
            let eps = f.f32("eps", &[n, l]).unwrap();
            let sampled = reparameterise(&want_mean, &want_logvar, &eps);
            let shape = [n, 1, IMAGE, IMAGE];
            for (z, name) in [
                (want_mean.clone(), "reconstruction"),
                (sampled, "sampled_reconstruction"),
                (f.f32("z_prior", &[n, l]).unwrap(), "prior_samples"),
            ] {
                let got = vae.decode(gpu, &z).unwrap().read(gpu).await.unwrap();
                assert_close(name, &got, &f.f32(name, &shape).unwrap(), 1e-5, 0.0);
            }
        }
    }

    gpu_tests! {
        async fn every_vae_matches_pytorch() {
            every_vae_matches_pytorch_on(gpu().await).await;
        }

        async fn every_vae_matches_pytorch_on_the_reference_device() {
            every_vae_matches_pytorch_on(&Gpu::reference()).await;
        }

        async fn a_second_encode_and_decode_make_nothing() {
            // A device of its own, so that only this test's work is counted.
            let gpu = &Gpu::new().await.unwrap();
            let c = &CHECKPOINTS[0];
            let mut vae = Vae::load(gpu, c.card, c.weights).unwrap();
            let mut rng = crate::testing::Rng::new(9);
            for pass in 0..2 {
                let before = gpu.stats();
                let images: Vec<f32> = rng.vec(5 * IMAGE * IMAGE).iter().map(|v| v.abs()).collect();
                let (mean, _) = vae.encode(gpu, &images).unwrap();
                let z = mean.read(gpu).await.unwrap();
                let decoded = vae.decode(gpu, &z).unwrap().read(gpu).await.unwrap();
                assert!(decoded.iter().all(|p| (0.0..=1.0).contains(p)));
                if pass == 1 {
                    let step = gpu.stats() - before;
                    assert_made_nothing("a VAE encode and decode", step);
                    assert_eq!((step.submissions, step.read_backs), (2, 2), "{step:?}");
                }
            }
        }

        async fn seeds_repeat_and_bad_input_is_an_error() {
            assert_eq!(standard_normal(7, 5), standard_normal(7, 5));
            assert_ne!(standard_normal(7, 5), standard_normal(8, 5));
            let big = standard_normal(1, 10_000);
            let mean = big.iter().sum::<f32>() / 1e4;
            let var = big.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / 1e4;
            assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.05, "{mean} {var}");

            let gpu = gpu().await;
            let c = &CHECKPOINTS[0];
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            invalid(Vae::load(gpu, c.card, &c.weights[..100]).map(drop));
            invalid(Vae::load(gpu, CHECKPOINTS[2].card, c.weights).map(drop));
            let mut vae = Vae::load(gpu, c.card, c.weights).unwrap();
            invalid(vae.encode(gpu, &[0.5; 783]).map(drop));
            invalid(vae.encode(gpu, &[]).map(drop));
            invalid(vae.decode(gpu, &[0.0; 15]).map(drop));
            gpu.check().unwrap();
        }
    }
}
