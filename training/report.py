"""Prints the metrics of every model card in www/models/ as the Markdown table the README
carries: each metric next to the same metric of the model's trivial baselines, then what each
metric means. A metric two cards share (the GAN's generator and discriminator) is one row."""

import json

from common import MODELS


def fmt(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def main() -> None:
    rows, units = {}, {}
    for path in sorted(MODELS.glob("*.json")):
        card = json.loads(path.read_text(encoding="utf-8"))
        if "metrics" not in card:
            continue  # not a model card (the VAE latent maps)
        where = f"{card['trained_on']}, {card['training_seconds']:.0f} s"
        for metric, m in card["metrics"].items():
            units.setdefault(m["unit"], metric)
            baselines = "; ".join(f"{name} {fmt(b[metric]['value'])}"
                                  for name, b in card.get("baselines", {}).items() if metric in b)
            cells = (card["data"]["title"], where, metric, fmt(m["value"]), baselines)
            rows.setdefault(cells, []).append(f"{card['name']} ({card['parameters']:,})")
    print("| Model (parameters) | Data | Trained on | Metric | Model | Baselines |")
    print("|---|---|---|---|---:|---|")
    for cells, names in rows.items():
        print(f"| {', '.join(names)} | " + " | ".join(cells) + " |")
    print()
    for unit, metric in units.items():
        print(f"- {metric}: {unit}")


if __name__ == "__main__":
    main()
