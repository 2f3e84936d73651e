"""Golden fixtures for the Rust tests: fixed inputs and what PyTorch computes from the exported
weights (www/models/*.safetensors), in eval mode, float32, on the CPU. One safetensors file per
model under tests/fixtures/. Rerunning gives the same files for the same weights."""

import json

import torch

import diffusion as process

from common import FIXTURES, MODELS, load_images, load_safetensors, load_text, save_safetensors
from models import NO_CLASS, Classifier, Discriminator, Generator, Gpt, UNet, Vae, VqVae

SAMPLES = 8


def load(model: torch.nn.Module, name: str) -> torch.nn.Module:
    model.load_state_dict(load_safetensors(MODELS / f"{name}.safetensors"), strict=False)
    return model.eval()


def card(name: str) -> dict:
    return json.loads((MODELS / f"{name}.json").read_text())


def test_images(dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = load_images(dataset, "test")
    return images[:SAMPLES].clone(), labels[:SAMPLES].clone()


def save(name: str, tensors: dict[str, torch.Tensor], weights: tuple[str, ...] = ()) -> None:
    """tests/fixtures/<name>.safetensors, made from the weights www/models/<weights>.safetensors
    (by default the model of the same name)."""
    path = FIXTURES / f"{name}.safetensors"
    files = ", ".join(f"www/models/{w}.safetensors" for w in weights or (name.split(".")[0],))
    save_safetensors(path, tensors, {"weights": files})
    sizes = ", ".join(f"{k} {list(v.shape)}" for k, v in sorted(tensors.items()))
    print(f"wrote {path}: {sizes}")


@torch.no_grad()
def classifier(dataset: str) -> None:
    model = load(Classifier(), f"classifier_{dataset}")
    images, labels = test_images(dataset)
    save(f"classifier_{dataset}", {"images": images, "labels": labels,
                                   "features": model.features(images), "logits": model(images)})


@torch.no_grad()
def gan(dataset: str) -> None:
    g = load(Generator(), f"gan_generator_{dataset}")
    d = load(Discriminator(), f"gan_discriminator_{dataset}")
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(SAMPLES, g.latent, generator=gen)
    labels = torch.arange(SAMPLES) % 10
    fake = g(z, labels)
    real, real_labels = test_images(dataset)
    real = real * 2 - 1  # the discriminator sees images in [-1, 1], like the generator's
    save(f"gan_{dataset}", {"z": z, "labels": labels, "images": fake,
                            "d_logits_fake": d(fake, labels), "real_images": real,
                            "real_labels": real_labels, "d_logits_real": d(real, real_labels)})


@torch.no_grad()
def vae(name: str, dataset: str) -> None:
    latent = load_safetensors(MODELS / f"{name}.safetensors")["to_mean.weight"].shape[0]
    model = load(Vae(latent), name)
    images, _ = test_images(dataset)
    mean, logvar = model.encode(images)
    gen = torch.Generator().manual_seed(2)
    eps = torch.randn(SAMPLES, latent, generator=gen)
    z_prior = torch.randn(SAMPLES, latent, generator=gen)
    save(name, {"images": images, "mean": mean, "logvar": logvar,
                "reconstruction": model.decode(mean), "eps": eps,
                "sampled_reconstruction": model.decode(mean + eps * torch.exp(0.5 * logvar)),
                "z_prior": z_prior, "prior_samples": model.decode(z_prior)})


@torch.no_grad()
def diffusion(dataset: str) -> None:
    """U-Net outputs at a few steps and classes (NO_CLASS too), and a 10-step DDIM run with
    guidance from fixed noise: each step's x_t and predicted x0, and the final images."""
    name = f"diffusion_{dataset}"
    model = load(UNet(**{"channels": tuple(card(name)["architecture"]["channels"])}), name)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(SAMPLES, 1, 28, 28, generator=gen)
    t = torch.tensor([0, 1, 250, 500, 999, 37, 999, 600])
    labels = torch.tensor([0, 1, 2, 3, NO_CLASS, 5, NO_CLASS, 9])
    noise = torch.randn(4, 1, 28, 28, generator=gen)
    run_labels = torch.tensor([3, 7, NO_CLASS, 0])
    trajectory = []
    final = process.sample(model, noise, run_labels, 10, 1.5, trajectory=trajectory)
    save(name, {"x": x, "t": t, "labels": labels, "v": model(x, t, labels),
                "noise": noise, "run_labels": run_labels,
                "run_t": torch.tensor([s[0] for s in trajectory]),
                "run_x": torch.stack([s[1] for s in trajectory]),
                "run_x0": torch.stack([s[2] for s in trajectory]), "run_final": final})


TRAIN_STEPS = 20


def gan_training(dataset: str) -> None:
    """TRAIN_STEPS steps of train_gan.py's loop (the same losses, Adam settings and order: the
    discriminator on a real and a fake batch, then the generator) from the committed weights,
    both networks in training mode, on SAMPLES test images and fixed noise and classes: each
    step's losses, every parameter's gradient in the first step, and every parameter and
    running statistic after the last."""
    import torch.nn.functional as F
    from train_gan import BETAS, LR

    g = load(Generator(), f"gan_generator_{dataset}").train()
    d = load(Discriminator(), f"gan_discriminator_{dataset}").train()
    opt_g = torch.optim.Adam(g.parameters(), lr=LR, betas=BETAS)
    opt_d = torch.optim.Adam(d.parameters(), lr=LR, betas=BETAS)
    real, real_labels = test_images(dataset)
    real = real * 2 - 1
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(TRAIN_STEPS, SAMPLES, g.latent, generator=gen)
    fake_labels = torch.randint(0, 10, (TRAIN_STEPS, SAMPLES), generator=gen)
    ones, zeros = torch.ones(SAMPLES), torch.zeros(SAMPLES)
    losses, grads = [], {}
    for step in range(TRAIN_STEPS):
        fake = g(z[step], fake_labels[step])
        d_real = F.binary_cross_entropy_with_logits(d(real, real_labels), ones)
        d_fake = F.binary_cross_entropy_with_logits(d(fake.detach(), fake_labels[step]), zeros)
        opt_d.zero_grad(set_to_none=True)
        (d_real + d_fake).backward()
        if step == 0:
            grads |= {f"grad.discriminator.{k}": p.grad.clone() for k, p in d.named_parameters()}
        opt_d.step()
        g_loss = F.binary_cross_entropy_with_logits(d(fake, fake_labels[step]), ones)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        if step == 0:
            grads |= {f"grad.generator.{k}": p.grad.clone() for k, p in g.named_parameters()}
        opt_g.step()
        losses.append(torch.stack([d_real, d_fake, g_loss]).detach())
    final = {f"final.{name}.{k}": v.detach().clone() for name, model in (("generator", g), ("discriminator", d))
             for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    save(f"gan_training_{dataset}", {"real": real, "real_labels": real_labels, "z": z,
                                     "fake_labels": fake_labels, "losses": torch.stack(losses),
                                     **grads, **final},
         weights=(f"gan_generator_{dataset}", f"gan_discriminator_{dataset}"))


def vae_training(name: str, dataset: str) -> None:
    """TRAIN_STEPS steps of train_vae.py's loop (loss (bce + kl) / len(x), Adam at its lr, held
    constant here) from the committed weights, on SAMPLES test images with fixed noise: each
    step's two terms per image, every gradient in the first step, every parameter after the last."""
    from train_vae import LR, terms

    latent = load_safetensors(MODELS / f"{name}.safetensors")["to_mean.weight"].shape[0]
    model = load(Vae(latent), name).train()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    x, _ = test_images(dataset)
    eps = torch.randn(TRAIN_STEPS, SAMPLES, latent, generator=torch.Generator().manual_seed(4))
    losses, grads = [], {}
    for step in range(TRAIN_STEPS):
        mean, logvar = model.encode(x)
        logits = model.decode_logits(mean + eps[step] * torch.exp(0.5 * logvar))
        bce, kl = terms(logits, x, mean, logvar)
        loss = (bce + kl) / len(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if step == 0:
            grads = {f"grad.{k}": p.grad.clone() for k, p in model.named_parameters()}
        opt.step()
        losses.append(torch.stack([bce, kl]).detach() / len(x))
    final = {f"final.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    save(f"{name}_training", {"x": x, "eps": eps, "losses": torch.stack(losses), **grads, **final},
         weights=(name,))


@torch.no_grad()
def gpt() -> None:
    info = card("gpt_shakespeare")
    arch = info["architecture"]
    vocab = arch["vocab"]
    model = load(Gpt(len(vocab), arch["block_size"], arch["n_layer"], arch["n_head"],
                     arch["n_embd"]), "gpt_shakespeare")
    text = load_text()
    start = int(len(text) * 0.9) + 1000  # from the validation split
    lookup = {c: i for i, c in enumerate(vocab)}
    prompt = torch.tensor([[lookup[c] for c in text[start:start + 97]]])
    save("gpt_shakespeare", {"ids": prompt, "logits": model(prompt), "lens": lens(model, prompt)})


@torch.no_grad()
def vqvae(dataset: str) -> VqVae:
    arch = card(f"vqvae_{dataset}")["architecture"]
    model = load(VqVae(arch["codes"], arch["code_dim"]), f"vqvae_{dataset}")
    images, _ = test_images(dataset)
    codes = model.nearest(model.encode(images))
    save(f"vqvae_{dataset}", {"images": images, "codes": codes, "decoded": model.decode(codes)})
    return model


@torch.no_grad()
def image_gpt(dataset: str, vq: VqVae) -> None:
    """The logits at every position of the first test image's codes after its class token."""
    arch = card(f"imagegpt_{dataset}")["architecture"]
    model = load(Gpt(arch["vocab_size"], arch["block_size"], arch["n_layer"], arch["n_head"],
                     arch["n_embd"], outputs=arch["outputs"]), f"imagegpt_{dataset}")
    images, labels = test_images(dataset)
    codes = vq.nearest(vq.encode(images[:1])).flatten(1)
    ids = torch.cat([arch["outputs"] + labels[:1, None], codes[:, :-1]], 1)
    save(f"imagegpt_{dataset}", {"ids": ids, "logits": model(ids)},
         (f"imagegpt_{dataset}", f"vqvae_{dataset}"))


def lens(model: Gpt, ids: torch.Tensor) -> torch.Tensor:
    """The logit lens at the last position: the final norm and the head applied to the residual
    stream after the embedding, then after each block's attention and after its MLP,
    [2 n_layer + 1, vocab]."""
    positions = torch.arange(ids.shape[1])
    x = model.wte(ids) + model.wpe(positions)
    stream = [x[0, -1]]
    for block in model.h:
        x = x + block.attn(block.ln_1(x))
        stream.append(x[0, -1])
        x = x + block.mlp(block.ln_2(x))
        stream.append(x[0, -1])
    return model.lm_head(model.ln_f(torch.stack(stream)))


if __name__ == "__main__":
    for ds in ("fashion", "mnist"):
        classifier(ds)
        gan(ds)
        vae(f"vae_{ds}", ds)
        vae(f"vae2d_{ds}", ds)
        diffusion(ds)
    gan_training("mnist")
    vae_training("vae2d_mnist", "mnist")
    gpt()
    image_gpt("mnist", vqvae("mnist"))
