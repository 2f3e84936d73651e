//! The conditional DCGAN of `training/models.py`: `Generator` grows noise and a class into an
//! image by transposed convolutions, `Discriminator` scores an image of a class as real or fake.
//! Weights are uploaded once; buffers are made once per batch size and reused. Both train as
//! their PyTorch modules do: `train()`, then `forward` and `backward` (see `crate::train::gan`).

use super::layers::{BatchNorm2d, Conv, Linear, Param, Train};
use super::scratch::{tensors, Scratch};
use super::weights::{checkpoint, Init, Weights};
use crate::formats::json::Json;
use crate::ops::activation::{activation, activation_backward, Activation};
use crate::ops::conv::Conv2dGeometry;
use crate::ops::Gradient;
use crate::{Error, Gpu, Result, Tensor};

pub const CLASSES: usize = 10;
pub const IMAGE: usize = 28;
const PIXELS: usize = IMAGE * IMAGE;

/// Fails unless the batch has a class, each one of 0..9.
pub(crate) fn check_labels(labels: &[u32]) -> Result<()> {
    if labels.is_empty() {
        return Err(Error::Invalid("a batch needs at least one image".into()));
    }
    match labels.iter().position(|&c| c as usize >= CLASSES) {
        Some(i) => Err(Error::Invalid(format!("class {} at {i} is not one of 0..9", labels[i]))),
        None => Ok(()),
    }
}

/// The batch size of the last forward pass in training mode, which a backward pass follows.
fn last_batch(last: Option<usize>, model: &str) -> Result<usize> {
    last.ok_or_else(|| {
        Error::Invalid(format!(
            "the {model}'s backward pass needs a forward pass in training mode first"
        ))
    })
}

/// `nn.Sequential(ConvTranspose2d(latent + 10, 96, 7, 1, 0), BatchNorm2d, ReLU,
/// ConvTranspose2d(96, 48, 4, 2, 1), BatchNorm2d, ReLU, ConvTranspose2d(48, 1, 4, 2, 1), Tanh)`.
pub struct Generator {
    latent: usize,
    net_0: Conv,
    net_1: BatchNorm2d,
    net_3: Conv,
    net_4: BatchNorm2d,
    net_6: Conv,
    buffers: Scratch<GeneratorBuffers>,
    grads: Scratch<GeneratorGrads>,
    training: bool,
    /// The batch size of the last forward pass, if it was in training mode.
    last_batch: Option<usize>,
}

struct GeneratorBuffers {
    input: Tensor,
    h1: [Tensor; 3],
    h2: [Tensor; 3],
    out: Tensor,
    images: Tensor,
}

impl GeneratorBuffers {
    fn new(gpu: &Gpu, n: usize, latent: usize) -> Result<GeneratorBuffers> {
        Ok(GeneratorBuffers {
            input: Tensor::zeros(gpu, &[n, latent + CLASSES, 1, 1])?,
            h1: tensors(gpu, &[n, 96, 7, 7])?,
            h2: tensors(gpu, &[n, 48, 14, 14])?,
            out: Tensor::zeros(gpu, &[n, 1, IMAGE, IMAGE])?,
            images: Tensor::zeros(gpu, &[n, 1, IMAGE, IMAGE])?,
        })
    }
}

/// The gradients of the activations, two per shape, used in turn.
struct GeneratorGrads {
    h1: [Tensor; 2],
    h2: [Tensor; 2],
    out: Tensor,
}

impl Generator {
    /// Loads `gan_generator_<data>.safetensors`, checked against its model card.
    pub fn load(gpu: &Gpu, card: &str, safetensors: &[u8]) -> Result<Generator> {
        let card = Json::parse(card)?;
        let latent = card
            .get("architecture")
            .and_then(|a| a.get("latent"))
            .and_then(Json::as_usize)
            .ok_or_else(|| {
                Error::Invalid("the generator card has no architecture.latent".into())
            })?;
        Generator::new(&Weights::open(gpu, &card, safetensors)?, latent)
    }

    /// A generator of `latent` noise numbers with fresh weights from `seed`, as
    /// `generator.apply(dcgan_init)` makes them: to train from scratch.
    pub fn fresh(gpu: &Gpu, latent: usize, seed: u64) -> Result<Generator> {
        if latent == 0 {
            return Err(Error::Invalid("a generator needs at least one noise number".into()));
        }
        Generator::new(&Weights::fresh(gpu, Init::Dcgan, seed), latent)
    }

    fn new(w: &Weights, latent: usize) -> Result<Generator> {
        let (first, up) = (Conv2dGeometry::new(1, 0), Conv2dGeometry::new(2, 1));
        Ok(Generator {
            latent,
            net_0: w.conv("net.0", [latent + CLASSES, 96, 7, 7], false, first, true)?,
            net_1: w.batch_norm("net.1", 96)?,
            net_3: w.conv("net.3", [96, 48, 4, 4], false, up, true)?,
            net_4: w.batch_norm("net.4", 48)?,
            net_6: w.conv("net.6", [48, 1, 4, 4], true, up, true)?,
            buffers: Scratch::new(),
            grads: Scratch::new(),
            training: false,
            last_batch: None,
        })
    }

    pub fn latent(&self) -> usize {
        self.latent
    }

    /// `generator.train()` (`true`): batch statistics in the forward pass, gradients kept; or
    /// `generator.eval()`.
    pub fn set_training(&mut self, gpu: &Gpu, training: bool) -> Result<()> {
        (self.training, self.last_batch) = (training, None);
        self.net_0.set_training(gpu, training)?;
        self.net_1.set_training(gpu, training)?;
        self.net_3.set_training(gpu, training)?;
        self.net_4.set_training(gpu, training)?;
        self.net_6.set_training(gpu, training)
    }

    /// The parameters in `generator.parameters()` order, with their PyTorch names.
    pub(crate) fn parameters(&self) -> Vec<(&'static str, &Param)> {
        const NAMES: [&str; 8] = [
            "net.0.weight",
            "net.1.weight",
            "net.1.bias",
            "net.3.weight",
            "net.4.weight",
            "net.4.bias",
            "net.6.weight",
            "net.6.bias",
        ];
        let params = (self.net_0.params().chain(self.net_1.params()))
            .chain(self.net_3.params().chain(self.net_4.params()))
            .chain(self.net_6.params());
        NAMES.into_iter().zip(params).collect()
    }

    /// The batch norms' running statistics, with their PyTorch names.
    pub(crate) fn running_statistics(&self) -> [(&'static str, &Tensor); 4] {
        [
            ("net.1.running_mean", &self.net_1.running_mean),
            ("net.1.running_var", &self.net_1.running_var),
            ("net.4.running_mean", &self.net_4.running_mean),
            ("net.4.running_var", &self.net_4.running_var),
        ]
    }

    /// The weights and running statistics as a safetensors checkpoint under their PyTorch
    /// names: what `load` reads, with a card giving their count.
    pub async fn checkpoint(&self, gpu: &Gpu) -> Result<Vec<u8>> {
        let params = self.parameters();
        let stats = self.running_statistics();
        let tensors: Vec<(&str, &Tensor)> =
            params.iter().map(|(n, p)| (*n, &p.value)).chain(stats).collect();
        checkpoint(gpu, &tensors).await
    }

    /// Images `[n, 1, 28, 28]` in [-1, 1] from `z` (`n` rows of `latent` numbers) and one class
    /// per image. The tensor is the generator's own and is overwritten by the next call.
    pub fn forward(&mut self, gpu: &Gpu, z: &[f32], labels: &[u32]) -> Result<&Tensor> {
        check_labels(labels)?;
        let (n, latent) = (labels.len(), self.latent);
        if z.len() != n * latent {
            return Err(Error::Invalid(format!(
                "{} latent numbers for {n} images of {latent} each",
                z.len()
            )));
        }
        let b = self.buffers.get(n, || GeneratorBuffers::new(gpu, n, latent))?;
        self.last_batch = self.training.then_some(n);
        // The input is z followed by the one-hot class, as a 1x1 image of latent + 10 channels.
        let mut input = vec![0.0; n * (latent + CLASSES)];
        for (i, row) in input.chunks_mut(latent + CLASSES).enumerate() {
            row[..latent].copy_from_slice(&z[i * latent..(i + 1) * latent]);
            row[latent + labels[i] as usize] = 1.0;
        }
        b.input.write(gpu, &input)?;
        let [h1, h1_norm, h1_act] = &b.h1;
        self.net_0.forward(gpu, &b.input, h1)?;
        self.net_1.forward(gpu, h1, h1_norm)?;
        activation(gpu, Activation::Relu, h1_norm, h1_act)?;
        let [h2, h2_norm, h2_act] = &b.h2;
        self.net_3.forward(gpu, h1_act, h2)?;
        self.net_4.forward(gpu, h2, h2_norm)?;
        activation(gpu, Activation::Relu, h2_norm, h2_act)?;
        self.net_6.forward(gpu, h2_act, &b.out)?;
        activation(gpu, Activation::Tanh, &b.out, &b.images)?;
        Ok(&b.images)
    }

    /// The backward pass of the last (training) forward pass, from the images' gradient: writes
    /// every parameter's gradient. z is not trained, so its gradient is not formed.
    pub fn backward(&mut self, gpu: &Gpu, d_images: &Tensor) -> Result<()> {
        let n = last_batch(self.last_batch, "generator")?;
        let b = self.buffers.made(n)?;
        let g = self.grads.get(n, || {
            Ok(GeneratorGrads {
                h1: tensors(gpu, &[n, 96, 7, 7])?,
                h2: tensors(gpu, &[n, 48, 14, 14])?,
                out: Tensor::zeros(gpu, &[n, 1, IMAGE, IMAGE])?,
            })
        })?;
        let write = Some(Gradient::Write);
        let ([h1, h1_norm, h1_act], [h2, h2_norm, h2_act]) = (&b.h1, &b.h2);
        let ([d1, d1_other], [d2, d2_other]) = (&g.h1, &g.h2);
        activation_backward(gpu, Activation::Tanh, &b.out, d_images, &g.out)?;
        self.net_6.backward(gpu, h2_act, &g.out, write, Some(d2))?;
        activation_backward(gpu, Activation::Relu, h2_norm, d2, d2_other)?;
        self.net_4.backward(gpu, h2, d2_other, write, d2)?;
        self.net_3.backward(gpu, h1_act, d2, write, Some(d1))?;
        activation_backward(gpu, Activation::Relu, h1_norm, d1, d1_other)?;
        self.net_1.backward(gpu, h1, d1_other, write, d1)?;
        self.net_0.backward(gpu, &b.input, d1, write, None)
    }
}

/// `net = Sequential(Conv2d(11, 64, 4, 2, 1), LeakyReLU(0.2), Conv2d(64, 128, 4, 2, 1),
/// BatchNorm2d(128), LeakyReLU(0.2))`, then `head = Linear(6272, 1)`, on the image with its
/// one-hot class as 10 constant planes.
pub struct Discriminator {
    net_0: Conv,
    net_2: Conv,
    net_3: BatchNorm2d,
    head: Linear,
    /// Row c holds the 10 planes of class c: all ones in plane c, zeros elsewhere.
    class_planes: Tensor,
    buffers: Scratch<DiscriminatorBuffers>,
    grads: Scratch<DiscriminatorGrads>,
    training: bool,
    /// The batch size of the last forward pass, if it was in training mode.
    last_batch: Option<usize>,
}

struct DiscriminatorBuffers {
    input: Tensor,
    h1: [Tensor; 2],
    h2: [Tensor; 3],
    flat: Tensor,
    logits: Tensor,
}

impl DiscriminatorBuffers {
    fn new(gpu: &Gpu, n: usize) -> Result<DiscriminatorBuffers> {
        let h2: [Tensor; 3] = tensors(gpu, &[n, 128, 7, 7])?;
        Ok(DiscriminatorBuffers {
            input: Tensor::zeros(gpu, &[n, 1 + CLASSES, IMAGE, IMAGE])?,
            h1: tensors(gpu, &[n, 64, 14, 14])?,
            flat: h2[2].view(&[n, 128 * 7 * 7])?,
            h2,
            logits: Tensor::zeros(gpu, &[n, 1])?,
        })
    }
}

/// The gradients of the activations (two per shape, used in turn), and the images'.
struct DiscriminatorGrads {
    input: Tensor,
    h1: [Tensor; 2],
    h2: [Tensor; 2],
    flat: Tensor,
    images: Tensor,
}

impl DiscriminatorGrads {
    fn new(gpu: &Gpu, n: usize) -> Result<DiscriminatorGrads> {
        let h2: [Tensor; 2] = tensors(gpu, &[n, 128, 7, 7])?;
        Ok(DiscriminatorGrads {
            input: Tensor::zeros(gpu, &[n, 1 + CLASSES, IMAGE, IMAGE])?,
            h1: tensors(gpu, &[n, 64, 14, 14])?,
            flat: h2[0].view(&[n, 128 * 7 * 7])?,
            h2,
            images: Tensor::zeros(gpu, &[n, 1, IMAGE, IMAGE])?,
        })
    }
}

impl Discriminator {
    /// Loads `gan_discriminator_<data>.safetensors`, checked against its model card.
    pub fn load(gpu: &Gpu, card: &str, safetensors: &[u8]) -> Result<Discriminator> {
        Discriminator::new(gpu, &Weights::open(gpu, &Json::parse(card)?, safetensors)?)
    }

    /// A discriminator with fresh weights from `seed`, as `dcgan_init` makes them.
    pub fn fresh(gpu: &Gpu, seed: u64) -> Result<Discriminator> {
        Discriminator::new(gpu, &Weights::fresh(gpu, Init::Dcgan, seed))
    }

    fn new(gpu: &Gpu, w: &Weights) -> Result<Discriminator> {
        let mut planes = vec![0.0; CLASSES * CLASSES * PIXELS];
        for c in 0..CLASSES {
            let start = (c * CLASSES + c) * PIXELS;
            planes[start..start + PIXELS].fill(1.0);
        }
        let down = Conv2dGeometry::new(2, 1);
        Ok(Discriminator {
            net_0: w.conv("net.0", [64, 1 + CLASSES, 4, 4], true, down, false)?,
            net_2: w.conv("net.2", [128, 64, 4, 4], false, down, false)?,
            net_3: w.batch_norm("net.3", 128)?,
            head: w.linear("head", [1, 128 * 7 * 7], true)?,
            class_planes: Tensor::from_slice(gpu, &[CLASSES, CLASSES * PIXELS], &planes)?,
            buffers: Scratch::new(),
            grads: Scratch::new(),
            training: false,
            last_batch: None,
        })
    }

    /// `discriminator.train()` (`true`) or `.eval()`, as `Generator::set_training`.
    pub fn set_training(&mut self, gpu: &Gpu, training: bool) -> Result<()> {
        (self.training, self.last_batch) = (training, None);
        self.net_0.set_training(gpu, training)?;
        self.net_2.set_training(gpu, training)?;
        self.net_3.set_training(gpu, training)?;
        self.head.set_training(gpu, training)
    }

    /// The parameters in `discriminator.parameters()` order, with their PyTorch names.
    pub(crate) fn parameters(&self) -> Vec<(&'static str, &Param)> {
        const NAMES: [&str; 7] = [
            "net.0.weight",
            "net.0.bias",
            "net.2.weight",
            "net.3.weight",
            "net.3.bias",
            "head.weight",
            "head.bias",
        ];
        let params = (self.net_0.params().chain(self.net_2.params()))
            .chain(self.net_3.params().chain(self.head.params()));
        NAMES.into_iter().zip(params).collect()
    }

    /// The batch norm's running statistics, with their PyTorch names.
    pub(crate) fn running_statistics(&self) -> [(&'static str, &Tensor); 2] {
        [
            ("net.3.running_mean", &self.net_3.running_mean),
            ("net.3.running_var", &self.net_3.running_var),
        ]
    }

    /// The weights and running statistics as a safetensors checkpoint under their PyTorch
    /// names: what `load` reads, with a card giving their count.
    pub async fn checkpoint(&self, gpu: &Gpu) -> Result<Vec<u8>> {
        let params = self.parameters();
        let stats = self.running_statistics();
        let tensors: Vec<(&str, &Tensor)> =
            params.iter().map(|(n, p)| (*n, &p.value)).chain(stats).collect();
        checkpoint(gpu, &tensors).await
    }

    /// The logit of "real" `[n, 1]` for images `[n, 1, 28, 28]` in [-1, 1] of the given classes.
    pub fn forward(&mut self, gpu: &Gpu, images: &Tensor, labels: &[u32]) -> Result<&Tensor> {
        check_labels(labels)?;
        let n = labels.len();
        if images.shape() != [n, 1, IMAGE, IMAGE] {
            return Err(Error::Invalid(format!(
                "the discriminator takes [{n}, 1, 28, 28] images for {n} labels; got {:?}",
                images.shape()
            )));
        }
        let b = self.buffers.get(n, || DiscriminatorBuffers::new(gpu, n))?;
        self.last_batch = self.training.then_some(n);
        // torch.cat([images, class planes], 1), by copies on the GPU.
        let per_image = (1 + CLASSES) * PIXELS;
        for (i, &c) in labels.iter().enumerate() {
            b.input.copy_range(gpu, images, i * PIXELS..(i + 1) * PIXELS, i * per_image)?;
            let planes = c as usize * CLASSES * PIXELS..(c as usize + 1) * CLASSES * PIXELS;
            b.input.copy_range(gpu, &self.class_planes, planes, i * per_image + PIXELS)?;
        }
        let leaky = Activation::LeakyRelu(0.2);
        let [h1, h1_act] = &b.h1;
        self.net_0.forward(gpu, &b.input, h1)?;
        activation(gpu, leaky, h1, h1_act)?;
        let [h2, h2_norm, h2_act] = &b.h2;
        self.net_2.forward(gpu, h1_act, h2)?;
        self.net_3.forward(gpu, h2, h2_norm)?;
        activation(gpu, leaky, h2_norm, h2_act)?;
        self.head.forward(gpu, &b.flat, &b.logits)?;
        Ok(&b.logits)
    }

    /// The backward pass of the last (training) forward pass from the logits' gradient: the
    /// parameters' gradients when `grads` says how to store them (a discriminator step adds
    /// the fake batch's to the real one's), and the images' gradient `[n, 1, 28, 28]` when
    /// `images` is set (a generator step's way back into the generator).
    pub fn backward(
        &mut self,
        gpu: &Gpu,
        d_logits: &Tensor,
        grads: Option<Gradient>,
        images: bool,
    ) -> Result<Option<&Tensor>> {
        let n = last_batch(self.last_batch, "discriminator")?;
        let b = self.buffers.made(n)?;
        let g = self.grads.get(n, || DiscriminatorGrads::new(gpu, n))?;
        let leaky = Activation::LeakyRelu(0.2);
        let ([h1, h1_act], [h2, h2_norm, _]) = (&b.h1, &b.h2);
        let ([d1, d1_other], [d2, d2_other]) = (&g.h1, &g.h2);
        self.head.backward(gpu, &b.flat, d_logits, grads, Some(&g.flat))?;
        activation_backward(gpu, leaky, h2_norm, d2, d2_other)?;
        self.net_3.backward(gpu, h2, d2_other, grads, d2)?;
        self.net_2.backward(gpu, h1_act, d2, grads, Some(d1))?;
        activation_backward(gpu, leaky, h1, d1, d1_other)?;
        self.net_0.backward(gpu, &b.input, d1_other, grads, images.then_some(&g.input))?;
        if !images {
            return Ok(None);
        }
        // The images' part of torch.cat([images, class planes], 1): plane 0 of each input.
        let per_image = (1 + CLASSES) * PIXELS;
        for i in 0..n {
            g.images.copy_range(
                gpu,
                &g.input,
                i * per_image..i * per_image + PIXELS,
                i * PIXELS,
            )?;
        }
        Ok(Some(&g.images))
    }

    /// The discriminator's probability that each image is real: the sigmoid of its logit.
    pub async fn probabilities(
        &mut self,
        gpu: &Gpu,
        images: &Tensor,
        labels: &[u32],
    ) -> Result<Vec<f32>> {
        let logits = self.forward(gpu, images, labels)?.read(gpu).await?;
        Ok(logits.iter().map(|&l| 1.0 / (1.0 + (-l).exp())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::safetensors::SafeTensors;
    use crate::testing::*;

    struct Checkpoint {
        generator: (&'static str, &'static [u8]),
        discriminator: (&'static str, &'static [u8]),
        fixture: &'static [u8],
    }

    macro_rules! checkpoint {
        ($data:literal) => {
            Checkpoint {
                generator: (
                    include_str!(concat!("../../www/models/gan_generator_", $data, ".json")),
                    include_bytes!(concat!(
                        "../../www/models/gan_generator_",
                        $data,
                        ".safetensors"
                    )),
                ),
                discriminator: (
                    include_str!(concat!("../../www/models/gan_discriminator_", $data, ".json")),
                    include_bytes!(concat!(
                        "../../www/models/gan_discriminator_",
                        $data,
                        ".safetensors"
                    )),
                ),
                fixture: include_bytes!(concat!(
                    "../../tests/fixtures/gan_",
                    $data,
                    ".safetensors"
                )),
            }
        };
    }

    const MNIST: Checkpoint = checkpoint!("mnist");
    const FASHION: Checkpoint = checkpoint!("fashion");

    fn labels(fixture: &SafeTensors, name: &str, n: usize) -> Vec<u32> {
        fixture.i64(name, &[n]).unwrap().iter().map(|&c| c as u32).collect()
    }

    /// Generated pixels and discriminator logits against PyTorch's (float32 on the CPU). The
    /// sums run over up to 1,024 products (the discriminator's second convolution) and 6,272
    /// (its head), summed in another order than PyTorch's. Largest errors seen on lavapipe:
    /// 1.7e-6 for pixels, 7.7e-6 for logits; the tolerances leave about 6x for other adapters.
    async fn matches_pytorch(gpu: &Gpu, c: &Checkpoint) {
        let fixture = SafeTensors::parse(c.fixture).unwrap();
        let mut generator = Generator::load(gpu, c.generator.0, c.generator.1).unwrap();
        let mut discriminator =
            Discriminator::load(gpu, c.discriminator.0, c.discriminator.1).unwrap();
        let n = 8;
        let z = fixture.f32("z", &[n, generator.latent()]).unwrap();
        let classes = labels(&fixture, "labels", n);
        let images = generator.forward(gpu, &z, &classes).unwrap().read(gpu).await.unwrap();
        let want = fixture.f32("images", &[n, 1, IMAGE, IMAGE]).unwrap();
        assert_close("generated pixels", &images, &want, 1e-5, 0.0);

        for (image_name, label_name, logit_name) in
            [("images", "labels", "d_logits_fake"), ("real_images", "real_labels", "d_logits_real")]
        {
            let shape = [n, 1, IMAGE, IMAGE];
            let input =
                Tensor::from_slice(gpu, &shape, &fixture.f32(image_name, &shape).unwrap()).unwrap();
            let classes = labels(&fixture, label_name, n);
            let logits =
                discriminator.forward(gpu, &input, &classes).unwrap().read(gpu).await.unwrap();
            let want = fixture.f32(logit_name, &[n]).unwrap();
            assert_close(logit_name, &logits, &want, 5e-5, 1e-5);
        }
    }

    /// A checkpoint with element `i` of `tensor` replaced by `value`.
    fn with_value(bytes: &[u8], tensor: &str, i: usize, value: f32) -> Vec<u8> {
        let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let at = header + SafeTensors::parse(bytes).unwrap().info(tensor).unwrap().start + 4 * i;
        let mut out = bytes.to_vec();
        out[at..at + 4].copy_from_slice(&value.to_le_bytes());
        out
    }

    gpu_tests! {
        async fn mnist_gan_matches_pytorch() {
            matches_pytorch(gpu().await, &MNIST).await;
        }

        async fn fashion_gan_matches_pytorch() {
            matches_pytorch(gpu().await, &FASHION).await;
        }

        async fn the_reference_device_matches_pytorch() {
            matches_pytorch(&Gpu::reference(), &MNIST).await;
        }

        async fn scores_are_probabilities_and_a_second_batch_makes_nothing() {
            // A device of its own, so that only this test's work is counted.
            let gpu = &Gpu::new().await.unwrap();
            let mut generator = Generator::load(gpu, MNIST.generator.0, MNIST.generator.1).unwrap();
            let mut discriminator =
                Discriminator::load(gpu, MNIST.discriminator.0, MNIST.discriminator.1).unwrap();
            let mut rng = Rng::new(5);
            let classes: Vec<u32> = (0..7).map(|i| i % 10).collect();
            for batch in 0..2 {
                let before = gpu.stats();
                let z = rng.vec(7 * 64);
                let images = generator.forward(gpu, &z, &classes).unwrap();
                let pixels = images.read(gpu).await.unwrap();
                let images = images.view(&[7, 1, IMAGE, IMAGE]).unwrap();
                let p = discriminator.probabilities(gpu, &images, &classes).await.unwrap();
                assert!(p.iter().all(|p| (0.0..=1.0).contains(p)), "{p:?}");
                assert!(pixels.iter().all(|p| (-1.0..=1.0).contains(p)), "tanh pixels");
                if batch == 1 {
                    let step = gpu.stats() - before;
                    assert_made_nothing("a GAN batch", step);
                    // One submission per pass: the images' read, then the scores'.
                    assert_eq!((step.submissions, step.read_backs), (2, 2), "{step:?}");
                }
            }
            assert_eq!((generator.buffers.sizes(), discriminator.buffers.sizes()), (vec![7], vec![7]));
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            let (card, bytes) = MNIST.generator;
            invalid(Generator::load(gpu, card, &bytes[..bytes.len() - 4]).map(drop));
            invalid(Generator::load(gpu, "{\"parameters\": 1}", bytes).map(drop));
            let wrong_latent = card.replace("\"latent\": 64", "\"latent\": 32");
            invalid(Generator::load(gpu, &wrong_latent, bytes).map(drop));
            invalid(Discriminator::load(gpu, MNIST.discriminator.0, bytes).map(drop));
            for (tensor, value) in [("net.3.weight", f32::NAN), ("net.4.running_var", f32::INFINITY)] {
                let load = Generator::load(gpu, card, &with_value(bytes, tensor, 5, value));
                let message = load.map(drop).unwrap_err().to_string();
                assert!(message.contains(&format!("'{tensor}' holds {value} at element 5")), "{message}");
            }
            let mut generator = Generator::load(gpu, card, bytes).unwrap();
            invalid(generator.forward(gpu, &[0.0; 64], &[10]).map(drop));
            invalid(generator.forward(gpu, &[0.0; 63], &[1]).map(drop));
            invalid(generator.forward(gpu, &[], &[]).map(drop));
            let mut discriminator =
                Discriminator::load(gpu, MNIST.discriminator.0, MNIST.discriminator.1).unwrap();
            let wrong = Tensor::zeros(gpu, &[2, 1, IMAGE, IMAGE]).unwrap();
            invalid(discriminator.forward(gpu, &wrong, &[1]).map(drop));
            gpu.check().unwrap();
        }
    }
}
