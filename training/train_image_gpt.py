"""Trains the image GPT on Fashion-MNIST or MNIST and exports imagegpt_<dataset>: a
class-conditional decoder-only Transformer (models.Gpt) that writes an image's 7x7 codes of
vqvae_<dataset> one at a time, row by row, after a class token. Samples are decoded by the
VQ-VAE and scored with classifier_<dataset>, as the GAN's are.

    python train_image_gpt.py --dataset {fashion,mnist} [--minutes M] [--resume] [--quick]

--resume starts from the committed weights, so a later run on any machine continues the
training (the card adds the runs up); with --minutes 0 it only scores them again.
"""

import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

import common
import sample_metrics
from models import CLASSES, Gpt, VqVae

LAYERS, HEADS, WIDTH, DROPOUT = 4, 4, 128, 0.1
BATCH, LR, MIN_LR, WARMUP = 64, 1e-3, 1e-4, 200
TEMPERATURE = 1.0  # the page's default; the samples are scored at it
GRID = 7 * 7
LOSS_UNIT = ("nats per code: mean cross-entropy of the next-code predictions at all 49 positions "
             "of the 10,000 test images' codes, each after its class token")


def vqvae(dataset: str) -> VqVae:
    path = common.MODELS / f"vqvae_{dataset}.safetensors"
    card = json.loads((common.MODELS / f"vqvae_{dataset}.json").read_text())["architecture"]
    model = VqVae(card["codes"], card["code_dim"])
    model.load_state_dict(common.load_safetensors(path))
    return model.eval()


@torch.no_grad()
def sequences(vq: VqVae, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[N, 50]: the class token (codes + label), then the 49 codes in raster order."""
    codes = torch.cat([vq.nearest(vq.encode(x)).flatten(1) for x in images.split(1000)])
    return torch.cat([(len(vq.codebook) + labels)[:, None], codes], 1)


@torch.no_grad()
def model_loss(model: Gpt, seqs: torch.Tensor) -> float:
    model.eval()
    total = sum(F.cross_entropy(model(s[:, :-1]).flatten(0, 1), s[:, 1:].flatten(),
                                reduction="sum").item() for s in seqs.split(500))
    model.train()
    return total / (len(seqs) * GRID)


def baselines(train: torch.Tensor, test: torch.Tensor, codes: int) -> dict:
    """Code frequencies of the training codes, add-one smoothed: over all positions (unigram),
    and per class and position."""
    y, c = train[:, 0] - codes, train[:, 1:]
    unigram = (torch.bincount(c.flatten(), minlength=codes).double() + 1).log()
    unigram -= unigram.exp().sum().log()
    index = (y[:, None] * GRID + torch.arange(GRID)) * codes + c
    counts = torch.bincount(index.flatten(), minlength=CLASSES * GRID * codes).double() + 1
    table = counts.view(CLASSES, GRID, codes).log()
    table -= table.exp().sum(2, keepdim=True).log()
    ty, tc = test[:, 0] - codes, test[:, 1:]
    per_position = table[ty[:, None], torch.arange(GRID), tc]
    return {
        "unigram": {"description": "code frequencies of the training images, add-one smoothing",
                    "validation_loss": {"value": round(-unigram[tc].mean().item(), 4),
                                        "unit": LOSS_UNIT}},
        "class_and_position": {"description": "code frequencies at each grid position among "
                                              "the training images of each class, add-one "
                                              "smoothing (no context within the image)",
                               "validation_loss": {"value": round(-per_position.mean().item(), 4),
                                                   "unit": LOSS_UNIT}},
    }


@torch.no_grad()
def generate(model: Gpt, vq: VqVae, labels: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Images in [0, 1] of the given classes: codes drawn at TEMPERATURE one position at a time
    through the key-value cache, then decoded."""
    model.eval()
    out = []
    for y in labels.split(1000):
        cache, token, codes = [], len(vq.codebook) + y, []
        for _ in range(GRID):
            probs = F.softmax(model.step(token, cache) / TEMPERATURE, 1)
            token = torch.multinomial(probs, 1, generator=rng).squeeze(1)
            codes.append(token)
        out.append(vq.decode(torch.stack(codes, 1).view(-1, 7, 7)))
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(common.DATASETS), required=True)
    parser.add_argument("--minutes", type=float, default=25.0, help="training time budget")
    parser.add_argument("--resume", action="store_true", help="start from the committed weights")
    parser.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
    args = parser.parse_args()

    common.seed_everything(0)
    device = torch.device("cpu")
    classifier = sample_metrics.load_classifier(args.dataset, device)  # fails early if missing
    vq = vqvae(args.dataset)
    codes = len(vq.codebook)
    train = sequences(vq, *common.load_images(args.dataset, "train"))
    test = sequences(vq, *common.load_images(args.dataset, "test"))
    name = f"imagegpt_{args.dataset}"
    model = Gpt(codes + CLASSES, GRID, LAYERS, HEADS, WIDTH, DROPOUT, outputs=codes)
    earlier = {"steps": 0, "seconds": 0.0, "runs": []}
    if args.resume:
        model.load_state_dict(common.load_safetensors(common.MODELS / f"{name}.safetensors"))
        earlier = json.loads((common.MODELS / f"{name}.json").read_text())["training"]
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}], lr=LR, betas=(0.9, 0.99))

    budget, quick_steps = args.minutes * 60, 10
    per_epoch = len(train) // BATCH
    progress = common.Progress(quick_steps if args.quick else 10**9, f"image gpt {args.dataset}")
    start, step, losses = time.time(), 0, []
    model.train()
    while step < quick_steps if args.quick else time.time() - start < budget:
        if step % per_epoch == 0:
            order = torch.randperm(len(train))
        batch = train[order[(step % per_epoch) * BATCH :][:BATCH]]
        done = step / quick_steps if args.quick else (time.time() - start) / budget
        lr = MIN_LR + (LR - MIN_LR) * 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / WARMUP)
        loss = F.cross_entropy(model(batch[:, :-1]).flatten(0, 1), batch[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        losses.append(loss.item())
        progress.update(step, loss=sum(losses[-50:]) / len(losses[-50:]))
    seconds = time.time() - start
    print(f"\ntrained {step} steps in {seconds:.0f} s")

    validation = model_loss(model, test)
    base = baselines(train, test, codes)
    print(f"validation loss {validation:.4f} nats per code; unigram "
          f"{base['unigram']['validation_loss']['value']}, class and position "
          f"{base['class_and_position']['validation_loss']['value']}")
    labels = sample_metrics.sample_labels(device)
    if args.quick:
        labels = labels[::100]
    begin = time.time()
    images = generate(model, vq, labels, torch.Generator().manual_seed(1))
    reference = sample_metrics.test_features(classifier, args.dataset, device)
    scored = sample_metrics.score(classifier, images, labels, reference, args.dataset)
    print(f"Fréchet distance {scored['frechet_distance']['value']:.3f}, class agreement "
          f"{scored['class_agreement']['value']:.4f} ({time.time() - begin:.0f} s)")
    reconstructed = vq.decode(test[:, 1:].reshape(-1, 7, 7))
    floor = sample_metrics.score(classifier, reconstructed, test[:, 0] - codes, reference,
                                 args.dataset)

    info = common.DATASETS[args.dataset]
    run = {"steps": step, "seconds": round(seconds, 1), "on": common.hardware(device),
           "lr": f"AdamW, lr {LR} after a {WARMUP}-step warm-up, cosine decay to {MIN_LR} over "
                 "the run"}
    runs = [*earlier["runs"], run] if step else earlier["runs"]
    training = {"steps": earlier["steps"] + step, "seconds": round(earlier["seconds"] + seconds, 1),
                "runs": runs}
    tokens = [str(c) for c in range(codes)] + [f"<{c}>" for c in info["classes"]]
    common.export(name, model, {
        "task": f"class-conditional {info['title']} image generation, one vqvae_{args.dataset} "
                "code at a time",
        "input": f"[N, T] token ids (T <= {GRID}): the class token ({codes} + class), then "
                 "codes in raster order",
        "output": f"[N, T, {codes}] logits of the next code at each position",
        "trained_on": "; ".join(dict.fromkeys(r["on"] for r in runs)),
        "training_seconds": training["seconds"],
        "training": training,
        "data": {**info, "train": len(train), "test": len(test),
                 "tokens": f"vqvae_{args.dataset}'s codes of the images"},
        "architecture": {"type": "decoder-only Transformer (the character GPT's blocks)",
                         "vocab": tokens, "vocab_size": len(tokens), "outputs": codes,
                         "block_size": GRID, "n_layer": LAYERS, "n_head": HEADS,
                         "n_embd": WIDTH, "dropout": DROPOUT, "lm_head": "untied, no bias, "
                         "codes only", "gelu": "exact (erf)", "layer_norm_eps": 1e-5,
                         "codes": f"vqvae_{args.dataset}", "grid": [7, 7],
                         "batch": BATCH, "weight_decay": 0.1, "gradient_clipping": 1.0,
                         "quick": args.quick},
        "evaluated_with": f"classifier_{args.dataset} (eval mode); samples at temperature "
                          f"{TEMPERATURE}, decoded by vqvae_{args.dataset}",
        "metrics": {"validation_loss": {"value": round(validation, 4), "unit": LOSS_UNIT},
                    **scored},
        "baselines": {**base,
                      "vqvae_reconstructions": {
                          "description": f"the 10,000 test images through vqvae_{args.dataset} "
                                         "(the best this code grid can score)",
                          **floor},
                      **sample_metrics.baselines(classifier, args.dataset, reference, device)},
    })


if __name__ == "__main__":
    main()
