"""What output hardening costs an extractor: ``python benchmarks/response_hardening.py [seeds]``.

The target is a logistic regression on 10 features, the model Tramèr et al. (2016) copy exactly
from d + 1 exact answers by solving ``logit(p) = w.x + b``. The attacker knows the features'
marginals, queries rows drawn from them and reads the answers as the hardened API returns them
(``secure_endpoint.runtime.hardening.harden``, the mapping template's rules):

- with probabilities (exact, 4, 2 or 1 decimals) it solves the equations by least squares over
  the answers strictly between 0 and 1 (a rounded 0 or 1 has no logit);
- with labels only it fits a logistic regression surrogate to the labels.

Printed: the copy's agreement with the target on 20,000 held-out rows after N queries (median
over the seeds), and the queries each setting needs for a 99% and a 99.9% copy.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from secure_endpoint.runtime.hardening import harden

FEATURES = 10
BUDGETS = (11, 15, 20, 30, 50, 100, 200, 500, 1000, 2000, 5000)
SETTINGS: dict[str, dict[str, Any]] = {
    "exact": {"probability_decimals": None, "top_k": 1},  # top 1 of one number: unchanged
    "4 decimals": {"probability_decimals": 4},
    "2 decimals": {"probability_decimals": 2},
    "1 decimal": {"probability_decimals": 1},
    "label only": {"label_only": True},
}


def target(rng: np.random.Generator) -> LogisticRegression:
    weights = rng.normal(0, 1.5, FEATURES)
    rows = rng.normal(size=(5000, FEATURES))
    labels = rng.random(5000) < 1 / (1 + np.exp(-(rows @ weights + 0.3)))
    return LogisticRegression(C=10.0, max_iter=1000).fit(rows, labels)


def copy_agreement(
    model: LogisticRegression, options: dict[str, Any], queries: int, rng: np.random.Generator
) -> float:
    rows = rng.normal(size=(queries, FEATURES))
    answers = harden({"predictions": model.predict_proba(rows)[:, 1].tolist()}, **options)[
        "predictions"
    ]
    held_out = rng.normal(size=(20_000, FEATURES))
    truth = model.predict(held_out)
    if options.get("label_only"):
        labels = np.array(answers)
        if labels.min() == labels.max():
            return float(np.mean(truth == labels[0]))
        surrogate = LogisticRegression(C=100.0, max_iter=1000).fit(rows, labels)
        return float(np.mean(surrogate.predict(held_out) == truth))
    p = np.array(answers, dtype=float)
    usable = (p > 0) & (p < 1)
    if usable.sum() < FEATURES + 1:
        return 0.5  # not enough equations: a coin
    design = np.column_stack([rows[usable], np.ones(usable.sum())])
    solution, *_ = np.linalg.lstsq(design, np.log(p[usable] / (1 - p[usable])), rcond=None)
    copied = held_out @ solution[:-1] + solution[-1] > 0
    return float(np.mean(copied == truth))


def main(seeds: int = 5) -> None:
    table = {name: np.zeros((seeds, len(BUDGETS))) for name in SETTINGS}
    for seed in range(seeds):
        model = target(np.random.default_rng(seed))
        for name, options in SETTINGS.items():
            for j, budget in enumerate(BUDGETS):
                rng = np.random.default_rng(1000 * seed + j)
                table[name][seed, j] = copy_agreement(model, options, budget, rng)
    print(f"copy agreement (median of {seeds} targets) after N queries")
    print(f"{'setting':<12}" + "".join(f"{n:>8}" for n in BUDGETS))
    for name, runs in table.items():
        print(f"{name:<12}" + "".join(f"{v:>8.4f}" for v in np.median(runs, axis=0)))
    print()
    for level in (0.99, 0.999):
        print(f"queries to a {level:.1%} copy (median)")
        for name, runs in table.items():
            median = np.median(runs, axis=0)
            reached = [n for n, v in zip(BUDGETS, median, strict=True) if v >= level]
            print(f"  {name:<12} {reached[0] if reached else f'> {BUDGETS[-1]}'}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
