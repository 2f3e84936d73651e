"""Scores class-conditional image samples with the exported classifier_<dataset>: the Fréchet
distance between its 128-d features of the samples and of the test images, and the fraction of
samples it assigns to the requested class; plus the same scores for two baselines."""

import sys

import torch

import common
from models import CLASSES, Classifier

PER_CLASS = 1000  # samples scored per class


def units(dataset: str) -> dict[str, str]:
    samples = f"{CLASSES * PER_CLASS:,} samples ({PER_CLASS:,} per class)"
    return {
        "frechet_distance": f"Fréchet distance between Gaussians fitted to classifier_{dataset}'s "
                            f"128-d features of {samples} and of the 10,000 test images "
                            "(lower is better)",
        "class_agreement": f"fraction of {samples} that classifier_{dataset} assigns to the "
                           "requested class",
    }


def load_classifier(dataset: str, device: torch.device) -> Classifier:
    path = common.MODELS / f"classifier_{dataset}.safetensors"
    if not path.exists():
        sys.exit(f"error: {path} is missing; the samples are scored with "
                 f"it, so run `python train_classifier.py --dataset {dataset}` first")
    classifier = Classifier()
    classifier.load_state_dict(common.load_safetensors(path))
    return classifier.to(device).eval()


@torch.no_grad()
def features(classifier: Classifier, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The 128-d features (float64) and predicted classes of images in [0, 1]."""
    feats, classes = [], []
    for i in range(0, len(images), 1000):
        f = classifier.features(images[i : i + 1000])
        feats.append(f.double())
        classes.append(classifier.head(f).argmax(1))
    return torch.cat(feats), torch.cat(classes)


def test_features(classifier: Classifier, dataset: str, device: torch.device) -> torch.Tensor:
    return features(classifier, common.load_images(dataset, "test")[0].to(device))[0]


def _sqrtm(s: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix."""
    values, vectors = torch.linalg.eigh(s)
    return vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two sets of feature rows:
    |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr(sqrt(sqrt(S1) S2 sqrt(S1))), in float64."""
    a, b = a.double(), b.double()
    s1, s2 = torch.cov(a.T), torch.cov(b.T)
    root = _sqrtm(s1)
    middle = root @ s2 @ root
    cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    return ((a.mean(0) - b.mean(0)).square().sum() + s1.trace() + s2.trace() - 2 * cross).item()


def score(classifier: Classifier, images: torch.Tensor, labels: torch.Tensor,
          test_features: torch.Tensor, dataset: str) -> dict:
    """Metrics of samples in [0, 1] that were asked to be of class `labels`."""
    feats, predicted = features(classifier, images)
    unit = units(dataset)
    return {
        "frechet_distance": {"value": round(frechet_distance(feats, test_features), 3),
                             "unit": unit["frechet_distance"]},
        "class_agreement": {"value": round((predicted == labels).double().mean().item(), 4),
                            "unit": unit["class_agreement"]},
    }


def sample_labels(device: torch.device) -> torch.Tensor:
    """The requested classes: PER_CLASS of each, in class order."""
    return torch.arange(CLASSES, device=device).repeat_interleave(PER_CLASS)


def baselines(classifier: Classifier, dataset: str, test_features: torch.Tensor,
              device: torch.device, seed: int = 1) -> dict:
    """Independent pixels (each pixel drawn from a Gaussian with its per-class training mean and
    standard deviation, clipped to [0, 1]) and, as the floor, real training images."""
    train_x, train_y = (t.to(device) for t in common.load_images(dataset, "train"))
    rng = torch.Generator(device=device).manual_seed(seed)
    labels = sample_labels(device)
    mean = torch.stack([train_x[train_y == c].mean(0) for c in range(CLASSES)])
    std = torch.stack([train_x[train_y == c].std(0) for c in range(CLASSES)])
    noise = torch.randn((len(labels), *train_x.shape[1:]), generator=rng, device=device)
    pixels = (mean[labels] + std[labels] * noise).clamp(0, 1)
    real = torch.cat([(train_y == c).nonzero()[:PER_CLASS, 0] for c in range(CLASSES)])
    return {
        "independent_pixels": {
            "description": "each pixel drawn independently from a Gaussian with that pixel's "
                           "per-class training mean and standard deviation, clipped to [0, 1]",
            **score(classifier, pixels, labels, test_features, dataset)},
        "real_training_images": {
            "description": f"the first {PER_CLASS:,} training images of each class (the "
                           "floor: what a perfect model would score)",
            **score(classifier, train_x[real], train_y[real], test_features, dataset)},
    }
