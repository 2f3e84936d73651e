//! The classifier of `training/models.py` that scores generated images (as the model cards'
//! class agreement does): three strided convolutions, a 128-wide feature layer, class logits.

use super::layers::{Conv, Linear};
use super::scratch::{tensors, Scratch};
use super::weights::Weights;
use crate::formats::json::Json;
use crate::ops::activation::{activation, Activation};
use crate::ops::conv::Conv2dGeometry;
use crate::{Error, Gpu, Result, Tensor};

pub const CLASSES: usize = 10;

pub struct Classifier {
    conv1: Conv,
    conv2: Conv,
    conv3: Conv,
    fc: Linear,
    head: Linear,
    buffers: Scratch<Buffers>,
}

struct Buffers {
    h1: [Tensor; 2],
    h2: [Tensor; 2],
    h3: [Tensor; 2],
    flat: Tensor,
    features: [Tensor; 2],
    logits: Tensor,
}

impl Classifier {
    /// Loads `classifier_<data>.safetensors`, checked against its model card.
    pub fn load(gpu: &Gpu, card: &str, safetensors: &[u8]) -> Result<Classifier> {
        let w = Weights::open(gpu, &Json::parse(card)?, safetensors)?;
        let down = Conv2dGeometry::new(2, 1);
        Ok(Classifier {
            conv1: w.conv("conv1", [32, 1, 4, 4], true, down, false)?,
            conv2: w.conv("conv2", [64, 32, 4, 4], true, down, false)?,
            conv3: w.conv("conv3", [64, 64, 3, 3], true, down, false)?,
            fc: w.linear("fc", [128, 64 * 4 * 4], true)?,
            head: w.linear("head", [CLASSES, 128], true)?,
            buffers: Scratch::new(),
        })
    }

    /// Class logits `[n, 10]` for images `[n, 1, 28, 28]` with pixels in [0, 1] (eval mode: the
    /// dropout before the head does nothing).
    pub fn forward(&mut self, gpu: &Gpu, images: &Tensor) -> Result<&Tensor> {
        let &[n, 1, 28, 28] = images.shape() else {
            return Err(Error::Invalid(format!(
                "the classifier takes [n, 1, 28, 28] images; got {:?}",
                images.shape()
            )));
        };
        let b = self.buffers.get(n, || {
            let h3: [Tensor; 2] = tensors(gpu, &[n, 64, 4, 4])?;
            Ok(Buffers {
                h1: tensors(gpu, &[n, 32, 14, 14])?,
                h2: tensors(gpu, &[n, 64, 7, 7])?,
                flat: h3[1].view(&[n, 64 * 4 * 4])?,
                h3,
                features: tensors(gpu, &[n, 128])?,
                logits: Tensor::zeros(gpu, &[n, CLASSES])?,
            })
        })?;
        let relu = Activation::Relu;
        let ([h1, h1_act], [h2, h2_act], [h3, h3_act]) = (&b.h1, &b.h2, &b.h3);
        self.conv1.forward(gpu, images, h1)?;
        activation(gpu, relu, h1, h1_act)?;
        self.conv2.forward(gpu, h1_act, h2)?;
        activation(gpu, relu, h2, h2_act)?;
        self.conv3.forward(gpu, h2_act, h3)?;
        activation(gpu, relu, h3, h3_act)?;
        let [features, features_act] = &b.features;
        self.fc.forward(gpu, &b.flat, features)?;
        activation(gpu, relu, features, features_act)?;
        self.head.forward(gpu, features_act, &b.logits)?;
        Ok(&b.logits)
    }

    /// The most likely class of each image.
    pub async fn classes(&mut self, gpu: &Gpu, images: &Tensor) -> Result<Vec<u32>> {
        let logits = self.forward(gpu, images)?.read(gpu).await?;
        let best = |row: &[f32]| {
            (0..CLASSES).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap_or(0) as u32
        };
        Ok(logits.chunks(CLASSES).map(best).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::safetensors::SafeTensors;
    use crate::testing::*;

    const CARD: &str = include_str!("../../www/models/classifier_mnist.json");
    const WEIGHTS: &[u8] = include_bytes!("../../www/models/classifier_mnist.safetensors");
    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/classifier_mnist.safetensors");

    /// Logits against PyTorch's for 8 test images: sums of up to 1,024 products (the feature
    /// layer), so 1e-5 absolute and relative.
    async fn matches_pytorch(gpu: &Gpu) {
        let f = SafeTensors::parse(FIXTURE).unwrap();
        let mut classifier = Classifier::load(gpu, CARD, WEIGHTS).unwrap();
        let images =
            Tensor::from_slice(gpu, &[8, 1, 28, 28], &f.f32("images", &[8, 1, 28, 28]).unwrap())
                .unwrap();
        let logits = classifier.forward(gpu, &images).unwrap().read(gpu).await.unwrap();
        assert_close("classifier logits", &logits, &f.f32("logits", &[8, 10]).unwrap(), 2e-5, 1e-5);
        let labels: Vec<u32> = f.i64("labels", &[8]).unwrap().iter().map(|&c| c as u32).collect();
        assert_eq!(classifier.classes(gpu, &images).await.unwrap(), labels, "test images' classes");
    }

    gpu_tests! {
        async fn the_classifier_matches_pytorch() {
            matches_pytorch(gpu().await).await;
        }

        async fn the_classifier_on_the_reference_device() {
            matches_pytorch(&Gpu::reference()).await;
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let mut classifier = Classifier::load(gpu, CARD, WEIGHTS).unwrap();
            let wrong = Tensor::zeros(gpu, &[2, 784]).unwrap();
            assert!(matches!(classifier.forward(gpu, &wrong), Err(Error::Invalid(_))));
        }
    }
}
