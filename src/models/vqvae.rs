//! The vector-quantized autoencoder of `training/models.py` (`VqVae`): the encoder maps a
//! 28 x 28 image to a 7 x 7 map of vectors, each replaced by the index of its nearest codebook
//! vector (a code: the image GPT's token); the decoder maps a grid of codes back to pixel
//! probabilities. Buffers are made once per batch size and reused.

use super::layers::Conv;
use super::scratch::{tensors, Scratch};
use super::weights::Weights;
use crate::formats::json::Json;
use crate::ops::activation::{activation, Activation};
use crate::ops::codebook::{lookup_codes, nearest_code};
use crate::ops::conv::Conv2dGeometry;
use crate::{Error, Gpu, Result, Tensor};

pub const IMAGE: usize = 28;
/// The code grid's side: each code stands for a 4 x 4 patch of the image.
pub const GRID: usize = 7;
pub const PATCH: usize = IMAGE / GRID;

pub struct VqVae {
    dim: usize,
    enc1: Conv,
    enc2: Conv,
    to_code: Conv,
    /// `[codes, dim]`
    codebook: Tensor,
    from_code: Conv,
    dec1: Conv,
    dec2: Conv,
    encoders: Scratch<EncoderBuffers>,
    decoders: Scratch<DecoderBuffers>,
}

struct EncoderBuffers {
    images: Tensor,
    h1: [Tensor; 2],
    h2: [Tensor; 2],
    z: Tensor,
    codes: Tensor,
}

struct DecoderBuffers {
    zq: Tensor,
    h0: [Tensor; 2],
    h1: [Tensor; 2],
    logits: Tensor,
    probabilities: Tensor,
}

impl VqVae {
    /// Loads `vqvae_<data>.safetensors`, checked against its card.
    pub fn load(gpu: &Gpu, card: &str, safetensors: &[u8]) -> Result<VqVae> {
        let card = Json::parse(card)?;
        let arch = |key: &str| {
            card.get("architecture")
                .and_then(|a| a.get(key))
                .and_then(Json::as_usize)
                .filter(|&n| n > 0)
                .ok_or_else(|| Error::Invalid(format!("the VQ-VAE card has no architecture.{key}")))
        };
        let (codes, dim) = (arch("codes")?, arch("code_dim")?);
        let w = Weights::open(gpu, &card, safetensors)?;
        let (down, up) = (Conv2dGeometry::new(2, 1), Conv2dGeometry::new(2, 1));
        Ok(VqVae {
            dim,
            enc1: w.conv("enc1", [32, 1, 4, 4], true, down, false)?,
            enc2: w.conv("enc2", [64, 32, 4, 4], true, down, false)?,
            to_code: w.conv("to_code", [dim, 64, 1, 1], true, Conv2dGeometry::new(1, 0), false)?,
            codebook: w.tensor("codebook", &[codes, dim])?,
            from_code: w.conv(
                "from_code",
                [64, dim, 3, 3],
                true,
                Conv2dGeometry::new(1, 1),
                false,
            )?,
            dec1: w.conv("dec1", [64, 32, 4, 4], true, up, true)?,
            dec2: w.conv("dec2", [32, 1, 4, 4], true, up, true)?,
            encoders: Scratch::new(),
            decoders: Scratch::new(),
        })
    }

    /// How many codes the codebook holds.
    pub fn codes(&self) -> usize {
        self.codebook.shape()[0]
    }

    /// The codebook `[codes, dim]`.
    pub fn codebook(&self) -> &Tensor {
        &self.codebook
    }

    /// The codes `[n, 7, 7]` (as f32) of `n` images of 28 x 28 pixels in [0, 1], row-major, as
    /// the tensor this model keeps (overwritten by the next call).
    pub fn encode(&mut self, gpu: &Gpu, images: &[f32]) -> Result<&Tensor> {
        let pixels = IMAGE * IMAGE;
        if images.is_empty() || !images.len().is_multiple_of(pixels) {
            return Err(Error::Invalid(format!(
                "{} values are not whole images of {pixels} pixels",
                images.len()
            )));
        }
        let (n, dim) = (images.len() / pixels, self.dim);
        let b = self.encoders.get(n, || {
            Ok(EncoderBuffers {
                images: Tensor::zeros(gpu, &[n, 1, IMAGE, IMAGE])?,
                h1: tensors(gpu, &[n, 32, 14, 14])?,
                h2: tensors(gpu, &[n, 64, GRID, GRID])?,
                z: Tensor::zeros(gpu, &[n, dim, GRID, GRID])?,
                codes: Tensor::zeros(gpu, &[n, GRID, GRID])?,
            })
        })?;
        b.images.write(gpu, images)?;
        let ([h1, h1_relu], [h2, h2_relu]) = (&b.h1, &b.h2);
        self.enc1.forward(gpu, &b.images, h1)?;
        activation(gpu, Activation::Relu, h1, h1_relu)?;
        self.enc2.forward(gpu, h1_relu, h2)?;
        activation(gpu, Activation::Relu, h2, h2_relu)?;
        self.to_code.forward(gpu, h2_relu, &b.z)?;
        nearest_code(gpu, &b.z, &self.codebook, &b.codes)?;
        Ok(&b.codes)
    }

    /// Pixel probabilities `[n, 1, 28, 28]` of `n` grids of 7 x 7 codes (row by row), as the
    /// tensor this model keeps (overwritten by the next call).
    pub fn decode(&mut self, gpu: &Gpu, codes: &[u32]) -> Result<&Tensor> {
        let cells = GRID * GRID;
        if codes.is_empty() || !codes.len().is_multiple_of(cells) {
            return Err(Error::Invalid(format!(
                "{} codes are not whole grids of {GRID} x {GRID}",
                codes.len()
            )));
        }
        let (n, dim) = (codes.len() / cells, self.dim);
        let b = self.decoders.get(n, || {
            Ok(DecoderBuffers {
                zq: Tensor::zeros(gpu, &[n, dim, GRID, GRID])?,
                h0: tensors(gpu, &[n, 64, GRID, GRID])?,
                h1: tensors(gpu, &[n, 32, 14, 14])?,
                logits: Tensor::zeros(gpu, &[n, 1, IMAGE, IMAGE])?,
                probabilities: Tensor::zeros(gpu, &[n, 1, IMAGE, IMAGE])?,
            })
        })?;
        lookup_codes(gpu, &self.codebook, codes, &b.zq)?;
        let ([h0, h0_relu], [h1, h1_relu]) = (&b.h0, &b.h1);
        self.from_code.forward(gpu, &b.zq, h0)?;
        activation(gpu, Activation::Relu, h0, h0_relu)?;
        self.dec1.forward(gpu, h0_relu, h1)?;
        activation(gpu, Activation::Relu, h1, h1_relu)?;
        self.dec2.forward(gpu, h1_relu, &b.logits)?;
        activation(gpu, Activation::Sigmoid, &b.logits, &b.probabilities)?;
        Ok(&b.probabilities)
    }

    /// What each code looks like: the middle 4 x 4 patch of the image decoded from a grid of
    /// that code alone, `[codes, 4, 4]` ("the vocabulary of an image"). A code's pixels also
    /// depend on its neighbours, so this is its look among its own kind.
    pub async fn patches(&mut self, gpu: &Gpu) -> Result<Vec<f32>> {
        let k = self.codes();
        let grids: Vec<u32> = (0..k as u32).flat_map(|c| [c; GRID * GRID]).collect();
        let images = self.decode(gpu, &grids)?.read(gpu).await?;
        let (from, middle) = (GRID / 2 * PATCH, IMAGE * IMAGE);
        let patch = |image: &[f32]| -> Vec<f32> {
            let rows = image[from * IMAGE..].chunks(IMAGE).take(PATCH);
            rows.flat_map(|row| row[from..from + PATCH].to_vec()).collect()
        };
        Ok(images.chunks(middle).flat_map(patch).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::safetensors::SafeTensors;
    use crate::testing::*;

    const CARD: &str = include_str!("../../www/models/vqvae_mnist.json");
    const WEIGHTS: &[u8] = include_bytes!("../../www/models/vqvae_mnist.safetensors");
    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/vqvae_mnist.safetensors");

    /// Codes and decoded pixels against PyTorch's, for test images.
    async fn matches_pytorch(gpu: &Gpu) {
        let fixture = SafeTensors::parse(FIXTURE).unwrap();
        let mut vq = VqVae::load(gpu, CARD, WEIGHTS).unwrap();
        let n = 8;
        let images = fixture.f32("images", &[n, 1, IMAGE, IMAGE]).unwrap();
        let want_codes = fixture.i64("codes", &[n, GRID, GRID]).unwrap();
        let codes = vq.encode(gpu, &images).unwrap().read(gpu).await.unwrap();
        let want: Vec<f32> = want_codes.iter().map(|&c| c as f32).collect();
        assert_eq!(codes, want, "the nearest codes differ from PyTorch's");
        let ids: Vec<u32> = want_codes.iter().map(|&c| c as u32).collect();
        let got = vq.decode(gpu, &ids).unwrap().read(gpu).await.unwrap();
        let want = fixture.f32("decoded", &[n, 1, IMAGE, IMAGE]).unwrap();
        // Probabilities in [0, 1] after three layers of sums over up to 576 products.
        assert_close("VQ-VAE decoded pixels", &got, &want, 1e-5, 1e-4);
    }

    gpu_tests! {
        async fn codes_and_pixels_match_pytorch() {
            matches_pytorch(gpu().await).await;
        }

        async fn the_reference_device_matches_pytorch() {
            matches_pytorch(&Gpu::reference()).await;
        }

        async fn patches_are_the_middles_of_one_code_grids() {
            let gpu = gpu().await;
            let mut vq = VqVae::load(gpu, CARD, WEIGHTS).unwrap();
            let patches = vq.patches(gpu).await.unwrap();
            let k = vq.codes();
            assert_eq!(patches.len(), k * PATCH * PATCH);
            for code in [0, 77, k - 1] {
                let image = vq.decode(gpu, &[code as u32; GRID * GRID]).unwrap().read(gpu).await.unwrap();
                let want: Vec<f32> = (0..PATCH * PATCH)
                    .map(|i| image[(12 + i / PATCH) * IMAGE + 12 + i % PATCH])
                    .collect();
                let got = &patches[code * PATCH * PATCH..(code + 1) * PATCH * PATCH];
                assert_close(&format!("patch of code {code}"), got, &want, 1e-6, 0.0);
            }
            // The codes look different: not one patch repeated.
            assert_ne!(patches[..16], patches[16 * 77..16 * 78]);
        }

        async fn a_repeated_decode_makes_nothing() {
            let gpu = &Gpu::new().await.unwrap();
            let mut vq = VqVae::load(gpu, CARD, WEIGHTS).unwrap();
            let mut codes: Vec<u32> = (0..2 * 49).map(|i| (i * 37 % 256) as u32).collect();
            vq.decode(gpu, &codes).unwrap().read(gpu).await.unwrap();
            // Other codes: the same buffers, the codes' bytes written into theirs.
            codes[5] = 3;
            let before = gpu.stats();
            vq.decode(gpu, &codes).unwrap().read(gpu).await.unwrap();
            assert_made_nothing("a second decode of two grids", gpu.stats() - before);
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            invalid(VqVae::load(gpu, CARD, &WEIGHTS[..WEIGHTS.len() / 2]).map(drop));
            invalid(VqVae::load(gpu, &CARD.replace("\"code_dim\": 16", "\"code_dim\": 8"), WEIGHTS).map(drop));
            let mut vq = VqVae::load(gpu, CARD, WEIGHTS).unwrap();
            invalid(vq.encode(gpu, &[0.5; 700]).map(drop));
            invalid(vq.decode(gpu, &[1; 48]).map(drop));
            invalid(vq.decode(gpu, &[256; 49]).map(drop));
            gpu.check().unwrap();
        }
    }
}
