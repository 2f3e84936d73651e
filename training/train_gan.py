"""Trains the conditional DCGAN (models.Generator, models.Discriminator) on Fashion-MNIST or MNIST
and exports gan_generator_<dataset> and gan_discriminator_<dataset>. The samples are scored with
classifier_<dataset>, so run train_classifier.py for the data set first.

    python train_gan.py --dataset {fashion,mnist} [--quick]
"""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F

import common
import sample_metrics
from models import CLASSES, Discriminator, Generator

EPOCHS = 20  # 25-28 s on an H200 (the steps are launch-bound)
BATCH = 256
LATENT = 64
LR, BETAS = 2e-4, (0.5, 0.999)
QUICK_STEPS = 5


def dcgan_init(module: nn.Module) -> None:
    """DCGAN's initialisation: weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


@torch.no_grad()
def generate(generator: Generator, labels: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Samples of the given classes, in eval mode (as the page runs it), mapped to [0, 1]."""
    generator.eval()
    z = torch.randn(len(labels), generator.latent, generator=rng, device=labels.device)
    images = torch.cat([generator(z[i : i + 1000], labels[i : i + 1000])
                        for i in range(0, len(labels), 1000)])
    return (images + 1) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(common.DATASETS), required=True)
    parser.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
    args = parser.parse_args()

    common.seed_everything(0)
    device = common.pick_device()
    classifier = sample_metrics.load_classifier(args.dataset, device)  # fails early if missing
    train_x, train_y = (t.to(device) for t in common.load_images(args.dataset, "train"))
    train_x = train_x * 2 - 1

    generator, discriminator = Generator(LATENT).to(device), Discriminator().to(device)
    generator.apply(dcgan_init)
    discriminator.apply(dcgan_init)
    opt_g = torch.optim.Adam(generator.parameters(), lr=LR, betas=BETAS, fused=True)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=LR, betas=BETAS, fused=True)
    real_target = torch.ones(BATCH, device=device)
    fake_target = torch.zeros(BATCH, device=device)
    per_epoch = len(train_x) // BATCH
    steps = QUICK_STEPS if args.quick else EPOCHS * per_epoch
    progress = common.Progress(steps, f"gan {args.dataset}")
    for step in range(steps):
        if step % per_epoch == 0:
            order = torch.randperm(len(train_x), device=device)
        batch = order[(step % per_epoch) * BATCH :][:BATCH]
        fake_y = torch.randint(0, CLASSES, (BATCH,), device=device)
        fake = generator(torch.randn(BATCH, LATENT, device=device), fake_y)

        d_loss = (F.binary_cross_entropy_with_logits(
                      discriminator(train_x[batch], train_y[batch]), real_target)
                  + F.binary_cross_entropy_with_logits(
                      discriminator(fake.detach(), fake_y), fake_target))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        # Non-saturating generator loss: -log D(G(z)).
        g_loss = F.binary_cross_entropy_with_logits(discriminator(fake, fake_y), real_target)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if step % 20 == 0 or step + 1 == steps:  # reading the losses waits for the GPU
            progress.update(step + 1, d_loss=d_loss.item(), g_loss=g_loss.item())
    seconds = progress.seconds()
    print(f"trained in {seconds:.1f} s")

    rng = torch.Generator(device=device).manual_seed(1)
    labels = sample_metrics.sample_labels(device)
    reference = sample_metrics.test_features(classifier, args.dataset, device)
    metrics = sample_metrics.score(classifier, generate(generator, labels, rng), labels,
                                   reference, args.dataset)
    baselines = sample_metrics.baselines(classifier, args.dataset, reference, device)
    for name, figures in [("gan", metrics), *baselines.items()]:
        print(f"{name}: Fréchet distance {figures['frechet_distance']['value']:.3f}, "
              f"class agreement {figures['class_agreement']['value']:.4f}")

    info = common.DATASETS[args.dataset]
    card = {
        "task": f"class-conditional {info['title']} image generation "
                f"(classes 0-9: {', '.join(info['classes'])})",
        "trained_on": common.hardware(device),
        "training_seconds": round(seconds, 1),
        "data": {**info, "train": len(train_x), "test": len(reference)},
        "architecture": {
            "model": "conditional DCGAN; generator: transposed convs 74-96 k7, 96-48 k4 s2, "
                     "48-1 k4 s2 with batch norm and ReLU, tanh output; discriminator: "
                     "conv 11-64 k4 s2, LeakyReLU 0.2, conv 64-128 k4 s2, batch norm, "
                     "LeakyReLU 0.2, linear 6272-1",
            "latent": LATENT,
            "loss": "binary cross-entropy on logits, non-saturating generator loss",
            "optimizer": f"Adam, lr {LR}, betas {BETAS}, for both networks",
            "batch": BATCH, "epochs": EPOCHS if not args.quick else round(steps / per_epoch, 3),
            "fake_labels": "uniform random classes"},
        "evaluated_with": f"classifier_{args.dataset} (eval mode); generator in eval mode",
        "metrics": metrics,
        "baselines": baselines,
    }
    common.export(f"gan_generator_{args.dataset}", generator.cpu(), {
        "input": f"z, [N, {LATENT}] standard normal, then the one-hot class, as a 1x1 image: "
                 f"[N, {LATENT + CLASSES}, 1, 1] (channels 0-{LATENT - 1} z, "
                 f"{LATENT}-{LATENT + CLASSES - 1} one-hot)",
        "output": "[N, 1, 28, 28] in [-1, 1] (tanh); pixel value in [0, 1] = (x + 1) / 2",
        **card,
        "discriminator": f"gan_discriminator_{args.dataset}",
    })
    common.export(f"gan_discriminator_{args.dataset}", discriminator.cpu().eval(), {
        "input": "[N, 1, 28, 28] images in [-1, 1] and a class; the class is appended as 10 "
                 "constant one-hot planes: [N, 11, 28, 28]",
        "output": "[N] logit that the image is a real one of that class (sigmoid: probability)",
        **card,
        "generator": f"gan_generator_{args.dataset}",
    })


if __name__ == "__main__":
    main()
