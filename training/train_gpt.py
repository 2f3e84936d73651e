"""Trains the character-level Gpt on the Shakespeare text (first 90% of characters train, last 10%
validation) and exports it as www/models/gpt_shakespeare.{safetensors,json}.

    python train_gpt.py [--quick] [--iters N] [--max-seconds S]

The learning rate follows the training's progress, the larger of iterations done / --iters and
seconds spent / --max-seconds, so a run stopped by the clock still ends with the rate decayed."""

import argparse
import contextlib
import math
import time

import torch
import torch.nn.functional as F

import common
from models import Gpt

NAME = "gpt_shakespeare"
PROMPT = "ROMEO:\n"
TEMPERATURE = 0.8
SAMPLE_CHARS = 500
WATCH_WINDOWS = 20  # the first fixed validation windows, watched during training
EVAL_SEED = 1234
SAMPLE_SEED = 7
LR, MIN_LR, WARMUP = 1e-3, 1e-4, 100
LOSS_UNIT = (f"nats per character: mean cross-entropy of the next-character predictions at all "
             f"{{0}} positions (contexts of 1 to {{0}} characters) of {{1}} fixed (seeded) random "
             f"windows of the split")


def windows(ids: torch.Tensor, count: int, length: int, generator=None) -> torch.Tensor:
    """count random windows of length + 1 characters: inputs are [:, :-1], targets [:, 1:]."""
    starts = torch.randint(len(ids) - length, (count,), generator=generator,
                           device="cpu" if generator else ids.device).to(ids.device)
    return ids[starts[:, None] + torch.arange(length + 1, device=ids.device)]


@torch.no_grad()
def model_loss(model: Gpt, batch: torch.Tensor, chunk: int = 50) -> float:
    """Mean cross-entropy in eval mode and float32 (no autocast)."""
    model.eval()
    total = 0.0
    for part in batch.split(chunk):
        logits = model(part[:, :-1])
        total += F.cross_entropy(logits.flatten(0, 1), part[:, 1:].flatten(),
                                 reduction="sum").item()
    model.train()
    return total / (batch.shape[0] * (batch.shape[1] - 1))


def baselines(train: torch.Tensor, vocab: int, batches: dict[str, torch.Tensor]) -> dict:
    """Unigram and bigram models with add-one smoothing, counted on the training split."""
    train = train.cpu()
    unigram = (torch.bincount(train, minlength=vocab).double() + 1).log()
    unigram -= unigram.exp().sum().log()
    pairs = torch.bincount(train[:-1] * vocab + train[1:], minlength=vocab * vocab)
    bigram = (pairs.view(vocab, vocab).double() + 1).log()
    bigram -= bigram.exp().sum(1, keepdim=True).log()
    out = {"unigram": {"description": "character frequencies of the training split, add-one "
                                      "smoothing"},
           "bigram": {"description": "next-character frequencies after each character in the "
                                     "training split, add-one smoothing"}}
    for split, batch in batches.items():
        x, y = batch[:, :-1].cpu(), batch[:, 1:].cpu()
        unit = {"unit": LOSS_UNIT.format(batch.shape[1] - 1, batch.shape[0])}
        out["unigram"][f"{split}_loss"] = {"value": -unigram[y].mean().item(), **unit}
        out["bigram"][f"{split}_loss"] = {"value": -bigram[x, y].mean().item(), **unit}
    return out


@torch.no_grad()
def sample(model: Gpt, prompt: list[int], count: int) -> list[int]:
    """count characters after the prompt, drawn at TEMPERATURE (float32, eval mode, seeded)."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(SAMPLE_SEED)
    ids = list(prompt)
    for _ in range(count):
        context = torch.tensor([ids[-model.block_size:]], device=device)
        probs = F.softmax(model(context)[0, -1].float().cpu() / TEMPERATURE, dim=-1)
        ids.append(torch.multinomial(probs, 1, generator=generator).item())
    return ids[len(prompt):]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few iterations (smoke test)")
    parser.add_argument("--iters", type=int, help="iterations (default 5000; 10 with --quick)")
    # 5000 iterations take 60 s on an H200 and about 30 min on 2 CPU cores; the clock is a guard
    # that keeps a slower machine within the 60-minute budget.
    parser.add_argument("--max-seconds", type=float, default=3600.0,
                        help="stop training after this many seconds (default 3600)")
    args = parser.parse_args()
    iters = args.iters or (10 if args.quick else 5000)
    batch_size = 4 if args.quick else 64
    eval_windows = 20 if args.quick else 200  # the fixed windows of the final metrics
    eval_every = 5 if args.quick else 500

    common.seed_everything(0)
    device = common.pick_device()
    text = common.load_text()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    missing = set(PROMPT) - set(chars)
    if missing:
        raise SystemExit(f"the prompt's characters {sorted(missing)} are not in the text")
    ids = torch.tensor([index[c] for c in text], dtype=torch.long, device=device)
    cut = int(0.9 * len(ids))
    train, val = ids[:cut], ids[cut:]
    print(f"{len(text)} characters, vocabulary {len(chars)}; train {len(train)}, "
          f"validation {len(val)}; device {common.hardware(device)}")

    model = Gpt(len(chars)).to(device)
    block = model.block_size
    generator = torch.Generator().manual_seed(EVAL_SEED)
    fixed = {"validation": windows(val, eval_windows, block, generator),
             "train": windows(train, eval_windows, block, generator)}
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=LR, betas=(0.9, 0.99), fused=device.type == "cuda")
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else contextlib.nullcontext())

    progress = common.Progress(iters, "gpt")
    start = time.time()
    done = 0
    while done < iters:
        fraction = max(done / iters, (time.time() - start) / args.max_seconds)
        if fraction >= 1:
            break
        cosine = MIN_LR + (LR - MIN_LR) * 0.5 * (1 + math.cos(math.pi * fraction))
        for group in optimizer.param_groups:
            group["lr"] = cosine * min(1.0, (done + 1) / WARMUP)
        batch = windows(train, batch_size, block)
        with autocast:
            logits = model(batch[:, :-1])
            loss = F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        done += 1
        if done % 20 == 0 or done == iters:  # .item() waits for the GPU: not every step
            progress.update(done, loss=loss.item())
        if done % eval_every == 0:
            watched = model_loss(model, fixed["validation"][:WATCH_WINDOWS])
            print(f"\niteration {done}: validation loss {watched:.4f} ({WATCH_WINDOWS} windows)")
    seconds = progress.seconds()
    if done < iters:
        print(f"\nstopped by the {args.max_seconds:.0f} s limit after {done} iterations")
    print(f"trained {done} iterations in {seconds:.1f} s ({done / seconds:.1f} iterations/s)")

    torch.backends.cuda.matmul.allow_tf32 = False  # the metrics in true float32
    metrics = {f"{split}_loss": {"value": model_loss(model, batch),
                                 "unit": LOSS_UNIT.format(block, eval_windows)}
               for split, batch in fixed.items()}
    base = baselines(train, len(chars), fixed)
    for name, figures in [("model", metrics), *base.items()]:
        print(f"{name}: " + ", ".join(f"{k} {v['value']:.4f}" for k, v in figures.items()
                                      if k != "description"))
    text_out = "".join(chars[i] for i in sample(model, [index[c] for c in PROMPT], SAMPLE_CHARS))
    print(f"sample at temperature {TEMPERATURE}:\n{PROMPT}{text_out}")

    common.export(NAME, model, {
        "task": "character-level language model of Shakespeare's plays",
        "input": f"[N, T] int64 character ids (T <= {block}), indices into architecture.vocab",
        "output": "[N, T, vocab] logits of the next character at each position",
        "trained_on": common.hardware(device),
        "training_seconds": round(seconds, 1),
        "data": {**common.SHAKESPEARE, "train": len(train), "validation": len(val),
                 "split": "first 90% of the characters train, last 10% validation"},
        "architecture": {"type": "character-level GPT (nanoGPT shape, pre-norm blocks)",
                         "vocab": chars, "vocab_size": len(chars), "block_size": block,
                         "n_layer": len(model.h), "n_head": model.h[0].attn.n_head,
                         "n_embd": model.wte.embedding_dim, "dropout": model.drop.p,
                         "lm_head": "untied, no bias", "gelu": "exact (erf)",
                         "layer_norm_eps": model.ln_f.eps},
        "training": {"iterations": done, "iterations_planned": iters,
                     "max_seconds": args.max_seconds, "batch": [batch_size, block],
                     "tokens_seen": done * batch_size * block, "quick": args.quick,
                     "optimizer": f"AdamW betas (0.9, 0.99), weight decay 0.1 on 2-D weights "
                                  f"only, lr {LR} with {WARMUP} warm-up iterations and cosine "
                                  f"decay to {MIN_LR}, gradient clipping 1.0",
                     "precision": "bf16 autocast" if device.type == "cuda" else "float32"},
        "metrics": metrics,
        "baselines": base,
        "sample": {"prompt": PROMPT, "temperature": TEMPERATURE, "seed": SAMPLE_SEED,
                   "characters": SAMPLE_CHARS, "text": text_out},
    })


if __name__ == "__main__":
    main()
