"""Trains the convolutional VAE (models.Vae) on Fashion-MNIST or MNIST with a Bernoulli decoder:
binary cross-entropy with logits on the grayscale pixel values, summed over the 784 pixels, plus
the analytic KL divergence of the encoder's Gaussian from N(0, I). Exports vae_<dataset> (latent
16) or vae2d_<dataset> (latent 2); the 2-D model also writes the latent map the page draws.

    python train_vae.py --dataset fashion --latent 16 [--quick]
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F

import common
from models import Vae

EPOCHS, BATCH, LR = 20, 128, 1e-3
SEED, EVAL_SEED = 0, 1234
MAP_PER_CLASS = 200
PIXELS = 28 * 28


def terms(logits: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor):
    """Per-batch sums of the reconstruction term (nats) and of the KL divergence to N(0, I)."""
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * (1 + logvar - mean.square() - logvar.exp()).sum()
    return bce, kl


@torch.no_grad()
def evaluate(model: Vae, images: torch.Tensor) -> dict:
    """Negative ELBO (one z sample per image, fixed seed), its KL part, and the per-pixel MSE of
    decode(mean), all averaged over the images."""
    model.eval()
    noise = torch.Generator(device=images.device).manual_seed(EVAL_SEED)
    bce = kl = sq = 0.0
    for x in images.split(1000):
        mean, logvar = model.encode(x)
        eps = torch.randn(mean.shape, generator=noise, device=x.device)
        b, k = terms(model.decode_logits(mean + eps * (0.5 * logvar).exp()), x, mean, logvar)
        bce, kl = bce + b.item(), kl + k.item()
        sq += (model.decode(mean) - x).square().sum().item()
    n = len(images)
    return {"neg_elbo": (bce + kl) / n, "kl": kl / n, "mse": sq / (n * PIXELS)}


def mean_image_baseline(train: torch.Tensor, test: torch.Tensor) -> dict:
    """Every pixel an independent Bernoulli with its training-set mean, Laplace-smoothed
    ((sum + 1) / (N + 2)) so that pixels blank in every training image keep a finite loss."""
    p = ((train.sum(0) + 1) / (len(train) + 2)).expand_as(test)
    bce = F.binary_cross_entropy(p, test, reduction="sum").item() / len(test)
    mse = (p - test).square().mean().item()
    return {"neg_elbo": bce, "kl": 0.0, "mse": mse}


def described(m: dict) -> dict:
    return {
        "neg_elbo": {"value": round(m["neg_elbo"], 3),
                     "unit": "nats per image: negative ELBO = Bernoulli BCE summed over 784 "
                             "pixels on grayscale [0,1] targets (not binarised) + KL, one z "
                             "sample per image (fixed seed), test-set mean"},
        "kl": {"value": round(m["kl"], 3),
               "unit": "nats per image: KL(q(z|x) || N(0, I)), test-set mean"},
        "reconstruction_mse": {"value": round(m["mse"], 5),
                               "unit": "mean squared error per pixel of decode(mean) against "
                                       "the [0,1] input, test set"},
    }


@torch.no_grad()
def write_map(model: Vae, images: torch.Tensor, labels: torch.Tensor, dataset: str) -> None:
    """Encoded means of a seed-chosen subset of test images, MAP_PER_CLASS per class, in test-set
    order, for the page's 2-D latent map."""
    pick = torch.Generator().manual_seed(SEED)
    labels = labels.cpu()
    chosen = torch.cat([idx[torch.randperm(len(idx), generator=pick)[:MAP_PER_CLASS]]
                        for idx in (torch.nonzero(labels == c).squeeze(1) for c in range(10))])
    chosen = chosen.sort().values
    means, _ = model.encode(images[chosen.to(images.device)])
    out = {"means": [[round(v, 4) for v in row] for row in means.cpu().tolist()],
           "labels": labels[chosen].tolist()}
    path = common.MODELS / f"vae2d_{dataset}_map.json"
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["fashion", "mnist"], required=True)
    parser.add_argument("--latent", type=int, choices=[16, 2], required=True)
    parser.add_argument("--quick", action="store_true", help="a few steps, for a smoke test")
    args = parser.parse_args()

    common.seed_everything(SEED)
    device = common.pick_device()
    train, _ = common.load_images(args.dataset, "train")
    test, test_labels = common.load_images(args.dataset, "test")
    train, test = train.to(device), test.to(device)

    model = Vae(args.latent).to(device)
    steps_per_epoch = len(train) // BATCH
    steps = 30 if args.quick else EPOCHS * steps_per_epoch
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    progress = common.Progress(steps, f"vae latent {args.latent} {args.dataset}")
    start = time.time()
    step = 0
    while step < steps:
        model.train()
        order = torch.randperm(len(train), device=device)[: steps_per_epoch * BATCH]
        for batch in order.split(BATCH):
            x = train[batch]
            logits, mean, logvar = model(x)
            bce, kl = terms(logits, x, mean, logvar)
            loss = (bce + kl) / len(x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            progress.update(step, loss=loss.item())
            if step == steps:
                break
    seconds = time.time() - start
    print(f"trained in {seconds:.0f}s")

    metrics = evaluate(model, test)
    baseline = mean_image_baseline(train, test)
    for what, m in (("vae", metrics), ("mean-image baseline", baseline)):
        print(f"{what}: -ELBO {m['neg_elbo']:.2f} nats/image (KL {m['kl']:.2f}), "
              f"MSE {m['mse']:.5f}")

    info = common.DATASETS[args.dataset]
    name = f"vae_{args.dataset}" if args.latent == 16 else f"vae2d_{args.dataset}"
    card = {
        "task": f"variational autoencoder, {args.latent}-D latent",
        "trained_on": common.hardware(device),
        "training_seconds": round(seconds, 1),
        "data": {**info, "train": len(train), "test": len(test)},
        "architecture": {
            "class": "models.Vae", "latent": args.latent,
            "likelihood": "Bernoulli per pixel (binary cross-entropy with logits on grayscale "
                          "[0,1] targets, summed over 784 pixels)",
            "prior": "N(0, I), analytic KL",
            "decoder_output": "sigmoid probabilities (pixel means), 1 x 28 x 28",
            "optimiser": f"Adam, lr {LR} cosine-annealed to 0", "batch": BATCH,
            "epochs": round(steps / steps_per_epoch, 2), "steps": steps, "seed": SEED,
            "quick": args.quick,
        },
        "metrics": described(metrics),
        "baselines": {"mean_image_bernoulli": {
            "description": "each pixel an independent Bernoulli with the training-set mean "
                           "(Laplace-smoothed); no latent, so KL 0",
            **described(baseline)}},
    }
    common.export(name, model, card)
    if args.latent == 2:
        write_map(model, test, test_labels, args.dataset)


if __name__ == "__main__":
    main()
