//! The convolutional VAE of `training/models.py`: the encoder maps an image to the mean and
//! log-variance of a Gaussian over the latent space; the decoder maps a latent point to pixel
//! probabilities. Weights are uploaded once; buffers are made once per batch size and reused.

use super::layers::{Conv, Linear, Param, Train};
use super::scratch::{tensors, Scratch};
use super::weights::{checkpoint, Init, Weights};
use crate::formats::json::Json;
use crate::ops::activation::{activation, activation_backward, Activation};
use crate::ops::binary::{binary, BinaryOp};
use crate::ops::conv::Conv2dGeometry;
use crate::ops::latent::{sample_latent, sample_latent_backward};
use crate::ops::Gradient;
use crate::rng::Rng;
use crate::{Error, Gpu, Result, Tensor};

pub const IMAGE: usize = 28;
const HIDDEN: usize = 64 * 7 * 7;

pub struct Vae {
    latent: usize,
    enc1: Conv,
    enc2: Conv,
    to_mean: Linear,
    to_logvar: Linear,
    from_latent: Linear,
    dec1: Conv,
    dec2: Conv,
    encoders: Scratch<EncoderBuffers>,
    decoders: Scratch<DecoderBuffers>,
    training: Scratch<TrainingBuffers>,
    /// The batch size and KL weight of the last training forward pass.
    last_training: Option<(usize, f32)>,
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

/// What a training step adds: the noise and the KL term of the forward pass, and the gradients
/// of the activations (two per shape, used in turn).
struct TrainingBuffers {
    eps: Tensor,
    kl: Tensor,
    d_h1: [Tensor; 2],
    d_h0: [Tensor; 2],
    d_grid: Tensor,
    dz: Tensor,
    d_mean: Tensor,
    d_logvar: Tensor,
    d_flat: [Tensor; 3],
    d_h2: Tensor,
    d_enc1: [Tensor; 2],
}

impl TrainingBuffers {
    fn new(gpu: &Gpu, n: usize, latent: usize) -> Result<TrainingBuffers> {
        let d_h0 = tensors(gpu, &[n, HIDDEN])?;
        let flat = || Tensor::zeros(gpu, &[n, HIDDEN]);
        Ok(TrainingBuffers {
            eps: Tensor::zeros(gpu, &[n, latent])?,
            kl: Tensor::zeros(gpu, &[1])?,
            d_h1: tensors(gpu, &[n, 32, 14, 14])?,
            d_grid: d_h0[1].view(&[n, 64, 7, 7])?,
            d_h0,
            dz: Tensor::zeros(gpu, &[n, latent])?,
            d_mean: Tensor::zeros(gpu, &[n, latent])?,
            d_logvar: Tensor::zeros(gpu, &[n, latent])?,
            d_flat: [flat()?, flat()?, flat()?],
            d_h2: Tensor::zeros(gpu, &[n, 64, 7, 7])?,
            d_enc1: tensors(gpu, &[n, 32, 14, 14])?,
        })
    }
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
        Vae::new(&Weights::open(gpu, &card, safetensors)?, latent)
    }

    /// A VAE with a `latent`-number latent space and fresh weights from `seed`, as PyTorch
    /// initialises `models.Vae(latent)`: to train from scratch.
    pub fn fresh(gpu: &Gpu, latent: usize, seed: u64) -> Result<Vae> {
        if latent == 0 {
            return Err(Error::Invalid("a VAE needs at least one latent number".into()));
        }
        Vae::new(&Weights::fresh(gpu, Init::PyTorch, seed), latent)
    }

    fn new(w: &Weights, latent: usize) -> Result<Vae> {
        let (down, up) = (Conv2dGeometry::new(2, 1), Conv2dGeometry::new(2, 1));
        Ok(Vae {
            latent,
            enc1: w.conv("enc1", [32, 1, 4, 4], true, down, false)?,
            enc2: w.conv("enc2", [64, 32, 4, 4], true, down, false)?,
            to_mean: w.linear("to_mean", [latent, HIDDEN], true)?,
            to_logvar: w.linear("to_logvar", [latent, HIDDEN], true)?,
            from_latent: w.linear("from_latent", [HIDDEN, latent], true)?,
            dec1: w.conv("dec1", [64, 32, 4, 4], true, up, true)?,
            dec2: w.conv("dec2", [32, 1, 4, 4], true, up, true)?,
            encoders: Scratch::new(),
            decoders: Scratch::new(),
            training: Scratch::new(),
            last_training: None,
        })
    }

    pub fn latent(&self) -> usize {
        self.latent
    }

    /// `vae.train()` (`true`): gradients kept; or `vae.eval()`. (The VAE has no batch norm, so
    /// its forward pass is the same in both.)
    pub fn set_training(&mut self, gpu: &Gpu, training: bool) -> Result<()> {
        for layer in [&mut self.enc1, &mut self.enc2, &mut self.dec1, &mut self.dec2] {
            layer.set_training(gpu, training)?;
        }
        for layer in [&mut self.to_mean, &mut self.to_logvar, &mut self.from_latent] {
            layer.set_training(gpu, training)?;
        }
        Ok(())
    }

    /// The parameters in `vae.parameters()` order, with their PyTorch names.
    pub(crate) fn parameters(&self) -> Vec<(String, &Param)> {
        let layers: [(&str, Vec<&Param>); 7] = [
            ("enc1", self.enc1.params().collect()),
            ("enc2", self.enc2.params().collect()),
            ("to_mean", self.to_mean.params().collect()),
            ("to_logvar", self.to_logvar.params().collect()),
            ("from_latent", self.from_latent.params().collect()),
            ("dec1", self.dec1.params().collect()),
            ("dec2", self.dec2.params().collect()),
        ];
        let mut named = Vec::new();
        for (layer, params) in layers {
            for (what, p) in ["weight", "bias"].into_iter().zip(params) {
                named.push((format!("{layer}.{what}"), p));
            }
        }
        named
    }

    /// The weights as a safetensors checkpoint under their PyTorch names: what `load` reads,
    /// with a card giving their count.
    pub async fn checkpoint(&self, gpu: &Gpu) -> Result<Vec<u8>> {
        let params = self.parameters();
        let tensors: Vec<(&str, &Tensor)> =
            params.iter().map(|(n, p)| (n.as_str(), &p.value)).collect();
        checkpoint(gpu, &tensors).await
    }

    fn check_images(&self, len: usize) -> Result<usize> {
        let pixels = IMAGE * IMAGE;
        if len == 0 || !len.is_multiple_of(pixels) {
            return Err(Error::Invalid(format!("{len} values are not whole 28 x 28 images")));
        }
        Ok(len / pixels)
    }

    fn encoder_buffers(&mut self, gpu: &Gpu, n: usize) -> Result<&mut EncoderBuffers> {
        let latent = self.latent;
        self.encoders.get(n, || {
            let h2 = tensors(gpu, &[n, 64, 7, 7])?;
            Ok(EncoderBuffers {
                images: Tensor::zeros(gpu, &[n, 1, IMAGE, IMAGE])?,
                h1: tensors(gpu, &[n, 32, 14, 14])?,
                flat: h2[1].view(&[n, HIDDEN])?,
                h2,
                mean: Tensor::zeros(gpu, &[n, latent])?,
                logvar: Tensor::zeros(gpu, &[n, latent])?,
            })
        })
    }

    /// The mean and log-variance `[n, latent]` of q(z | x) for `n` images of 28 x 28 pixels in
    /// [0, 1], row-major, as the tensors this VAE keeps (overwritten by the next call).
    pub fn encode(&mut self, gpu: &Gpu, images: &[f32]) -> Result<(&Tensor, &Tensor)> {
        let n = self.check_images(images.len())?;
        // The buffers are the training pass's too: a backward pass must not follow this one.
        self.last_training = None;
        self.encoder_buffers(gpu, n)?.images.write(gpu, images)?;
        self.run_encoder(gpu, n)
    }

    fn run_encoder(&mut self, gpu: &Gpu, n: usize) -> Result<(&Tensor, &Tensor)> {
        let b = self.encoders.made(n)?;
        let [h1, h1_act] = &b.h1;
        self.enc1.forward(gpu, &b.images, h1)?;
        activation(gpu, Activation::Relu, h1, h1_act)?;
        let [h2, _] = &b.h2;
        self.enc2.forward(gpu, h1_act, h2)?;
        activation(gpu, Activation::Relu, h2, &b.h2[1])?;
        self.to_mean.forward(gpu, &b.flat, &b.mean)?;
        self.to_logvar.forward(gpu, &b.flat, &b.logvar)?;
        Ok((&b.mean, &b.logvar))
    }

    fn decoder_buffers(&mut self, gpu: &Gpu, n: usize) -> Result<&mut DecoderBuffers> {
        let latent = self.latent;
        self.decoders.get(n, || {
            let h0 = tensors(gpu, &[n, HIDDEN])?;
            Ok(DecoderBuffers {
                z: Tensor::zeros(gpu, &[n, latent])?,
                grid: h0[1].view(&[n, 64, 7, 7])?,
                h0,
                h1: tensors(gpu, &[n, 32, 14, 14])?,
                logits: Tensor::zeros(gpu, &[n, 1, IMAGE, IMAGE])?,
                probabilities: Tensor::zeros(gpu, &[n, 1, IMAGE, IMAGE])?,
            })
        })
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
        self.last_training = None;
        self.decoder_buffers(gpu, n)?.z.write(gpu, z)?;
        self.run_decoder(gpu, n)?;
        let b = self.decoders.made(n)?;
        activation(gpu, Activation::Sigmoid, &b.logits, &b.probabilities)?;
        Ok(&b.probabilities)
    }

    /// The decoder's logits from the latent points in its `z` buffer.
    fn run_decoder(&mut self, gpu: &Gpu, n: usize) -> Result<()> {
        let b = self.decoders.made(n)?;
        let [h0, h0_act] = &b.h0;
        self.from_latent.forward(gpu, &b.z, h0)?;
        activation(gpu, Activation::Relu, h0, h0_act)?;
        let [h1, h1_act] = &b.h1;
        self.dec1.forward(gpu, &b.grid, h1)?;
        activation(gpu, Activation::Relu, h1, h1_act)?;
        self.dec2.forward(gpu, h1_act, &b.logits)
    }

    /// `logits, mean, logvar = vae(x)` for training: images `[n, 1, 28, 28]` in [0, 1] encoded,
    /// `z = mean + eps * exp(logvar / 2)` with the given noise (`n` rows of `latent`), decoded
    /// to logits. Also forms the KL term, weighted by `kl_scale` (train_vae.py's is 1 / n), which
    /// `kl` reads and `backward` differentiates.
    pub fn forward(
        &mut self,
        gpu: &Gpu,
        images: &Tensor,
        eps: &[f32],
        kl_scale: f32,
    ) -> Result<&Tensor> {
        let n = self.check_images(images.numel())?;
        if images.shape() != [n, 1, IMAGE, IMAGE] || eps.len() != n * self.latent {
            return Err(Error::Invalid(format!(
                "a training batch is [n, 1, 28, 28] images with n x {} noise; got {:?} and {}",
                self.latent,
                images.shape(),
                eps.len()
            )));
        }
        let latent = self.latent;
        let t = self.training.get(n, || TrainingBuffers::new(gpu, n, latent))?;
        t.eps.write(gpu, eps)?;
        self.encoder_buffers(gpu, n)?.images.copy_from(gpu, images, 0)?;
        self.decoder_buffers(gpu, n)?;
        self.run_encoder(gpu, n)?;
        let (e, d) = (self.encoders.made(n)?, self.decoders.made(n)?);
        let t = self.training.made(n)?;
        sample_latent(gpu, &e.mean, &e.logvar, &t.eps, kl_scale, &d.z, &t.kl)?;
        self.run_decoder(gpu, n)?;
        self.last_training = Some((n, kl_scale));
        let d = self.decoders.made(n)?;
        Ok(&d.logits)
    }

    /// The last training forward pass's weighted KL term, `[1]`.
    pub(crate) fn kl(&mut self) -> Result<&Tensor> {
        let (n, _) = self
            .last_training
            .ok_or_else(|| Error::Invalid("no training forward pass yet".into()))?;
        Ok(&self.training.made(n)?.kl)
    }

    /// The backward pass of the last training forward pass, from the logits' gradient and the
    /// KL term: writes every parameter's gradient.
    pub fn backward(&mut self, gpu: &Gpu, d_logits: &Tensor) -> Result<()> {
        let (n, kl_scale) = self.last_training.ok_or_else(|| {
            Error::Invalid("the VAE's backward pass needs a training forward pass first".into())
        })?;
        let (e, d, t) = (self.encoders.made(n)?, self.decoders.made(n)?, self.training.made(n)?);
        let (relu, write) = (Activation::Relu, Some(Gradient::Write));
        // The decoder, from the logits back to z.
        let ([h0, _], [h1, h1_act]) = (&d.h0, &d.h1);
        let ([d_h1, d_h1_other], [d_h0, d_h0_act]) = (&t.d_h1, &t.d_h0);
        self.dec2.backward(gpu, h1_act, d_logits, write, Some(d_h1))?;
        activation_backward(gpu, relu, h1, d_h1, d_h1_other)?;
        self.dec1.backward(gpu, &d.grid, d_h1_other, write, Some(&t.d_grid))?;
        activation_backward(gpu, relu, h0, d_h0_act, d_h0)?;
        self.from_latent.backward(gpu, &d.z, d_h0, write, Some(&t.dz))?;
        // Through z = mean + eps * std, with the KL term's own gradient.
        sample_latent_backward(
            gpu,
            &e.mean,
            &e.logvar,
            &t.eps,
            &t.dz,
            kl_scale,
            &t.d_mean,
            &t.d_logvar,
        )?;
        // The encoder: both heads read the same features, so their gradients add.
        let [d_from_mean, d_from_logvar, d_flat] = &t.d_flat;
        self.to_mean.backward(gpu, &e.flat, &t.d_mean, write, Some(d_from_mean))?;
        self.to_logvar.backward(gpu, &e.flat, &t.d_logvar, write, Some(d_from_logvar))?;
        binary(gpu, BinaryOp::Add, d_from_mean, d_from_logvar, d_flat)?;
        let ([enc_h1, enc_h1_act], [enc_h2, _]) = (&e.h1, &e.h2);
        activation_backward(gpu, relu, enc_h2, &d_flat.view(&[n, 64, 7, 7])?, &t.d_h2)?;
        let [d_enc1, d_enc1_other] = &t.d_enc1;
        self.enc2.backward(gpu, enc_h1_act, &t.d_h2, write, Some(d_enc1))?;
        activation_backward(gpu, relu, enc_h1, d_enc1, d_enc1_other)?;
        self.enc1.backward(gpu, &e.images, d_enc1_other, write, None)
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
