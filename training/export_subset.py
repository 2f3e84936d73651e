"""Exports the training images the page searches for "is it a copy?": the first 500 training
images of each class, as one grayscale PNG sprite sheet (lossless, decoded by the browser) and a
JSON file with their labels and training-set indices, in www/models/train_subset_<dataset>.*."""

import json
import struct
import zlib

import torch

from common import DATASETS, MODELS, load_images

PER_CLASS = 500
COLUMNS = 100  # images per sprite-sheet row


def png(width: int, height: int, gray: bytes) -> bytes:
    """An 8-bit grayscale PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + gray[y * width:(y + 1) * width] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))


def export(dataset: str) -> None:
    images, labels = load_images(dataset, "train")
    picked = torch.cat([(labels == c).nonzero().flatten()[:PER_CLASS] for c in range(10)]).sort().values
    pixels = (images[picked, 0] * 255).round().to(torch.uint8)  # [n, 28, 28], exact bytes
    n, rows = len(picked), -(-len(picked) // COLUMNS)
    sheet = torch.zeros(rows * 28, COLUMNS * 28, dtype=torch.uint8)
    for i in range(n):
        y, x = divmod(i, COLUMNS)
        sheet[y * 28:(y + 1) * 28, x * 28:(x + 1) * 28] = pixels[i]
    name = f"train_subset_{dataset}"
    (MODELS / f"{name}.png").write_bytes(png(sheet.shape[1], sheet.shape[0], bytes(sheet.flatten().tolist())))
    (MODELS / f"{name}.json").write_text(json.dumps({
        "description": f"the first {PER_CLASS} training images of each class, in training-set order, "
                       f"as a sprite sheet of {COLUMNS} 28x28 images a row",
        "data": DATASETS[dataset]["title"], "licence": DATASETS[dataset]["licence"],
        "count": n, "columns": COLUMNS, "labels": labels[picked].tolist(),
        "train_indices": picked.tolist()}, separators=(",", ":")) + "\n")
    print(f"wrote {MODELS / name}.png and .json: {n} images")


if __name__ == "__main__":
    for ds in DATASETS:
        export(ds)
