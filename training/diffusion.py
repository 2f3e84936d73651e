"""The diffusion process the U-Net (models.UNet) was trained for, as src/models/diffusion.rs runs
it: a cosine noise schedule over T = 1000 steps, v prediction, and the DDIM update (eta 0:
deterministic; eta 1: ancestral, the DDPM posterior) with classifier-free guidance and x0 clipped
to the image range [-1, 1].

Forward (noising): x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps. The model predicts
v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0, from which x0 = sqrt(abar_t) x_t - sqrt(1 - abar_t) v.
"""

import math

import torch

from models import NO_CLASS

T = 1000
COSINE_OFFSET = 0.008  # Nichol & Dhariwal's s
MIN_ALPHA_BAR = 1e-5  # abar at the last step, instead of exactly 0


def alpha_bar(t: int) -> float:
    """abar_t for t in 0 .. T-1, in float64: cos^2(((t + 1) / T + s) / (1 + s) * pi / 2),
    divided by its value at 0 and kept above MIN_ALPHA_BAR."""
    f = lambda u: math.cos((u + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
    return max(f((t + 1) / T) / f(0.0), MIN_ALPHA_BAR)


ALPHA_BAR = torch.tensor([alpha_bar(t) for t in range(T)], dtype=torch.float64)


def timesteps(steps: int, start: int = T - 1) -> list[int]:
    """The steps a sampler of `steps` steps visits, from `start` (T-1: pure noise) down, evenly
    spaced ("trailing"): start - i (start + 1) / steps (integer division), i = 0 .. steps-1."""
    if not 1 <= steps <= start + 1 <= T:
        raise ValueError(f"steps must be in 1..{start + 1}, start in 0..{T - 1}")
    return [start - i * (start + 1) // steps for i in range(steps)]


def noised(x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x_t and the v target for clean images x0 [N, 1, 28, 28] in [-1, 1] at steps t [N]."""
    ab = ALPHA_BAR.to(x0.device)[t].float()[:, None, None, None]
    a, s = ab.sqrt(), (1 - ab).sqrt()
    return a * x0 + s * eps, a * eps - s * x0


def coefficients(t: int, prev: int, eta: float) -> dict[str, float]:
    """The update from step t to step prev (-1: the clean image) as plain numbers, computed in
    float64 and used in float32, the same on the Rust side."""
    ab = alpha_bar(t)
    ab_prev = alpha_bar(prev) if prev >= 0 else 1.0
    sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
    return {"a": math.sqrt(ab), "s": math.sqrt(1 - ab), "a_prev": math.sqrt(ab_prev),
            "dir": math.sqrt(max(1 - ab_prev - sigma * sigma, 0.0)), "sigma": sigma}


def step(x: torch.Tensor, v: torch.Tensor, c: dict[str, float], noise: torch.Tensor | None):
    """One update: the predicted clean image (clipped) and x_prev, from x_t and the guided v."""
    x0 = (c["a"] * x - c["s"] * v).clamp(-1, 1)
    eps = (x - c["a"] * x0) / c["s"]
    x_prev = c["a_prev"] * x0 + c["dir"] * eps
    if c["sigma"] > 0:
        x_prev = x_prev + c["sigma"] * noise
    return x0, x_prev


@torch.no_grad()
def guided_v(model, x: torch.Tensor, t: int, labels: torch.Tensor, guidance: float) -> torch.Tensor:
    """v_uncond + guidance (v_cond - v_uncond), both passes in one batch (guidance 1: the
    conditional pass alone)."""
    n = len(x)
    steps = torch.full((n,), t, dtype=torch.long, device=x.device)
    if guidance == 1.0:
        return model(x, steps, labels)
    both = model(torch.cat([x, x]), torch.cat([steps, steps]),
                 torch.cat([labels, torch.full_like(labels, NO_CLASS)]))
    cond, uncond = both[:n], both[n:]
    return uncond + guidance * (cond - uncond)


@torch.no_grad()
def sample(model, x: torch.Tensor, labels: torch.Tensor, steps: int, guidance: float,
           eta: float = 0.0, rng: torch.Generator | None = None, trajectory: list | None = None):
    """Images in [-1, 1] from starting noise x [N, 1, 28, 28]; `trajectory`, when given,
    receives (t, x_t, predicted x0) at every step."""
    ts = timesteps(steps)
    for i, t in enumerate(ts):
        prev = ts[i + 1] if i + 1 < len(ts) else -1
        c = coefficients(t, prev, eta)
        noise = None
        if c["sigma"] > 0:
            noise = torch.randn(x.shape, generator=rng, device=x.device)
        x0, x_prev = step(x, guided_v(model, x, t, labels, guidance), c, noise)
        if trajectory is not None:
            trajectory.append((t, x, x0))
        x = x_prev
    return x
