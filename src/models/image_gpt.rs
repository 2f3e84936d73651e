//! The image GPT: a class-conditional Transformer (the character GPT's `Gpt`) that writes the
//! 7 x 7 codes of a `VqVae`, one at a time, row by row, after a class token; the VQ-VAE's
//! decoder turns the codes into pixels. Its vocabulary is the codes, then one token per class
//! (`codes + class`), which it reads but never writes.

use super::gpt::Gpt;
use super::vqvae::{VqVae, GRID};
use super::{LanguageModel, Watch};
use crate::error::invalid;
use crate::text::generation::{Generation, Step};
use crate::text::sampling::Sampling;
use crate::{Gpu, Result};

/// How many codes make an image.
pub const CODES_PER_IMAGE: usize = GRID * GRID;

pub struct ImageGpt {
    gpt: Gpt,
    vqvae: VqVae,
    looks: Option<Looks>,
}

/// What the codes look like, found once.
pub struct Looks {
    /// `[codes, 4, 4]`: see `VqVae::patches`.
    pub patches: Vec<f32>,
    /// The code with the darkest patch: the background, which fills what is not written yet.
    pub blank: u32,
}

impl ImageGpt {
    /// Loads `imagegpt_<data>` and the `vqvae_<data>` whose codes it writes, each from its card
    /// and safetensors.
    pub fn load(
        gpu: &Gpu,
        (gpt_card, gpt_weights): (&str, &[u8]),
        (vq_card, vq_weights): (&str, &[u8]),
    ) -> Result<ImageGpt> {
        let gpt = Gpt::load(gpu, gpt_card, gpt_weights)?;
        let vqvae = VqVae::load(gpu, vq_card, vq_weights)?;
        let (codes, written, read) = (vqvae.codes(), gpt.vocab_size(), gpt.input_vocab());
        if written != codes || read <= codes || gpt.context() < CODES_PER_IMAGE {
            invalid!(
                "the image GPT writes {written} tokens in a context of {}, but its VQ-VAE has \
                 {codes} codes and an image takes {CODES_PER_IMAGE}",
                gpt.context()
            );
        }
        Ok(ImageGpt { gpt, vqvae, looks: None })
    }

    /// The class names, from the class tokens (`<name>`), in class order.
    pub fn classes(&self) -> Vec<String> {
        let names = &self.gpt.vocab()[self.vqvae.codes()..];
        names.iter().map(|n| n.trim_start_matches('<').trim_end_matches('>').to_string()).collect()
    }

    pub fn gpt(&self) -> &Gpt {
        &self.gpt
    }

    pub fn vqvae(&self) -> &VqVae {
        &self.vqvae
    }

    /// A generation of one image's codes of `class`, drawn with `sampling` from `seed`.
    pub fn start(&self, class: usize, sampling: Sampling, seed: u64) -> Result<Generation> {
        let classes = self.classes().len();
        if class >= classes {
            invalid!("class {class} is not one of the {classes} classes");
        }
        let token = (self.vqvae.codes() + class) as u32;
        Generation::new(&self.gpt, &[token], sampling, seed, CODES_PER_IMAGE)
    }

    /// Writes the next code of `generation`.
    pub async fn step(&mut self, gpu: &Gpu, generation: &mut Generation) -> Result<Step> {
        generation.step(gpu, &mut self.gpt, Watch::NOTHING).await
    }

    pub async fn looks(&mut self, gpu: &Gpu) -> Result<&Looks> {
        if self.looks.is_none() {
            let patches = self.vqvae.patches(gpu).await?;
            let area = patches.len() / self.vqvae.codes();
            let darkness = |p: &[f32]| p.iter().sum::<f32>();
            let (blank, _) = patches
                .chunks(area)
                .map(darkness)
                .enumerate()
                .fold((0, f32::INFINITY), |best, (c, d)| if d < best.1 { (c, d) } else { best });
            self.looks = Some(Looks { patches, blank: blank as u32 });
        }
        Ok(self.looks.as_ref().unwrap_or_else(|| unreachable!("found above")))
    }

    /// The pixels `[28 x 28]` of an image whose first `codes` are written (at most 49), the rest
    /// blank: the picture as it stands while it is written.
    pub async fn draw(&mut self, gpu: &Gpu, codes: &[u32]) -> Result<Vec<f32>> {
        if codes.len() > CODES_PER_IMAGE {
            invalid!("{} codes are more than an image's {CODES_PER_IMAGE}", codes.len());
        }
        let blank = self.looks(gpu).await?.blank;
        let mut grid = codes.to_vec();
        grid.resize(CODES_PER_IMAGE, blank);
        self.vqvae.decode(gpu, &grid)?.read(gpu).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::safetensors::SafeTensors;
    use crate::testing::*;
    use crate::Error;

    const GPT_CARD: &str = include_str!("../../www/models/imagegpt_mnist.json");
    const GPT_WEIGHTS: &[u8] = include_bytes!("../../www/models/imagegpt_mnist.safetensors");
    const VQ_CARD: &str = include_str!("../../www/models/vqvae_mnist.json");
    const VQ_WEIGHTS: &[u8] = include_bytes!("../../www/models/vqvae_mnist.safetensors");
    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/imagegpt_mnist.safetensors");

    fn load(gpu: &Gpu) -> ImageGpt {
        ImageGpt::load(gpu, (GPT_CARD, GPT_WEIGHTS), (VQ_CARD, VQ_WEIGHTS)).unwrap()
    }

    /// The logits of every position of a test image's codes after its class token, against
    /// PyTorch's, in one pass and one code at a time through the caches.
    async fn matches_pytorch(gpu: &Gpu) {
        let fixture = SafeTensors::parse(FIXTURE).unwrap();
        let mut model = load(gpu);
        let ids = fixture.i64("ids", &[1, CODES_PER_IMAGE]).unwrap();
        let ids: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
        let codes = model.vqvae().codes();
        let want = fixture.f32("logits", &[1, CODES_PER_IMAGE, codes]).unwrap();
        let gpt = &mut model.gpt;
        let full =
            gpt.forward(gpu, &ids, 0, Watch::NOTHING).unwrap().logits.read(gpu).await.unwrap();
        assert_close("image GPT logits, one pass", &full, &want, 6e-5, 1e-5);
        let mut stepped = Vec::new();
        for p in 0..ids.len() {
            let step = gpt.forward(gpu, &ids[p..p + 1], p, Watch::NOTHING).unwrap();
            stepped.extend(step.logits.read(gpu).await.unwrap());
        }
        assert_close("image GPT logits, cached steps", &stepped, &want, 6e-5, 1e-5);
    }

    gpu_tests! {
        async fn logits_match_pytorch() {
            matches_pytorch(gpu().await).await;
        }

        async fn the_reference_device_matches_pytorch() {
            matches_pytorch(&Gpu::reference()).await;
        }

        async fn writes_an_image_code_by_code() {
            let gpu = gpu().await;
            let mut model = load(gpu);
            assert_eq!(model.classes(), (0..10).map(|d| d.to_string()).collect::<Vec<_>>());
            let sampling = Sampling { temperature: 1.0, top_k: 0, top_p: 1.0 };
            let mut generation = model.start(7, sampling, 3).unwrap();
            let blank = model.looks(gpu).await.unwrap().blank;
            let empty = model.draw(gpu, &[]).await.unwrap();
            let mut codes = Vec::new();
            let mut last = Vec::new();
            while generation.remaining() > 0 {
                let step = model.step(gpu, &mut generation).await.unwrap();
                assert!((step.id as usize) < model.vqvae().codes(), "a class token was written");
                assert_eq!(step.probabilities.len(), model.vqvae().codes());
                let total: f32 = step.probabilities.iter().sum();
                assert!((total - 1.0).abs() < 1e-4, "probabilities sum to {total}");
                codes.push(step.id);
                last = model.draw(gpu, &codes).await.unwrap();
            }
            assert_eq!(codes.len(), CODES_PER_IMAGE);
            // The finished picture is the decoder's image of the codes, and not the blank one.
            let mut vq = VqVae::load(gpu, VQ_CARD, VQ_WEIGHTS).unwrap();
            let want = vq.decode(gpu, &codes).unwrap().read(gpu).await.unwrap();
            assert_eq!(last, want);
            let ink = |image: &[f32]| image.iter().sum::<f32>();
            assert!(ink(&last) > ink(&empty) + 20.0, "{} vs {}", ink(&last), ink(&empty));
            assert_eq!(model.draw(gpu, &[blank; 3]).await.unwrap(), empty);
            // The same seed writes the same codes.
            let mut again = model.start(7, sampling, 3).unwrap();
            let mut repeat = Vec::new();
            while again.remaining() > 0 {
                repeat.push(model.step(gpu, &mut again).await.unwrap().id);
            }
            assert_eq!(repeat, codes);
        }

        async fn a_second_image_makes_nothing() {
            // A device of its own, so that only this test's work is counted.
            let gpu = &Gpu::new().await.unwrap();
            let mut model = load(gpu);
            let sampling = Sampling { temperature: 1.0, top_k: 0, top_p: 1.0 };
            for (seed, counted) in [(1, false), (2, true)] {
                let mut generation = model.start(3, sampling, seed).unwrap();
                let mut codes = Vec::new();
                while generation.remaining() > 0 {
                    let before = gpu.stats();
                    codes.push(model.step(gpu, &mut generation).await.unwrap().id);
                    model.draw(gpu, &codes).await.unwrap();
                    if counted {
                        let step = gpu.stats() - before;
                        assert_made_nothing(&format!("code {} of a second image", codes.len()), step);
                    }
                }
            }
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            let mut model = load(gpu);
            let sampling = Sampling { temperature: 1.0, top_k: 0, top_p: 1.0 };
            invalid(model.start(10, sampling, 1).map(drop));
            invalid(model.draw(gpu, &[0; 50]).await.map(drop));
            let text = include_str!("../../www/models/gpt_shakespeare.json");
            let weights = include_bytes!("../../www/models/gpt_shakespeare.safetensors");
            let mismatched = ImageGpt::load(gpu, (text, weights), (VQ_CARD, VQ_WEIGHTS));
            invalid(mismatched.map(drop));
        }
    }
}
