"""The PyTorch baseline for benches/suite.rs: the same cases under the same names, each output
checked (against float64 for the kernels, against the fixtures for the models), then timed.
fp32 with TF32 off everywhere (our kernels are plain fp32); cuDNN picks its fastest algorithms.
On CUDA each run is timed by CUDA events, runs recorded back to back; the median is kept, and
the wall clock per run (all runs, until the GPU is idle) beside, as the suite has both.

python3 benches/torch_suite.py [--device cuda|cpu] [--quick] [--sizes 256,4096]
                               [--json FILE] [--ours suite.json]

With --ours (the suite's JSON), it prints our time / PyTorch's for every case both ran, by GPU
time and by the wall clock.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "training"))
from common import FIXTURES, MODELS, load_safetensors  # noqa: E402
from models import Discriminator, Generator, Gpt, UNet, Vae, VqVae  # noqa: E402
import diffusion as process  # noqa: E402

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.backends.cudnn.benchmark = True
TOLERANCE = 1e-4  # the models against their fixtures, as the suite has it
GAN_LAYERS = [  # name, input, weight, stride, padding, bias: the generator's layers at batch 64
    ("gan.net.0", (64, 74, 1, 1), (74, 96, 7, 7), 1, 0, False),
    ("gan.net.3", (64, 96, 7, 7), (96, 48, 4, 4), 2, 1, False),
    ("gan.net.6", (64, 48, 14, 14), (48, 1, 4, 4), 2, 1, True),
]


class Suite:
    def __init__(self, device: str, quick: bool):
        self.device, self.quick = torch.device(device), quick
        self.records = []

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def time(self, name, what, work, unit, error, tolerance, fn):
        """Median milliseconds of one run of fn, after warm-up runs."""
        if not error <= tolerance:
            raise SystemExit(f"{name}: off by {error} (tolerance {tolerance})")
        runs = 5 if self.quick else 50
        for _ in range(3):
            fn()
        self.sync()
        begin = time.perf_counter()
        if self.device.type == "cuda":
            events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                      for _ in range(runs)]
            for start, end in events:
                start.record()
                fn()
                end.record()
            torch.cuda.synchronize()
            times = [start.elapsed_time(end) for start, end in events]
        else:
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                fn()
                times.append((time.perf_counter() - start) * 1e3)
        wall = (time.perf_counter() - begin) * 1e3 / runs
        self.add(name, what, runs, statistics.median(times), wall, work, unit, error, tolerance)

    def add(self, name, what, runs, ms, wall_ms, work, unit, error, tolerance):
        rate = work / (1e9 if unit == "GFLOP/s" else 1) / (ms / 1e3)
        record = {"name": name, "what": what, "runs": runs, "ms": ms, "wall_ms": wall_ms,
                  "work": work, "unit": unit, "rate": rate, "max_error": error,
                  "tolerance": tolerance}
        self.records.append(record)
        print(f"{name:<32} {runs:>6} {ms:>11.4f} {wall_ms:>11.4f} {f'{rate:.1f} {unit}':>18} "
              f"{error:>9.1e}", flush=True)

    def uniform(self, *shape):
        return torch.rand(*shape, device=self.device) * 2 - 1


def worst(got, want):
    return (got.double() - want.double()).abs().max().item()


def kernels(s: Suite, sizes):
    for n in sizes:
        a, b = s.uniform(n, n), s.uniform(n, n)
        error = worst(a @ b, a.double() @ b.double())
        s.time(f"matmul/{n}", f"{n}x{n} by {n}x{n}, fp32", 2 * n**3, "GFLOP/s",
               error, 2e-6 * n + 1e-6, lambda: a @ b)
    for layer, shape, wshape, stride, padding, has_bias in GAN_LAYERS:
        x, w = s.uniform(*shape), s.uniform(*wshape)
        bias = s.uniform(wshape[1]) if has_bias else None
        run = lambda: F.conv_transpose2d(x, w, bias, stride, padding)  # noqa: E731
        want = F.conv_transpose2d(x.double(), w.double(), None if bias is None else bias.double(),
                                  stride, padding)
        taps = shape[1] * -(-wshape[2] // stride) * -(-wshape[3] // stride)
        s.time(f"conv_transpose2d/{layer}/{shape[0]}", f"{list(shape)}, kernel {wshape[2]}",
               2 * shape[0] * shape[1] * shape[2] * shape[3] * wshape[1] * wshape[2] * wshape[3],
               "GFLOP/s", worst(run(), want), 2e-6 * taps + 1e-6, run)
    # The character GPT's shapes, and SmolLM2's decode step (9 query heads over 3 kv heads).
    for kind, context, tokens, heads, kv_heads, head_dim in (
            ("prefill", 256, 256, 6, 6, 30), ("decode", 256, 1, 6, 6, 30),
            ("decode", 2048, 1, 9, 3, 64)):
        q = s.uniform(1, heads, tokens, head_dim)
        k, v = s.uniform(1, kv_heads, context, head_dim), s.uniform(1, kv_heads, context, head_dim)
        k, v = (t.repeat_interleave(heads // kv_heads, dim=1) for t in (k, v))
        causal = tokens > 1  # one query at the last position sees every key
        run = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # noqa: E731
        want = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=causal)
        pairs = sum(range(context - tokens + 1, context + 1))
        s.time(f"attention/{kind}/{context}", f"{tokens} queries over {context} keys",
               4 * heads * head_dim * pairs, "GFLOP/s", worst(run(), want), 1e-5, run)


def load(model, name, device):
    model.load_state_dict(load_safetensors(MODELS / f"{name}.safetensors"), strict=False)
    return model.to(device).eval()


def repeat(t, n):
    return t.repeat((n + len(t) - 1) // len(t), *[1] * (t.dim() - 1))[:n]


def gan(s: Suite):
    card = json.loads((MODELS / "gan_generator_mnist.json").read_text())
    g = load(Generator(card["architecture"]["latent"]), "gan_generator_mnist", s.device)
    d = load(Discriminator(), "gan_discriminator_mnist", s.device)
    fx = {k: v.to(s.device) for k, v in load_safetensors(FIXTURES / "gan_mnist.safetensors").items()}
    for n in (1, 64):
        z, labels = repeat(fx["z"], n), repeat(fx["labels"], n)
        s.time(f"gan.generator/{n}", f"batch {n}", n, "images/s",
               worst(g(z, labels), repeat(fx["images"], n)), TOLERANCE, lambda: g(z, labels))
    images, labels = repeat(fx["images"], 64), repeat(fx["labels"], 64)
    s.time("gan.discriminator/64", "batch 64", 64, "images/s",
           worst(d(images, labels), repeat(fx["d_logits_fake"], 64)), TOLERANCE,
           lambda: d(images, labels))


def vae(s: Suite):
    fx = {k: v.to(s.device) for k, v in load_safetensors(FIXTURES / "vae_mnist.safetensors").items()}
    model = load(Vae(fx["mean"].shape[1]), "vae_mnist", s.device)
    images, z = repeat(fx["images"], 64), repeat(fx["z_prior"], 64)
    mean, logvar = model.encode(images)
    error = max(worst(mean, repeat(fx["mean"], 64)), worst(logvar, repeat(fx["logvar"], 64)))
    s.time("vae.encoder/64", "batch 64", 64, "images/s", error, TOLERANCE, lambda: model.encode(images))
    s.time("vae.decoder/64", "batch 64", 64, "images/s",
           worst(model.decode(z), repeat(fx["prior_samples"], 64)), TOLERANCE, lambda: model.decode(z))


def training(s: Suite):
    """One step of train_gan.py's and train_vae.py's loops at batch 64, from the committed
    weights; the batch is the training fixtures' 8 images (and noise) eight times over, so the
    first step's losses are the fixtures' first."""
    from train_gan import BETAS, LR as GAN_LR
    from train_vae import LR as VAE_LR, terms
    load_fx = lambda name: {k: v.to(s.device) for k, v in load_safetensors(FIXTURES / name).items()}  # noqa: E731
    fx = load_fx("gan_training_mnist.safetensors")
    g = load(Generator(), "gan_generator_mnist", s.device).train()
    d = load(Discriminator(), "gan_discriminator_mnist", s.device).train()
    opt_g = torch.optim.Adam(g.parameters(), lr=GAN_LR, betas=BETAS)
    opt_d = torch.optim.Adam(d.parameters(), lr=GAN_LR, betas=BETAS)
    real, real_labels = repeat(fx["real"], 64), repeat(fx["real_labels"], 64)
    z, fake_labels = repeat(fx["z"][0], 64), repeat(fx["fake_labels"][0], 64)
    ones, zeros = torch.ones(64, device=s.device), torch.zeros(64, device=s.device)

    def gan_step():
        fake = g(z, fake_labels)
        d_real = F.binary_cross_entropy_with_logits(d(real, real_labels), ones)
        d_fake = F.binary_cross_entropy_with_logits(d(fake.detach(), fake_labels), zeros)
        opt_d.zero_grad(set_to_none=True)
        (d_real + d_fake).backward()
        opt_d.step()
        g_loss = F.binary_cross_entropy_with_logits(d(fake, fake_labels), ones)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        return torch.stack([d_real, d_fake, g_loss]).detach()

    s.time("train.gan/64", "batch 64", 64, "images/s", worst(gan_step(), fx["losses"][0]),
           TOLERANCE, gan_step)
    fx = load_fx("vae2d_mnist_training.safetensors")
    model = load(Vae(fx["eps"].shape[2]), "vae2d_mnist", s.device).train()
    opt = torch.optim.Adam(model.parameters(), lr=VAE_LR)
    x, eps = repeat(fx["x"], 64), repeat(fx["eps"][0], 64)

    def vae_step():
        mean, logvar = model.encode(x)
        bce, kl = terms(model.decode_logits(mean + eps * torch.exp(0.5 * logvar)), x, mean, logvar)
        opt.zero_grad(set_to_none=True)
        ((bce + kl) / len(x)).backward()
        opt.step()
        return torch.stack([bce, kl]).detach() / len(x)

    error = worst(vae_step(), fx["losses"][0])
    s.time("train.vae/64", "batch 64", 64, "images/s", error, 1e-3, vae_step)


def diffusion(s: Suite):
    card = json.loads((MODELS / "diffusion_mnist.json").read_text())
    model = load(UNet(tuple(card["architecture"]["channels"])), "diffusion_mnist", s.device)
    fx = {k: v.to(s.device) for k, v in load_safetensors(FIXTURES / "diffusion_mnist.safetensors").items()}
    for n in (16, 64):
        x, t, labels = repeat(fx["x"], n), repeat(fx["t"], n), repeat(fx["labels"], n)
        s.time(f"diffusion.unet/{n}", f"batch {n}", n, "images/s",
               worst(model(x, t, labels), repeat(fx["v"], n)), TOLERANCE, lambda: model(x, t, labels))
    noise, labels = repeat(fx["noise"], 16), repeat(fx["run_labels"], 16)
    error = worst(process.sample(model, noise, labels, 10, 1.5), repeat(fx["run_final"], 16))
    s.time("diffusion.sample/16x20", "16 images, 20 DDIM steps, guidance 1.5", 16, "images/s", error,
           TOLERANCE, lambda: process.sample(model, noise, labels, 20, 1.5))


def cached(model, ids, past, caches):
    """Logits for ids [1, t] at positions past.., reading and extending the KV caches: the
    model's own modules, with attention over the cached keys (the page's decode step)."""
    t = ids.shape[1]
    x = model.wte(ids) + model.wpe(torch.arange(past, past + t, device=ids.device))
    for block, (k_cache, v_cache) in zip(model.h, caches):
        c, heads = x.shape[2], block.attn.n_head
        q, k, v = (y.view(1, t, heads, c // heads).transpose(1, 2)
                   for y in block.attn.c_attn(block.ln_1(x)).split(c, dim=2))
        k_cache[:, :, past:past + t], v_cache[:, :, past:past + t] = k, v
        # is_causal aligns to the top left, right only for a whole prompt; one new token sees all.
        y = F.scaled_dot_product_attention(q, k_cache[:, :, :past + t], v_cache[:, :, :past + t],
                                           is_causal=t > 1)
        x = x + block.attn.c_proj(y.transpose(1, 2).reshape(1, t, c))
        x = x + block.mlp(block.ln_2(x))
    return model.lm_head(model.ln_f(x))[0]


def gpt(s: Suite):
    arch = json.loads((MODELS / "gpt_shakespeare.json").read_text())["architecture"]
    model = load(Gpt(len(arch["vocab"]), arch["block_size"], arch["n_layer"], arch["n_head"],
                     arch["n_embd"]), "gpt_shakespeare", s.device)
    fx = load_safetensors(FIXTURES / "gpt_shakespeare.safetensors")
    ids, want = fx["ids"].to(s.device), fx["logits"][0].to(s.device)
    context = model.block_size
    prompt = repeat(ids[0], context)[None]
    full = model(prompt)[0]
    for t in (64, context):
        rows = min(t, 97)
        s.time(f"gpt.prefill/{t}", f"{t} tokens in one pass", t, "tokens/s",
               worst(model(prompt[:, :t])[0][:rows], want[:rows]), TOLERANCE,
               lambda: model(prompt[:, :t]))
    heads, c = model.h[0].attn.n_head, model.ln_f.weight.shape[0]
    caches = [tuple(torch.zeros(1, heads, context, c // heads, device=s.device) for _ in "kv")
              for _ in model.h]
    cached(model, prompt, 0, caches)
    for p in (0, context // 2, context - 1):
        step = lambda: cached(model, prompt[:, p:p + 1], p, caches)  # noqa: E731
        s.time(f"gpt.decode/{p}", f"1 token at position {p}", 1, "tokens/s",
               worst(step()[0], full[p]), TOLERANCE, step)
    generate(s, model, prompt[:, :64], caches)


def generate(s: Suite, model, prompt, caches):
    """Greedy tokens to a full context, each read back to the CPU as the page does."""
    start_len, context = prompt.shape[1], model.block_size
    text = prompt[0].tolist()
    text.append(cached(model, prompt, 0, caches)[-1].argmax().item())
    s.sync()
    start = time.perf_counter()
    for past in range(start_len, context):
        ids = torch.tensor([[text[-1]]], device=prompt.device)
        text.append(cached(model, ids, past, caches)[-1].argmax().item())
    ms = (time.perf_counter() - start) * 1e3 / (context - start_len)
    logits = model(torch.tensor([text[:-1]], device=prompt.device))[0]
    gaps = [(logits[i - 1].max() - logits[i - 1][text[i]]).item() for i in range(start_len, len(text))]
    if not max(gaps) <= TOLERANCE:
        raise SystemExit(f"gpt.generate: a greedy token is {max(gaps)} below the largest logit")
    s.add(f"gpt.generate/{start_len}+{context - start_len}", "greedy tokens, each read back",
          context - start_len, ms, ms, 1, "tokens/s", max(gaps), TOLERANCE)


def image_gpt(s: Suite):
    """16 MNIST images written as the page does: one at a time, each greedy code read back
    (Gpt.step, KV-cached) and the picture so far (the rest one code) decoded and read back."""
    arch = json.loads((MODELS / "imagegpt_mnist.json").read_text())["architecture"]
    model = load(Gpt(arch["vocab_size"], arch["block_size"], arch["n_layer"], arch["n_head"], arch["n_embd"],
                     outputs=arch["outputs"]), "imagegpt_mnist", s.device)
    vq = load(VqVae(), "vqvae_mnist", s.device)
    cells, n = arch["block_size"], 16

    def write(label):
        cache, codes = [], []
        token = torch.tensor([arch["outputs"] + label], device=s.device)
        for _ in range(cells):
            code = model.step(token, cache)[0].argmax().item()
            codes.append(code)
            grid = torch.tensor(codes + [0] * (cells - len(codes)), device=s.device).view(1, 7, 7)
            vq.decode(grid).cpu()
            token = torch.tensor([code], device=s.device)
        return codes

    write(0)  # warm-up
    s.sync()
    start = time.perf_counter()
    images = [write(i % 10) for i in range(n)]
    ms = (time.perf_counter() - start) * 1e3 / n
    gaps = []
    for i, codes in enumerate(images):
        logits = model(torch.tensor([[arch["outputs"] + i % 10] + codes[:-1]], device=s.device))[0]
        gaps += [(logits[j].max() - logits[j][c]).item() for j, c in enumerate(codes)]
    if not max(gaps) <= TOLERANCE:
        raise SystemExit(f"imagegpt.generate: a greedy code is {max(gaps)} below the largest logit")
    s.add("imagegpt.generate/16", "16 images of 49 greedy codes, each code and picture read back",
          n, ms, ms, 1, "images/s", max(gaps), TOLERANCE)


def compare(ours_path, records):
    ours = json.loads(Path(ours_path).read_text())
    theirs = {r["name"]: r for r in records}
    print(f"\nours: {ours['adapter']['name']} ({ours['adapter']['backend']}), {ours['timing']}")
    print("GPU time: ours by timestamps (or the clock where we have none), PyTorch's by CUDA events"
          " (the clock on the CPU); wall: per run, all runs until the GPU is idle")
    print(f"{'case':<32} {'ours ms':>10} {'PyTorch ms':>10} {'ratio':>8} {'ours wall':>10} "
          f"{'PyT wall':>10} {'ratio':>8}")
    for r in ours["records"]:
        if r["name"] in theirs:
            t = theirs[r["name"]]
            mine = r["gpu_ms"] if r["gpu_ms"] is not None else r["wall_ms"]
            print(f"{r['name']:<32} {mine:>10.4f} {t['ms']:>10.4f} {mine / t['ms']:>7.2f}x "
                  f"{r['wall_ms']:>10.4f} {t['wall_ms']:>10.4f} {r['wall_ms'] / t['wall_ms']:>7.2f}x")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes")
    parser.add_argument("--json")
    parser.add_argument("--ours")
    args = parser.parse_args()
    default = "256,512" if args.quick else "256,512,1024,2048,4096"
    sizes = [int(n) for n in (args.sizes or default).split(",")]
    s = Suite(args.device, args.quick)
    name = torch.cuda.get_device_name() if s.device.type == "cuda" else "CPU"
    print(f"device: {name}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"{'case':<32} {'runs':>6} {'ms':>11} {'wall ms':>11} {'rate':>18} {'max err':>9}")
    with torch.inference_mode():
        kernels(s, sizes)
        gan(s)
        vae(s)
        diffusion(s)
        gpt(s)
        image_gpt(s)
    training(s)  # with autograd
    if args.json:
        Path(args.json).write_text(json.dumps({"device": name, "torch": torch.__version__,
                                               "records": s.records}, indent=1) + "\n")
    if args.ours:
        compare(args.ours, s.records)


if __name__ == "__main__":
    main()
