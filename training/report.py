"""Prints the metrics of every model card in www/models/ as the Markdown table the README
carries: each metric next to the same metric of the model's trivial baselines, then what each
metric means. A metric two cards share (the GAN's generator and discriminator) is shown once."""

import json

from common import MODELS


def fmt(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def main() -> None:
    print("| Model | Data | Parameters | Trained on | Metric | Model | Baselines |")
    print("|---|---|---:|---|---|---:|---|")
    units, shown = {}, set()
    for path in sorted(MODELS.glob("*.json")):
        card = json.loads(path.read_text())
        if "metrics" not in card:
            continue  # not a model card (the VAE latent maps)
        where = f"{card['trained_on']}, {card['training_seconds']:.0f} s"
        for metric, m in card["metrics"].items():
            key = (card["data"]["title"], metric, m["value"], where)
            if key in shown:
                continue
            shown.add(key)
            units[metric] = m["unit"]
            baselines = "; ".join(f"{name} {fmt(b[metric]['value'])}"
                                  for name, b in card.get("baselines", {}).items() if metric in b)
            print(f"| {card['name']} | {card['data']['title']} | {card['parameters']:,} | {where} "
                  f"| {metric} | {fmt(m['value'])} | {baselines} |")
    print()
    for metric, unit in units.items():
        print(f"- {metric}: {unit}")


if __name__ == "__main__":
    main()
