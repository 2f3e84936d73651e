"""Trains models.Classifier on Fashion-MNIST or MNIST and exports it as classifier_<dataset>: the
classifier the page runs, and the feature extractor that scores the generative models.

    python train_classifier.py --dataset {fashion,mnist} [--quick]
"""

import argparse

import torch
import torch.nn.functional as F

import common
from models import Classifier

EPOCHS = 10  # about 70 s on 2 idle CPU cores; shifted copies (augmentation) did not help
BATCH = 128
MAX_LR = 2e-3  # peak of the one-cycle schedule
QUICK_STEPS = 30


@torch.no_grad()
def accuracy(model: Classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    correct = sum((model(images[i : i + 1000]).argmax(1) == labels[i : i + 1000]).sum().item()
                  for i in range(0, len(images), 1000))
    return correct / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(common.DATASETS), required=True)
    parser.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
    args = parser.parse_args()

    common.seed_everything(0)
    device = common.pick_device()
    train_x, train_y = (t.to(device) for t in common.load_images(args.dataset, "train"))
    test_x, test_y = (t.to(device) for t in common.load_images(args.dataset, "test"))

    model = Classifier().to(device)
    per_epoch = len(train_x) // BATCH
    steps = QUICK_STEPS if args.quick else EPOCHS * per_epoch
    optimizer = torch.optim.Adam(model.parameters(), lr=MAX_LR)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, MAX_LR, total_steps=steps)
    progress = common.Progress(steps, f"classifier {args.dataset}")
    model.train()
    for step in range(steps):
        if step % per_epoch == 0:
            order = torch.randperm(len(train_x), device=device)
        batch = order[(step % per_epoch) * BATCH :][:BATCH]
        loss = F.cross_entropy(model(train_x[batch]), train_y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        progress.update(step + 1, loss=loss.item())
    seconds = progress.seconds()
    print(f"trained in {seconds:.1f} s")

    test_accuracy = accuracy(model, test_x, test_y)
    majority = train_y.bincount().argmax()
    majority_accuracy = (test_y == majority).float().mean().item()
    print(f"test accuracy {test_accuracy:.4f} (majority class {majority_accuracy:.4f})")

    info = common.DATASETS[args.dataset]
    unit = "fraction of the 10,000 test images whose most likely class is the true one"
    common.export(f"classifier_{args.dataset}", model.cpu(), {
        "task": f"{info['title']} image classification (10 classes: {', '.join(info['classes'])})",
        "input": "[N, 1, 28, 28] float32, pixels in [0, 1] (0 = background)",
        "output": "[N, 10] class logits; features() gives the 128-d layer before the head",
        "trained_on": common.hardware(device),
        "training_seconds": round(seconds, 1),
        "data": {**info, "train": len(train_x), "test": len(test_x)},
        "architecture": {"layers": "conv 1-32 k4 s2, conv 32-64 k4 s2, conv 64-64 k3 s2 (ReLU), "
                                   "linear 1024-128 (ReLU), dropout 0.3, linear 128-10",
                         "optimizer": "Adam, one-cycle learning rate", "max_lr": MAX_LR,
                         "batch": BATCH, "augmentation": "none",
                         "epochs": EPOCHS if not args.quick else round(steps / per_epoch, 3)},
        "metrics": {"test_accuracy": {"value": round(test_accuracy, 4), "unit": unit}},
        "baselines": {"majority_class": {
            "description": f"always the most common training class ({info['classes'][majority]})",
            "test_accuracy": {"value": round(majority_accuracy, 4), "unit": unit}}},
    })


if __name__ == "__main__":
    main()
