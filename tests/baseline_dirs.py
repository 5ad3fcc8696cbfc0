"""A real baseline directory, built by ``secure-endpoint baseline`` from generated training data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from secure_endpoint.cli import main

NAMES = ["income", "age", "visits", "score"]


def population(rng: np.random.Generator, n: int, *, income_shift: float = 0.0) -> np.ndarray:
    """Correlated training-like rows: a log-normal income, an integer age, counts, a uniform."""
    latent = rng.normal(size=n)
    income = np.exp(10 + 0.5 * latent + rng.normal(0, 0.3, n)) + income_shift
    age = np.clip(40 + 10 * latent + rng.normal(0, 5, n), 18, 90).round()
    visits = rng.poisson(3, n).astype(float)
    score = rng.uniform(0, 1, n)
    return np.column_stack([income, age, visits, score])


def build_baseline(folder: Path, rows: int = 20_000, seed: int = 1) -> Path:
    """``folder/baseline``, from ``rows`` training rows written to ``folder/train.csv``."""
    data = population(np.random.default_rng(seed), rows)
    lines = [",".join(NAMES)] + [f"{r[0]:.2f},{int(r[1])},{int(r[2])},{r[3]:.4f}" for r in data]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.csv").write_text("\n".join(lines) + "\n")
    code = main(["baseline", "--training", str(folder / "train.csv"), "--output",
                 str(folder / "baseline")])  # fmt: skip
    assert code == 0
    return folder / "baseline"
