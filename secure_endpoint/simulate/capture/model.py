"""The simulated endpoint's model: a small gradient-boosted classifier, fitted with scikit-learn,
stored as JSON and scored with numpy.

``train`` fits scikit-learn's ``GradientBoostingClassifier`` (60 trees of depth 3, half the rows
and a third of the features per tree, so that it fits 20,000 rows in about two seconds)
deterministically given the seed. ``TreeEnsemble`` holds what scoring needs (each tree's split
features, thresholds, children and leaf values, the initial log-odds and the learning rate) as
plain arrays, written to and read from ``model.json``: no pickle, so a process that loads the
model file runs no code from it. ``TreeEnsemble.predict_proba`` gives scikit-learn's
``predict_proba(X)[:, 1]`` (the tests compare them).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FORMAT = "secure-endpoint/gradient-boosting-v1"
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TreeEnsemble:
    """A binary gradient-boosted ensemble of regression trees, as arrays (one row per tree,
    padded to the largest tree; a leaf has ``left == -1``)."""

    feature_names: tuple[str, ...]
    init: float
    learning_rate: float
    feature: Ints
    threshold: Floats
    left: Ints
    right: Ints
    value: Floats

    def decision_function(self, rows: Floats) -> Floats:
        """The raw log-odds, as scikit-learn's ``decision_function``."""
        # scikit-learn's trees compare the features in float32 with float64 thresholds.
        data = np.asarray(rows, dtype=np.float32).astype(np.float64)
        n = len(data)
        raw = np.full(n, self.init)
        everyone = np.arange(n)
        for t in range(len(self.feature)):
            node = np.zeros(n, dtype=np.int64)
            while True:
                inner = self.left[t, node] >= 0
                if not inner.any():
                    break
                at = node[inner]
                go_left = data[everyone[inner], self.feature[t, at]] <= self.threshold[t, at]
                node[inner] = np.where(go_left, self.left[t, at], self.right[t, at])
            raw += self.learning_rate * self.value[t, node]
        return raw

    def predict_proba(self, rows: Floats) -> Floats:
        """The probability of class 1 for each row."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(rows)))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "featureNames": list(self.feature_names),
            "init": self.init,
            "learningRate": self.learning_rate,
            "trees": [
                {
                    "feature": self.feature[t, :size].tolist(),
                    "threshold": self.threshold[t, :size].tolist(),
                    "left": self.left[t, :size].tolist(),
                    "right": self.right[t, :size].tolist(),
                    "value": self.value[t, :size].tolist(),
                }
                for t, size in enumerate(self._sizes())
            ],
        }

    def _sizes(self) -> list[int]:
        # Padding is a leaf (left -1) past the last node that a split points to.
        sizes = []
        for t in range(len(self.feature)):
            reached = max(int(self.left[t].max()), int(self.right[t].max()), 0)
            sizes.append(reached + 1)
        return sizes

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TreeEnsemble:
        if data.get("format") != FORMAT:
            raise ValueError(f"model format {data.get('format')!r} is not {FORMAT!r}")
        trees = data["trees"]
        width = max(len(tree["left"]) for tree in trees)

        def padded(key: str, fill: float, dtype: type) -> npt.NDArray[Any]:
            out: npt.NDArray[Any] = np.full((len(trees), width), fill, dtype=dtype)
            for t, tree in enumerate(trees):
                out[t, : len(tree[key])] = tree[key]
            return out

        return cls(
            feature_names=tuple(data["featureNames"]),
            init=float(data["init"]),
            learning_rate=float(data["learningRate"]),
            feature=padded("feature", 0, np.int64),
            threshold=padded("threshold", 0.0, np.float64),
            left=padded("left", -1, np.int64),
            right=padded("right", -1, np.int64),
            value=padded("value", 0.0, np.float64),
        )

    def save(self, path: Path) -> str:
        """Write ``model.json``; returns its SHA-256."""
        text = json.dumps(self.to_json(), separators=(",", ":")) + "\n"
        path.write_text(text)
        return hashlib.sha256(text.encode()).hexdigest()

    @classmethod
    def load(cls, path: Path) -> TreeEnsemble:
        return cls.from_json(json.loads(path.read_text()))

    @classmethod
    def from_sklearn(cls, estimator: Any, feature_names: tuple[str, ...]) -> TreeEnsemble:
        """Export a fitted binary ``sklearn.ensemble.GradientBoostingClassifier``."""
        trees = [stage[0].tree_ for stage in estimator.estimators_]
        width = max(tree.node_count for tree in trees)
        shape = (len(trees), width)
        feature = np.zeros(shape, dtype=np.int64)
        threshold = np.zeros(shape)
        left = np.full(shape, -1, dtype=np.int64)
        right = np.full(shape, -1, dtype=np.int64)
        value = np.zeros(shape)
        for t, tree in enumerate(trees):
            size = tree.node_count
            feature[t, :size] = np.maximum(tree.feature, 0)  # a leaf's -2 is never read
            threshold[t, :size] = tree.threshold
            left[t, :size] = tree.children_left
            right[t, :size] = tree.children_right
            value[t, :size] = tree.value[:, 0, 0]
        learning_rate = float(estimator.learning_rate)
        partial = cls(feature_names, 0.0, learning_rate, feature, threshold, left, right, value)
        # The initial estimate is what the trees do not explain (public API only).
        probe = np.zeros((1, len(feature_names)))
        init = float(estimator.decision_function(probe)[0] - partial.decision_function(probe)[0])
        return cls(feature_names, init, learning_rate, feature, threshold, left, right, value)


@dataclass(frozen=True)
class Trained:
    """The fitted scikit-learn estimator (for this process) and its exported ensemble."""

    estimator: Any
    ensemble: TreeEnsemble

    def predict_proba(self, rows: Floats) -> Floats:
        """Probability of class 1, by scikit-learn (compiled, faster than the numpy ensemble)."""
        result: Floats = self.estimator.predict_proba(rows)[:, 1]
        return result


def train(rows: Floats, labels: Ints, feature_names: tuple[str, ...], *, seed: int) -> Trained:
    """Fit the model (deterministic given ``seed``)."""
    from sklearn.ensemble import GradientBoostingClassifier

    estimator = GradientBoostingClassifier(
        n_estimators=60, max_depth=3, learning_rate=0.15, subsample=0.5, max_features=0.3,
        random_state=seed,
    )  # fmt: skip
    estimator.fit(rows, labels)
    return Trained(estimator, TreeEnsemble.from_sklearn(estimator, feature_names))
