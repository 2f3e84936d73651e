"""Trains the vector-quantized autoencoder (models.VqVae) on Fashion-MNIST or MNIST and exports
vqvae_<dataset>: 28x28 images to 7x7 codes from a codebook of 256, the image GPT's vocabulary.

    python train_vqvae.py --dataset {fashion,mnist} [--minutes M] [--quick]

Loss: binary cross-entropy of the decoded pixel logits on the grayscale targets (summed over the
784 pixels, as the VAE's), plus BETA times the squared distance of the encoder's output from its
code (the commitment). The straight-through estimator carries the decoder's gradient past the
nearest-code choice; the codebook follows the encoder outputs assigned to it by exponential
moving averages, and a code no batch has chosen for a while restarts at a random encoder output.
"""

import argparse
import time

import torch
import torch.nn.functional as F

import common
from models import VqVae

CODES, DIM = 256, 16
BATCH, LR, BETA, DECAY = 128, 2e-3, 0.25, 0.99
RESTART_EVERY, DEAD_BELOW = 100, 0.03  # steps; EMA count under which a code is unused
SEED = 0
PIXELS = 28 * 28


class CodebookEma:
    """The codebook's moving averages: how many encoder outputs each code took and their sum."""

    def __init__(self, model: VqVae):
        self.model = model
        self.count = torch.ones(CODES)
        self.total = model.codebook.clone()

    @torch.no_grad()
    def update(self, flat: torch.Tensor, codes: torch.Tensor) -> None:
        onehot = F.one_hot(codes, CODES).float()
        self.count.lerp_(onehot.sum(0), 1 - DECAY)
        self.total.lerp_(onehot.T @ flat, 1 - DECAY)
        n = self.count.sum()
        smoothed = (self.count + 1e-5) / (n + CODES * 1e-5) * n  # no division by 0
        self.model.codebook.copy_(self.total / smoothed[:, None])

    @torch.no_grad()
    def restart_unused(self, flat: torch.Tensor) -> int:
        dead = (self.count < DEAD_BELOW).nonzero().squeeze(1)
        pick = flat[torch.randint(len(flat), (len(dead),))]
        self.model.codebook[dead] = pick
        self.total[dead], self.count[dead] = pick, 1.0
        return len(dead)


def losses(model: VqVae, x: torch.Tensor):
    """(summed BCE per image, commitment per image, encoder outputs [P, dim], codes [P])."""
    z = model.encode(x)
    codes = model.nearest(z)
    zq = model.lookup(codes)
    logits = model.decode_logits(z + (zq - z).detach())  # straight through
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    commitment = (z - zq.detach()).square().sum() / len(x)
    return bce, commitment, z.permute(0, 2, 3, 1).reshape(-1, DIM), codes.flatten()


@torch.no_grad()
def evaluate(model: VqVae, images: torch.Tensor) -> dict:
    """Per-pixel MSE and per-image BCE of the decoded codes, the codes used and their perplexity
    (exp of the entropy of code frequencies: how many codes the images effectively use)."""
    model.eval()
    sq = bce = 0.0
    counts = torch.zeros(CODES)
    for x in images.split(1000):
        codes = model.nearest(model.encode(x))
        logits = model.decode_logits(model.lookup(codes))
        sq += (torch.sigmoid(logits) - x).square().sum().item()
        bce += F.binary_cross_entropy_with_logits(logits, x, reduction="sum").item()
        counts += torch.bincount(codes.flatten(), minlength=CODES)
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    n = len(images)
    return {"mse": sq / (n * PIXELS), "bce": bce / n, "used": int((counts > 0).sum()),
            "perplexity": entropy.exp().item()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(common.DATASETS), required=True)
    parser.add_argument("--minutes", type=float, default=10.0, help="training time budget")
    parser.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
    args = parser.parse_args()

    common.seed_everything(SEED)
    device = torch.device("cpu")  # small enough; the EMA bookkeeping stays simple
    train, _ = common.load_images(args.dataset, "train")
    test, _ = common.load_images(args.dataset, "test")
    model = VqVae(CODES, DIM)
    with torch.no_grad():  # start the codebook among real encoder outputs
        z = model.encode(train[:CODES * 4]).permute(0, 2, 3, 1).reshape(-1, DIM)
        model.codebook.copy_(z[torch.randperm(len(z))[:CODES]])
    ema = CodebookEma(model)
    opt = torch.optim.Adam(model.parameters(), lr=LR)

    budget = args.minutes * 60
    per_epoch = len(train) // BATCH
    progress = common.Progress(20 if args.quick else 10**9, f"vq-vae {args.dataset}")
    start, step, restarted = time.time(), 0, 0
    while step < 20 if args.quick else time.time() - start < budget:
        if step % per_epoch == 0:
            order = torch.randperm(len(train))
        x = train[order[(step % per_epoch) * BATCH :][:BATCH]]
        model.train()
        bce, commitment, flat, codes = losses(model, x)
        done = step / 20 if args.quick else (time.time() - start) / budget
        for group in opt.param_groups:
            group["lr"] = LR * 0.5 * (1 + torch.cos(torch.tensor(min(done, 1.0) * torch.pi)).item())
        opt.zero_grad(set_to_none=True)
        (bce + BETA * commitment).backward()
        opt.step()
        ema.update(flat.detach(), codes)
        step += 1
        if step % RESTART_EVERY == 0 and done < 0.8:  # late restarts would not be trained in
            restarted += ema.restart_unused(flat.detach())
        progress.update(step, bce=bce.item(), commitment=commitment.item())
    seconds = time.time() - start
    print(f"\ntrained {step} steps in {seconds:.0f} s; {restarted} code restarts")

    m = evaluate(model, test)
    print(f"test: MSE {m['mse']:.5f} per pixel, BCE {m['bce']:.2f} nats per image, "
          f"{m['used']} codes used, perplexity {m['perplexity']:.1f}")
    info = common.DATASETS[args.dataset]
    common.export(f"vqvae_{args.dataset}", model, {
        "task": f"{info['title']} images to 7x7 codes and back (the image GPT's tokens)",
        "trained_on": common.hardware(device),
        "training_seconds": round(seconds, 1),
        "data": {**info, "train": len(train), "test": len(test)},
        "architecture": {
            "class": "models.VqVae", "codes": CODES, "code_dim": DIM, "grid": [7, 7],
            "encoder": "Conv 1->32 4x4/2, ReLU, Conv 32->64 4x4/2, ReLU, Conv 64->16 1x1",
            "quantizer": "nearest codebook vector by squared distance (ties: lower index)",
            "decoder": "Conv 16->64 3x3, ReLU, ConvT 64->32 4x4/2, ReLU, ConvT 32->1 4x4/2, "
                       "sigmoid",
            "loss": f"BCE with logits summed over the pixels + {BETA} x commitment; "
                    "straight-through gradient",
            "codebook": f"exponential moving averages (decay {DECAY}); codes with an average "
                        f"count under {DEAD_BELOW} restart at a random encoder output every "
                        f"{RESTART_EVERY} steps in the first 80% of the run",
            "optimizer": f"Adam, lr {LR} cosine-decayed to 0 over the time budget",
            "batch": BATCH, "steps": step, "epochs": round(step / per_epoch, 2),
            "seed": SEED, "quick": args.quick},
        "metrics": {
            "reconstruction_mse": {"value": round(m["mse"], 5),
                                   "unit": "mean squared error per pixel of decode(nearest "
                                           "codes) against the [0,1] test images"},
            "reconstruction_bce": {"value": round(m["bce"], 2),
                                   "unit": "nats per test image: BCE summed over 784 pixels"},
            "codes_used": {"value": m["used"], "unit": f"of {CODES}, on the test set"},
            "code_perplexity": {"value": round(m["perplexity"], 1),
                                "unit": "exp(entropy of the test set's code frequencies)"}},
    })


if __name__ == "__main__":
    main()
