"""Trains the class-conditional diffusion U-Net (models.UNet, process in diffusion.py) on
Fashion-MNIST or MNIST and exports diffusion_<dataset>: the exponential moving average of the
weights, with a card. Samples are scored with classifier_<dataset>, as the GAN's are.

    python train_diffusion.py --dataset {fashion,mnist} [--minutes M] [--resume] [--quick]

--minutes bounds the training time (the step count is what fits); --resume starts from the
committed www/models/diffusion_<dataset>.safetensors, so a later run on any machine continues the
training (the card adds the runs up); with --minutes 0 it only scores them again.
"""

import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

import common
import diffusion
import sample_metrics
from models import NO_CLASS, UNet

BATCH = 128
LR, WARMUP = 2e-3, 200
EMA_DECAY = 0.999
LABEL_DROPOUT = 0.1  # how often a training image is shown as NO_CLASS (for guidance)
# The page's default sampler and a cheaper one (half the passes); both are scored on 10,000
# samples. Guidance above 1 made samples more typical of their class but less varied, which
# the Fréchet distance punishes (see the README); the ancestral sampler's fresh noise helped.
SETTINGS = {"default": {"sampler": "ancestral", "steps": 20, "guidance": 1.0},
            "cheaper": {"sampler": "ddim", "steps": 10, "guidance": 1.0}}
ETA = {"ddim": 0.0, "ancestral": 1.0}
QUICK_STEPS = 5
LR_SCHEDULE = f"lr {LR} after a {WARMUP}-step linear warm-up, cosine decay to 0 over the run"


def learning_rate(step: int, done: float) -> float:
    """A linear warm-up over WARMUP steps, then a cosine decay to 0 at the end of the time
    budget (`done` is the fraction of it used): the weights settle instead of jittering at
    full step size when the time runs out."""
    return LR * min(1.0, (step + 1) / WARMUP) * 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))


@torch.no_grad()
def generate(model: UNet, labels: torch.Tensor, sampler: str, steps: int, guidance: float,
             rng: torch.Generator) -> torch.Tensor:
    """Samples of the given classes, mapped to [0, 1]."""
    model.eval()
    out = []
    for i in range(0, len(labels), 1000):
        y = labels[i : i + 1000]
        x = torch.randn((len(y), 1, 28, 28), generator=rng, device=labels.device)
        out.append(diffusion.sample(model, x, y, steps, guidance, eta=ETA[sampler], rng=rng))
    return (torch.cat(out) + 1) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(common.DATASETS), required=True)
    parser.add_argument("--minutes", type=float, default=30.0, help="training time budget")
    parser.add_argument("--resume", action="store_true", help="start from the committed weights")
    parser.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
    args = parser.parse_args()

    common.seed_everything(0)
    device = common.pick_device()
    classifier = sample_metrics.load_classifier(args.dataset, device)  # fails early if missing
    train_x, train_y = (t.to(device) for t in common.load_images(args.dataset, "train"))
    train_x = train_x * 2 - 1
    name = f"diffusion_{args.dataset}"

    model = UNet().to(device)
    earlier = {"steps": 0, "seconds": 0.0, "runs": []}
    if args.resume:
        model.load_state_dict(common.load_safetensors(common.MODELS / f"{name}.safetensors"))
        earlier = json.loads((common.MODELS / f"{name}.json").read_text())["training"]
    ema = UNet().to(device)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=LR)

    budget = args.minutes * 60
    per_epoch = len(train_x) // BATCH
    progress = common.Progress(QUICK_STEPS if args.quick else 10**9, f"diffusion {args.dataset}")
    start, step, losses = time.time(), 0, []
    model.train()
    while (step < QUICK_STEPS) if args.quick else (time.time() - start < budget):
        if step % per_epoch == 0:
            order = torch.randperm(len(train_x), device=device)
        batch = order[(step % per_epoch) * BATCH :][:BATCH]
        x0, y = train_x[batch], train_y[batch].clone()
        y[torch.rand(len(y), device=device) < LABEL_DROPOUT] = NO_CLASS
        t = torch.randint(0, diffusion.T, (len(x0),), device=device)
        x_t, v = diffusion.noised(x0, t, torch.randn_like(x0))
        loss = F.mse_loss(model(x_t, t, y), v)
        done = step / QUICK_STEPS if args.quick else (time.time() - start) / budget
        for group in opt.param_groups:  # a resumed run warms up too
            group["lr"] = learning_rate(step, done)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        decay = min(EMA_DECAY, (1 + step + earlier["steps"]) / (10 + step + earlier["steps"]))
        with torch.no_grad():
            for e, p in zip(ema.parameters(), model.parameters()):
                e.lerp_(p, 1 - decay)
        step += 1
        losses.append(loss.item())
        progress.update(step, loss=sum(losses[-50:]) / len(losses[-50:]))
    seconds = time.time() - start
    print(f"\ntrained {step} steps in {seconds:.0f} s")

    labels = sample_metrics.sample_labels(device)
    reference = sample_metrics.test_features(classifier, args.dataset, device)
    if args.quick:
        labels = labels[::100]
    metrics = {}
    for setting, s in SETTINGS.items():
        rng = torch.Generator(device=device).manual_seed(1)
        begin = time.time()
        images = generate(ema, labels, s["sampler"], s["steps"], s["guidance"], rng)
        scored = sample_metrics.score(classifier, images, labels, reference, args.dataset)
        for metric, m in scored.items():
            metrics[f"{metric}_{setting}"] = {
                "value": m["value"],
                "unit": f"{m['unit']}; {s['sampler']}, {s['steps']} steps, guidance {s['guidance']}"}
        print(f"{setting} ({s['steps']} steps): Fréchet distance "
              f"{scored['frechet_distance']['value']:.3f}, class agreement "
              f"{scored['class_agreement']['value']:.4f} ({time.time() - begin:.0f} s)")

    info = common.DATASETS[args.dataset]
    run = {"steps": step, "seconds": round(seconds, 1), "on": common.hardware(device),
           "lr": LR_SCHEDULE}
    runs = [*earlier["runs"], run] if step else earlier["runs"]  # --minutes 0: scored only
    training = {"steps": earlier["steps"] + step, "seconds": round(earlier["seconds"] + seconds, 1),
                "runs": runs}
    common.export(name, ema.cpu(), {
        "task": f"class-conditional {info['title']} image generation by denoising diffusion "
                f"(classes 0-9: {', '.join(info['classes'])}; class {NO_CLASS}: none)",
        "trained_on": "; ".join(dict.fromkeys(r["on"] for r in runs)),
        "training_seconds": training["seconds"],
        "training": training,
        "data": {**info, "train": len(train_x), "test": len(reference)},
        "architecture": {
            "class": "models.UNet", "channels": list(ema.channels), "embedding": ema.emb_dim,
            "time_embedding": len(ema.time_freqs) * 2,
            "model": "U-Net 28 -> 14 -> 7 -> 14 -> 28: 3x3 conv in, a residual block per level "
                     "each way and two at 7x7 (GroupNorm(8) + SiLU + 3x3 conv, a per-channel "
                     "shift from the step embedding, again, plus the input), downsampling by "
                     "3x3 stride-2 convs, upsampling by 4x4 stride-2 transposed convs, skips "
                     "added; GroupNorm + SiLU + 3x3 conv out. No attention: at 7x7 a 3x3 conv "
                     "already sees most of the image",
            "conditioning": "sinusoidal step embedding (64) through Linear-SiLU-Linear, plus a "
                            f"learned class embedding of {NO_CLASS + 1} entries (the last: no "
                            "class), then SiLU; each block adds Linear(embedding) per channel",
            "objective": "v prediction (v = sqrt(abar) eps - sqrt(1 - abar) x0), mean squared "
                         "error, t uniform over the schedule: v stays well scaled at both ends "
                         "of the schedule, where predicting eps or x0 alone breaks down, and "
                         "suits samplers of few steps",
            "schedule": f"cosine (Nichol & Dhariwal), T = {diffusion.T}, offset "
                        f"{diffusion.COSINE_OFFSET}, abar at least {diffusion.MIN_ALPHA_BAR}",
            "sampler": "DDIM (eta 0, deterministic) or ancestral (eta 1), trailing timesteps "
                       "T-1-iT/S, predicted x0 clipped to [-1, 1]",
            "guidance": f"classifier-free: labels dropped to class {NO_CLASS} for "
                        f"{LABEL_DROPOUT:.0%} of training images; v = v_none + w (v_class - v_none)",
            "optimizer": "Adam; each run's learning rate is in training.runs",
            "batch": BATCH, "ema": EMA_DECAY,
            "page_defaults": SETTINGS["default"]},
        "input": "x_t [N, 1, 28, 28] (images in [-1, 1] plus noise), t [N] steps 0..999, "
                 f"labels [N] 0..{NO_CLASS}",
        "output": "v [N, 1, 28, 28]",
        "evaluated_with": f"classifier_{args.dataset} (eval mode); EMA weights",
        "metrics": metrics,
        "baselines": sample_metrics.baselines(classifier, args.dataset, reference, device),
    })


if __name__ == "__main__":
    main()
