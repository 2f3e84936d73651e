"""The models, as the Rust side will run them: only ops our WGSL kernels have (conv2d,
conv_transpose2d, batch norm, group norm, linear, layer norm, GELU, ReLU, LeakyReLU, SiLU, tanh,
sigmoid, softmax, embedding, causal attention). Parameter names here are the names in the exported safetensors."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGE = 28
CLASSES = 10


class Classifier(nn.Module):
    """Scores generated images: three strided convolutions, then a 128-wide feature layer (the
    Fréchet distance's features) and the class logits."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 4, 2, 1)  # 28 -> 14
        self.conv2 = nn.Conv2d(32, 64, 4, 2, 1)  # 14 -> 7
        self.conv3 = nn.Conv2d(64, 64, 3, 2, 1)  # 7 -> 4
        self.fc = nn.Linear(64 * 4 * 4, 128)
        self.head = nn.Linear(128, CLASSES)
        self.dropout = nn.Dropout(0.3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        return F.relu(self.fc(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


class Generator(nn.Module):
    """Conditional DCGAN generator: noise z and a one-hot class, as a 1x1 image of
    latent + 10 channels, grown by transposed convolutions 1 -> 7 -> 14 -> 28; tanh output."""

    def __init__(self, latent: int = 64):
        super().__init__()
        self.latent = latent
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent + CLASSES, 96, 7, 1, 0, bias=False),  # 1 -> 7
            nn.BatchNorm2d(96),
            nn.ReLU(),
            nn.ConvTranspose2d(96, 48, 4, 2, 1, bias=False),  # 7 -> 14
            nn.BatchNorm2d(48),
            nn.ReLU(),
            nn.ConvTranspose2d(48, 1, 4, 2, 1),  # 14 -> 28
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(labels, CLASSES).to(z.dtype)
        return self.net(torch.cat([z, onehot], 1)[:, :, None, None])


class Discriminator(nn.Module):
    """Conditional DCGAN discriminator: the image with the one-hot class as 10 constant planes;
    returns the logit of "real" (the page shows its sigmoid)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1 + CLASSES, 64, 4, 2, 1),  # 28 -> 14
            nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False),  # 14 -> 7
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(128 * 7 * 7, 1)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        planes = F.one_hot(labels, CLASSES).to(images.dtype)[:, :, None, None]
        planes = planes.expand(-1, -1, IMAGE, IMAGE)
        return self.head(self.net(torch.cat([images, planes], 1)).flatten(1)).squeeze(1)


class Vae(nn.Module):
    """Convolutional VAE with a Bernoulli decoder: encoder 28 -> 14 -> 7 by strided convolutions,
    one linear layer to the mean and log-variance; decoder one linear layer back to 64 x 7 x 7,
    then transposed convolutions 7 -> 14 -> 28 and a sigmoid."""

    def __init__(self, latent: int = 16):
        super().__init__()
        self.latent = latent
        self.enc1 = nn.Conv2d(1, 32, 4, 2, 1)
        self.enc2 = nn.Conv2d(32, 64, 4, 2, 1)
        self.to_mean = nn.Linear(64 * 7 * 7, latent)
        self.to_logvar = nn.Linear(64 * 7 * 7, latent)
        self.from_latent = nn.Linear(latent, 64 * 7 * 7)
        self.dec1 = nn.ConvTranspose2d(64, 32, 4, 2, 1)
        self.dec2 = nn.ConvTranspose2d(32, 1, 4, 2, 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.enc2(F.relu(self.enc1(x)))).flatten(1)
        return self.to_mean(h), self.to_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.from_latent(z)).view(-1, 64, 7, 7)
        return self.dec2(F.relu(self.dec1(h)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor):
        mean, logvar = self.encode(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        return self.decode_logits(z), mean, logvar


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (y.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for y in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, c))


class Mlp(nn.Module):
    def __init__(self, n_embd: int):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.c_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))  # exact (erf) GELU


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = Mlp(n_embd)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln_1(x)))
        return x + self.drop(self.mlp(self.ln_2(x)))


class Gpt(nn.Module):
    """A character-level GPT in nanoGPT's shape: learned position embeddings, pre-norm blocks,
    GELU MLP, causal attention, and an untied language-model head."""

    def __init__(self, vocab: int, block_size: int = 256, n_layer: int = 6, n_head: int = 6,
                 n_embd: int = 180, dropout: float = 0.1, outputs: int | None = None):
        """outputs: how many tokens the head scores (default all vocab): the image GPT reads
        class tokens but only ever writes codes."""
        super().__init__()
        self.block_size = block_size
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList(Block(n_embd, n_head, dropout) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, outputs or vocab, bias=False)
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):  # GPT-2's scaled init of residual projections
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, 0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.drop(self.wte(ids) + self.wpe(positions))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


    @torch.no_grad()
    def step(self, ids: torch.Tensor, cache: list) -> torch.Tensor:
        """Logits [N, outputs] of the next token after one more token per row (ids [N]), the
        keys and values of earlier positions in `cache` (a list per block, filled here): how the
        Rust side generates, one position per pass, in eval mode."""
        past = cache[0][0].shape[2] if cache else 0
        x = self.wte(ids) + self.wpe.weight[past]
        for l, block in enumerate(self.h):
            attn = block.attn
            n, c, nh = x.shape[0], x.shape[1], attn.n_head
            q, k, v = (y.view(n, nh, 1, c // nh) for y in attn.c_attn(block.ln_1(x)).split(c, 1))
            if len(cache) <= l:
                cache.append((k, v))
            else:
                cache[l] = (torch.cat([cache[l][0], k], 2), torch.cat([cache[l][1], v], 2))
            y = F.scaled_dot_product_attention(q, *cache[l])  # every cached key is in the past
            x = x + attn.c_proj(y.reshape(n, c))
            x = x + block.mlp(block.ln_2(x))
        return self.lm_head(self.ln_f(x))


class VqVae(nn.Module):
    """Vector-quantized autoencoder: 28x28 images to a 7x7 grid of codes, each the index of the
    nearest of `codes` learned vectors (the codebook), and back. Encoder 28 -> 14 -> 7 by strided
    convolutions and a 1x1 convolution to the code width; decoder a 3x3 convolution, then
    transposed convolutions 7 -> 14 -> 28 to pixel logits (sigmoid: pixel means). The codebook
    is a buffer: training moves it by exponential moving averages (train_vqvae.py)."""

    def __init__(self, codes: int = 256, dim: int = 16):
        super().__init__()
        self.enc1 = nn.Conv2d(1, 32, 4, 2, 1)  # 28 -> 14
        self.enc2 = nn.Conv2d(32, 64, 4, 2, 1)  # 14 -> 7
        self.to_code = nn.Conv2d(64, dim, 1)
        self.register_buffer("codebook", torch.randn(codes, dim))
        self.from_code = nn.Conv2d(dim, 64, 3, 1, 1)
        self.dec1 = nn.ConvTranspose2d(64, 32, 4, 2, 1)  # 7 -> 14
        self.dec2 = nn.ConvTranspose2d(32, 1, 4, 2, 1)  # 14 -> 28

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous codes [N, dim, 7, 7], before quantization."""
        return self.to_code(F.relu(self.enc2(F.relu(self.enc1(x)))))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Index [N, 7, 7] of the codebook vector nearest (squared distance) to each of z's
        [N, dim, 7, 7] positions; ties go to the lower index."""
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        # Differences, not |a|^2 - 2ab + |b|^2: the Rust kernel sums them so, and near ties
        # then fall the same way.
        distances = torch.cdist(flat[None], self.codebook[None],
                                compute_mode="donot_use_mm_for_euclid_dist")[0]
        return distances.argmin(1).view(z.shape[0], z.shape[2], z.shape[3])

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook vectors [N, dim, 7, 7] of codes [N, 7, 7]."""
        return self.codebook[codes].permute(0, 3, 1, 2)

    def decode_logits(self, zq: torch.Tensor) -> torch.Tensor:
        return self.dec2(F.relu(self.dec1(F.relu(self.from_code(zq)))))

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Pixel means [N, 1, 28, 28] of codes [N, 7, 7]."""
        return torch.sigmoid(self.decode_logits(self.lookup(codes)))


NO_CLASS = CLASSES  # the diffusion model's extra class entry: "any class" (classifier-free guidance)


class ResBlock(nn.Module):
    """The diffusion U-Net's residual block: group norm, SiLU, 3x3 conv, plus a per-channel shift
    from the step's embedding (time and class), then group norm, SiLU, 3x3 conv again, added to the
    input. The channel count stays (the U-Net changes it between blocks)."""

    def __init__(self, channels: int, emb: int, groups: int = 8):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.emb = nn.Linear(emb, channels)
        self.norm2 = nn.GroupNorm(groups, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(e)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return x + h


class UNet(nn.Module):
    """Class-conditional U-Net for 28x28 images: 28 -> 14 -> 7 and back, one residual block per
    level on each side, two in the middle, skips added (not concatenated). The step t enters as a
    sinusoidal embedding through a two-layer MLP, the class (or NO_CLASS) as a learned embedding;
    their sum, through SiLU, shifts every block. Predicts v (see diffusion.py)."""

    def __init__(self, channels: tuple[int, int, int] = (16, 32, 64), emb: int = 128,
                 time_dim: int = 64):
        super().__init__()
        c0, c1, c2 = channels
        self.channels, self.emb_dim = channels, emb
        half = time_dim // 2
        # Kept in the state dict so the Rust side multiplies by the very same float32 numbers.
        self.register_buffer(
            "time_freqs", torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64)
                                    / half).float())
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.class_emb = nn.Embedding(CLASSES + 1, emb)
        self.conv_in = nn.Conv2d(1, c0, 3, 1, 1)
        self.down0 = ResBlock(c0, emb)
        self.downsample0 = nn.Conv2d(c0, c1, 3, 2, 1)  # 28 -> 14
        self.down1 = ResBlock(c1, emb)
        self.downsample1 = nn.Conv2d(c1, c2, 3, 2, 1)  # 14 -> 7
        self.mid1 = ResBlock(c2, emb)
        self.mid2 = ResBlock(c2, emb)
        self.upsample1 = nn.ConvTranspose2d(c2, c1, 4, 2, 1)  # 7 -> 14
        self.up1 = ResBlock(c1, emb)
        self.upsample0 = nn.ConvTranspose2d(c1, c0, 4, 2, 1)  # 14 -> 28
        self.up0 = ResBlock(c0, emb)
        self.norm_out = nn.GroupNorm(8, c0)
        self.conv_out = nn.Conv2d(c0, 1, 3, 1, 1)

    def time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        """[sin(t f), cos(t f)] for the frequencies f = 10000^(-i / half)."""
        args = t.float()[:, None] * self.time_freqs[None]
        return torch.cat([torch.sin(args), torch.cos(args)], 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """x [N, 1, 28, 28] noisy images, t [N] steps (0 .. T-1), labels [N] (NO_CLASS: none)."""
        e = F.silu(self.time_mlp(self.time_embedding(t)) + self.class_emb(labels))
        h0 = self.down0(self.conv_in(x), e)
        h1 = self.down1(self.downsample0(h0), e)
        h = self.mid2(self.mid1(self.downsample1(h1), e), e)
        h = self.up1(self.upsample1(h) + h1, e)
        h = self.up0(self.upsample0(h) + h0, e)
        return self.conv_out(F.silu(self.norm_out(h)))
