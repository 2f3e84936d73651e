"""How fast the GAN learns from scratch, in PyTorch, for the same run on our kernels
(examples/learn_gan.rs); scripts/learn-gan.sh runs both and prints them side by side.

    python learn_gan.py --export DIR   the page's 5,000 MNIST training images (the first 500 of
                                       each class) and DCGAN-initialised weights (seed 0) in DIR
    python learn_gan.py --from DIR --steps N [--batch 64]
                                       trains from those weights on those images as train_gan.py
                                       does, then prints the committed classifier's class
                                       agreement on 1,000 samples (100 per class, eval mode)
"""

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import common
import sample_metrics
from export_subset import PER_CLASS
from models import CLASSES, Discriminator, Generator
from train_gan import BETAS, LATENT, LR, dcgan_init

SAMPLES = 1000


def export(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = common.load_images("mnist", "train")
    picked = torch.cat([(labels == c).nonzero().flatten()[:PER_CLASS] for c in range(10)]).sort().values
    common.save_safetensors(folder / "data.safetensors",
                            {"images": images[picked] * 2 - 1, "labels": labels[picked]})
    common.seed_everything(0)
    for name, model in (("generator", Generator(LATENT)), ("discriminator", Discriminator())):
        model.apply(dcgan_init)
        state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
        common.save_safetensors(folder / f"{name}.safetensors", state)
        card = {"parameters": sum(v.numel() for v in state.values()), "architecture": {"latent": LATENT}}
        (folder / f"{name}.json").write_text(json.dumps(card) + "\n")
    print(f"wrote {len(picked)} images and the initial weights to {folder}")


def learn(folder: Path, steps: int, batch: int) -> None:
    torch.manual_seed(1)
    data = common.load_safetensors(folder / "data.safetensors")
    images, labels = data["images"], data["labels"]
    g, d = Generator(LATENT), Discriminator()
    for name, model in (("generator", g), ("discriminator", d)):
        # Batch-norm counters are not exported, and are all that may be missing.
        missing, unexpected = model.load_state_dict(
            common.load_safetensors(folder / f"{name}.safetensors"), strict=False)
        assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), missing
    opt_g = torch.optim.Adam(g.parameters(), lr=LR, betas=BETAS)
    opt_d = torch.optim.Adam(d.parameters(), lr=LR, betas=BETAS)
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    start = time.time()
    for step in range(steps):
        pick = torch.randint(0, len(images), (batch,))
        fake_y = torch.randint(0, CLASSES, (batch,))
        fake = g(torch.randn(batch, LATENT), fake_y)
        d_loss = (F.binary_cross_entropy_with_logits(d(images[pick], labels[pick]), ones)
                  + F.binary_cross_entropy_with_logits(d(fake.detach(), fake_y), zeros))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.binary_cross_entropy_with_logits(d(fake, fake_y), ones)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}: d_loss {d_loss.item():.3f}, g_loss {g_loss.item():.3f}", flush=True)
    seconds = time.time() - start
    g.eval()
    asked = torch.arange(CLASSES).repeat_interleave(SAMPLES // CLASSES)
    with torch.no_grad():
        samples = (g(torch.randn(SAMPLES, LATENT), asked) + 1) / 2
        _, predicted = sample_metrics.features(sample_metrics.load_classifier("mnist", "cpu"), samples)
    agreement = (predicted == asked).double().mean().item()
    print(f"pytorch: {steps} steps of batch {batch} in {seconds:.1f} s ({steps / seconds:.2f} steps/s "
          f"on {torch.get_num_threads()} CPU threads); class agreement {agreement:.3f} on {SAMPLES} samples")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path)
    parser.add_argument("--from", dest="source", type=Path)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    if args.export:
        export(args.export)
    if args.source:
        learn(args.source, args.steps, args.batch)


if __name__ == "__main__":
    main()
