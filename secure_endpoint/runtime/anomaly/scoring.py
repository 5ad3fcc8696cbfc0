"""Isolation Forest scores: fitted with scikit-learn, stored and scored as plain numpy arrays.

``fit_model`` fits scikit-learn's ``IsolationForest`` on a baseline (deterministic given
``random_state``) and exports its trees to arrays; ``Forest.score`` walks those arrays with numpy
and gives exactly scikit-learn's scores (``-score_samples``, in (0, 1], higher is more anomalous),
so the monitor needs numpy only, not scikit-learn.

A stored model is bytes of our own format: a JSON header and raw little-endian arrays, written
deterministically, with no pickle anywhere (``np.load`` is never used). ``loads`` refuses bytes
whose SHA-256 is not the digest recorded when they were written, then validates every array (node
indexes inside the forest, children after parents, depth within bounds), so that even bytes that
pass a digest check cannot make scoring crash or loop.

Pure: plain data in, plain data out. scikit-learn is imported only by ``fit_model``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from secure_endpoint.runtime.anomaly.features import (
    FEATURES,
    HISTORY_SECONDS,
    WindowAggregates,
    covered_windows,
    features,
)

FORMAT = "secure-endpoint-isolation-forest"
VERSION = 1
_MAGIC = b"SEIFOREST\x00"
_HEADER_LENGTH = struct.Struct("<Q")
_MAX_HEADER = 1 << 20
_MAX_DEPTH = 64
_FOREST_ARRAYS: tuple[tuple[str, str], ...] = (
    ("feature", "<i4"),
    ("threshold", "<f8"),
    ("left", "<i4"),
    ("right", "<i4"),
    ("leaf_depth", "<f8"),
    ("roots", "<i4"),
)
_SCORE_CHUNK = 1 << 20  # rows x trees walked at once: bounds the memory of scoring (~40 MB)


class IntegrityError(ValueError):
    """Model bytes that do not match their recorded digest, or are not a valid model."""


@dataclass(frozen=True)
class ForestConfig:
    """Hyper-parameters of the Isolation Forests (scikit-learn's names and meanings).

    ``max_samples`` rows are drawn per tree (all rows when fewer); ``alert_quantile`` is the share
    of the baseline's own windows that score below the alert threshold (0.995: the top 0.5%);
    a kind of principal with fewer than ``min_rows`` baseline windows gets no forest.
    """

    n_estimators: int = 100
    max_samples: int = 4096
    max_features: float = 1.0
    random_state: int = 0
    alert_quantile: float = 0.995
    min_rows: int = 50

    def __post_init__(self) -> None:
        if self.min_rows < 2:
            raise ValueError(f"min_rows must be at least 2, got {self.min_rows}")
        if self.n_estimators < 1:
            raise ValueError(f"n_estimators must be at least 1, got {self.n_estimators}")
        if self.max_samples < 2:
            raise ValueError(f"max_samples must be at least 2, got {self.max_samples}")
        if not 0.0 < self.max_features <= 1.0:
            raise ValueError(f"max_features must be in (0, 1], got {self.max_features}")
        if not 0.9 <= self.alert_quantile < 1.0:
            raise ValueError(
                f"alert_quantile must be in [0.9, 1) (the top 0.1-0.5% of history is usual), "
                f"got {self.alert_quantile}"
            )


@dataclass(frozen=True, eq=False)
class Forest:
    """An exported Isolation Forest: the nodes of every tree in flat arrays.

    Tree ``t`` starts at node ``roots[t]``; at an inner node a sample goes ``left`` when its
    ``feature`` is at most ``threshold`` (compared in float32, as scikit-learn does), else
    ``right``; a leaf (``left == -1``) holds the tree's path-length contribution ``leaf_depth``.
    """

    feature: npt.NDArray[np.int32]
    threshold: npt.NDArray[np.float64]
    left: npt.NDArray[np.int32]
    right: npt.NDArray[np.int32]
    leaf_depth: npt.NDArray[np.float64]
    roots: npt.NDArray[np.int32]
    max_depth: int
    denominator: float
    n_features: int
    _step: tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]] = field(
        init=False, repr=False, compare=False
    )
    _estimator: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # leaves point at themselves, so that every sample walks exactly max_depth steps; the
        # children of node i are at i (right) and i + nodes (left) of one array
        nodes = np.arange(len(self.left), dtype=np.int32)
        leaf = self.left < 0
        children = np.concatenate(
            [np.where(leaf, nodes, self.right), np.where(leaf, nodes, self.left)]
        )
        # float32 values compare with a float64 threshold exactly as with the largest float32 at
        # most the threshold: half the memory traffic, the same decisions
        below = self.threshold.astype(np.float32)
        too_high = below.astype(np.float64) > self.threshold
        below[too_high] = np.nextafter(below[too_high], np.float32(-np.inf))
        object.__setattr__(self, "_step", (children.astype(np.int32), below))

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    def score(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Anomaly scores in (0, 1], higher is more anomalous: scikit-learn's ``-score_samples``.

        A forest fitted in this process scores with its scikit-learn estimator (compiled, and
        equal to ``numpy_score``, which a test proves); a loaded one with ``numpy_score``."""
        if self._estimator is not None:
            data = np.asarray(X, dtype=np.float32)
            self._check(data)
            return np.asarray(-self._estimator.score_samples(data), dtype=np.float64)
        return self.numpy_score(X)

    def _check(self, data: npt.NDArray[np.float32]) -> None:
        if data.ndim != 2 or data.shape[1] != self.n_features:
            raise ValueError(
                f"expected a matrix of {self.n_features} features, got shape {data.shape}"
            )
        if np.isnan(data).any():  # scikit-learn sends NaN down its own path; features never are
            raise ValueError("features must not be NaN")

    def numpy_score(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """``score`` with numpy alone, walking the exported arrays."""
        data = np.asarray(X, dtype=np.float32)
        self._check(data)
        rows = data.shape[0]
        depths = np.zeros(rows, dtype=np.float64)
        chunk = max(1, _SCORE_CHUNK // self.n_trees)
        children, threshold = self._step
        n_nodes = np.int32(len(self.left))
        for lo in range(0, rows, chunk):
            block = data[lo : lo + chunk]
            flat = block.ravel()
            base = (np.arange(len(block), dtype=np.int32) * np.int32(self.n_features))[:, None]
            nodes = np.broadcast_to(self.roots, (len(block), self.n_trees)).copy()
            for _ in range(self.max_depth):
                left = flat[base + self.feature[nodes]] <= threshold[nodes]  # NaN: right
                nodes = children[nodes + left * n_nodes]
            leaf_depths = self.leaf_depth[nodes]
            total = np.zeros(len(block), dtype=np.float64)
            for tree in range(self.n_trees):  # in tree order, as scikit-learn adds them
                total += leaf_depths[:, tree]
            depths[lo : lo + chunk] = total
        if self.denominator == 0:
            return np.ones(rows, dtype=np.float64)
        return np.asarray(2.0 ** (-(depths / self.denominator)), dtype=np.float64)

    @classmethod
    def from_sklearn(cls, estimator: Any) -> Forest:
        """Export a fitted ``sklearn.ensemble.IsolationForest``."""
        from sklearn.ensemble._iforest import _average_path_length

        n_features = int(estimator.n_features_in_)
        subsample = estimator._max_features != n_features
        parts: dict[str, list[npt.NDArray[Any]]] = {
            name: [] for name in ("feature", "threshold", "left", "right", "leaf_depth")
        }
        roots, offset = [], 0
        for index, (tree, subset) in enumerate(
            zip(estimator.estimators_, estimator.estimators_features_, strict=True)
        ):
            nodes = tree.tree_
            leaf = nodes.children_left < 0
            feature = np.where(leaf, 0, nodes.feature)
            if subsample:
                feature = np.where(leaf, 0, np.asarray(subset)[np.maximum(nodes.feature, 0)])
            depth = (
                estimator._decision_path_lengths[index]
                + estimator._average_path_length_per_tree[index]
                - 1.0
            )
            parts["feature"].append(feature.astype(np.int32))
            parts["threshold"].append(np.where(leaf, 0.0, nodes.threshold))
            parts["left"].append(np.where(leaf, -1, nodes.children_left + offset).astype(np.int32))
            parts["right"].append(
                np.where(leaf, -1, nodes.children_right + offset).astype(np.int32)
            )
            parts["leaf_depth"].append(np.where(leaf, depth, 0.0))
            roots.append(offset)
            offset += nodes.node_count
        denominator = float(
            len(estimator.estimators_) * _average_path_length([estimator._max_samples])[0]
        )
        return cls(
            feature=np.concatenate(parts["feature"]),
            threshold=np.concatenate(parts["threshold"]).astype(np.float64),
            left=np.concatenate(parts["left"]),
            right=np.concatenate(parts["right"]),
            leaf_depth=np.concatenate(parts["leaf_depth"]).astype(np.float64),
            roots=np.array(roots, dtype=np.int32),
            max_depth=max(int(t.tree_.max_depth) for t in estimator.estimators_),
            denominator=denominator,
            n_features=n_features,
            _estimator=estimator,
        )


KINDS = ("client", "address")
"""Principals of each kind get a forest and a threshold of their own: clients (authenticated
requests) and addresses (requests without a client id) behave too differently to share them."""


@dataclass(frozen=True, eq=False)
class Model:
    """What the monitor stores: a forest and an alert threshold per kind of principal, and the
    baseline's reference values.

    ``forests[k]`` is None when the baseline held too few windows of kind ``k`` to fit one: those
    windows are then decided by the hard rules alone (their score is 0). ``reference_median`` and
    ``reference_scale`` (per kind, per feature) describe the baseline, to explain in each alert
    which features stand out. ``trained_on`` is ``"baseline"`` or ``"cold-start"`` (the scored
    windows themselves, when there was no baseline).
    """

    forests: tuple[Forest | None, Forest | None]
    thresholds: tuple[float, float]
    training_rows: tuple[int, int]
    feature_names: tuple[str, ...]
    reference_median: npt.NDArray[np.float64]
    reference_scale: npt.NDArray[np.float64]
    trained_on: str
    config: ForestConfig

    def score(self, X: npt.ArrayLike, is_client: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Each row scored by the forest of its kind (0 where that kind has none)."""
        data = np.asarray(X, dtype=np.float64)
        clients = np.asarray(is_client, dtype=bool)
        scores = np.zeros(len(data), dtype=np.float64)
        for forest, rows in zip(self.forests, (clients, ~clients), strict=True):
            if forest is not None and rows.any():
                scores[rows] = forest.score(data[rows])
        return scores

    def threshold(self, is_client: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The alert threshold of each row's kind (``inf`` where that kind has no forest)."""
        clients = np.asarray(is_client, dtype=bool)
        return np.where(clients, self.thresholds[0], self.thresholds[1])

    @property
    def fitted(self) -> bool:
        return any(forest is not None for forest in self.forests)

    def portable(self) -> Model:
        """This model without its scikit-learn estimators (to send to a process without them)."""
        forests = tuple(
            None if forest is None else dataclasses.replace(forest, _estimator=None)
            for forest in self.forests
        )
        return dataclasses.replace(self, forests=(forests[0], forests[1]))


def fit_forest(X: npt.ArrayLike, config: ForestConfig = ForestConfig(), jobs: int = 1) -> Forest:
    """Fit scikit-learn's Isolation Forest on ``X`` (deterministic given ``random_state``).

    ``jobs`` threads build the trees (each from its own seed, drawn before: the same forest
    whatever their number); scores are always summed in one thread, in tree order."""
    from sklearn.ensemble import IsolationForest

    data = np.asarray(X, dtype=np.float64)
    if data.ndim != 2 or len(data) < 2:
        raise ValueError(f"need a matrix of at least 2 rows to fit, got shape {data.shape}")
    estimator = IsolationForest(
        n_estimators=config.n_estimators,
        max_samples=min(config.max_samples, len(data)),
        max_features=config.max_features,
        random_state=config.random_state,
        n_jobs=jobs,
    )
    estimator.fit(data)
    estimator.set_params(n_jobs=1)
    return Forest.from_sklearn(estimator)


def fit_model(
    X: npt.ArrayLike,
    is_client: npt.ArrayLike,
    feature_names: Sequence[str],
    *,
    config: ForestConfig = ForestConfig(),
    trained_on: str = "baseline",
    jobs: int = 1,
) -> Model:
    """Fit a forest per kind of principal that has at least ``config.min_rows`` windows, set
    each alert threshold at ``config.alert_quantile`` of the forest's scores on its own windows
    and record the reference (median and robust scale of every feature, per kind)."""
    return fit_scored_model(
        X, is_client, feature_names, config=config, trained_on=trained_on, jobs=jobs
    )[0]


def fit_scored_model(
    X: npt.ArrayLike,
    is_client: npt.ArrayLike,
    feature_names: Sequence[str],
    *,
    config: ForestConfig = ForestConfig(),
    trained_on: str = "baseline",
    jobs: int = 1,
) -> tuple[Model, npt.NDArray[np.float64]]:
    """``fit_model``, and the scores of the rows it was fitted on (which it computes for the
    thresholds: 0 where a kind has no forest), so that they need not be scored again."""
    data = np.asarray(X, dtype=np.float64)
    clients = np.asarray(is_client, dtype=bool)
    fitted_scores = np.zeros(len(data), dtype=np.float64)
    forests: list[Forest | None] = []
    thresholds, rows_used, medians, scales = [], [], [], []
    for rows in (clients, ~clients):
        part = data[rows]
        forest = fit_forest(part, config, jobs) if len(part) >= config.min_rows else None
        forests.append(forest)
        rows_used.append(len(part) if forest is not None else 0)
        if forest is None:
            thresholds.append(float("inf"))
        else:
            scores = forest.score(part)
            fitted_scores[rows] = scores
            thresholds.append(float(np.quantile(scores, config.alert_quantile, method="higher")))
        reference = part if len(part) else data
        if len(reference) == 0:
            medians.append(np.zeros(data.shape[1]))
            scales.append(np.ones(data.shape[1]))
            continue
        median = np.median(reference, axis=0)
        mad = 1.4826 * np.median(np.abs(reference - median), axis=0)
        floor = np.full(len(median), 0.05)
        scales.append(np.maximum.reduce([mad, 0.5 * reference.std(axis=0), floor]))
        medians.append(median)
    model = Model(
        forests=(forests[0], forests[1]),
        thresholds=(thresholds[0], thresholds[1]),
        training_rows=(rows_used[0], rows_used[1]),
        feature_names=tuple(feature_names),
        reference_median=np.array(medians),
        reference_scale=np.array(scales),
        trained_on=trained_on,
        config=config,
    )
    return model, fitted_scores


def sha256(data: bytes) -> str:
    """The digest to record beside stored model bytes."""
    return hashlib.sha256(data).hexdigest()


def dumps(model: Model) -> bytes:
    """The model as bytes: deterministic (same model, same bytes), no pickle."""
    payload: list[bytes] = []
    entries: list[list[Any]] = []

    def add(name: str, dtype: str, values: npt.NDArray[Any]) -> None:
        blob = np.ascontiguousarray(values, dtype=dtype).tobytes()
        payload.append(blob)
        entries.append([name, dtype, len(blob)])

    kinds = []
    for kind, forest, threshold, rows in zip(
        KINDS, model.forests, model.thresholds, model.training_rows, strict=True
    ):
        entry: dict[str, Any] = {"kind": kind, "fitted": forest is not None, "trainingRows": rows}
        if forest is not None:
            entry |= {
                "nodes": len(forest.left),
                "trees": forest.n_trees,
                "maxDepth": forest.max_depth,
                "denominator": forest.denominator,
                "threshold": threshold,
            }
            for name, dtype in _FOREST_ARRAYS:
                add(f"{kind}.{name}", dtype, getattr(forest, name))
        kinds.append(entry)
    add("reference_median", "<f8", model.reference_median.ravel())
    add("reference_scale", "<f8", model.reference_scale.ravel())
    config = model.config
    header = {
        "format": FORMAT,
        "version": VERSION,
        "features": list(model.feature_names),
        "kinds": kinds,
        "trainedOn": model.trained_on,
        "config": {
            "nEstimators": config.n_estimators,
            "maxSamples": config.max_samples,
            "maxFeatures": config.max_features,
            "randomState": config.random_state,
            "alertQuantile": config.alert_quantile,
            "minRows": config.min_rows,
        },
        "arrays": entries,
    }
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    return b"".join([_MAGIC, _HEADER_LENGTH.pack(len(text)), text, *payload])


def loads(data: bytes, expected_sha256: str, feature_names: Sequence[str]) -> Model:
    """The model in ``data``, after checking its digest and every array.

    Raises ``IntegrityError`` when the digest differs (tampered or corrupt bytes), when the bytes
    are not a valid model, or when the model was fitted on other features than ``feature_names``
    (a model of another version: refit it).
    """
    if not hmac.compare_digest(sha256(data), expected_sha256.strip().lower()):
        raise IntegrityError("model digest mismatch: refusing the stored model (refit it)")
    try:
        return _parse(data, tuple(feature_names))
    except IntegrityError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, struct.error) as error:
        raise IntegrityError(f"not a valid model: {error!r}") from None


def _parse(data: bytes, feature_names: tuple[str, ...]) -> Model:
    if not data.startswith(_MAGIC):
        raise IntegrityError("not a model file (bad magic)")
    (length,) = _HEADER_LENGTH.unpack_from(data, len(_MAGIC))
    start = len(_MAGIC) + _HEADER_LENGTH.size
    if length > _MAX_HEADER or start + length > len(data):
        raise IntegrityError(f"header length {length} is out of bounds")
    header = json.loads(data[start : start + length])
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise IntegrityError(f"unsupported format {header.get('format')!r} {header.get('version')}")
    if tuple(header["features"]) != feature_names:
        raise IntegrityError("the model was fitted on other features: refit it")
    arrays: dict[str, npt.NDArray[Any]] = {}
    offset = start + length
    for name, dtype, size in header["arrays"]:
        if dtype not in ("<i4", "<f8") or not isinstance(size, int) or size < 0:
            raise IntegrityError(f"array {name!r} has a bad type or size")
        itemsize = np.dtype(dtype).itemsize
        if size % itemsize or offset + size > len(data) or name in arrays:
            raise IntegrityError(f"array {name!r} is out of bounds or repeated")
        values = np.frombuffer(data, dtype=dtype, count=size // itemsize, offset=offset)
        arrays[name] = values.astype(np.float64 if dtype == "<f8" else np.int32)
        offset += size
    if offset != len(data):
        raise IntegrityError("trailing bytes after the arrays")
    n_features = len(feature_names)
    kinds = header["kinds"]
    if [entry["kind"] for entry in kinds] != list(KINDS):
        raise IntegrityError("unexpected kinds of principal")
    forests: list[Forest | None] = []
    thresholds: list[float] = []
    for entry in kinds:
        if not entry["fitted"]:
            forests.append(None)
            thresholds.append(float("inf"))
            continue
        kind = entry["kind"]
        forest = Forest(
            feature=arrays[f"{kind}.feature"].astype(np.int32),
            threshold=arrays[f"{kind}.threshold"],
            left=arrays[f"{kind}.left"].astype(np.int32),
            right=arrays[f"{kind}.right"].astype(np.int32),
            leaf_depth=arrays[f"{kind}.leaf_depth"],
            roots=arrays[f"{kind}.roots"].astype(np.int32),
            max_depth=int(entry["maxDepth"]),
            denominator=float(entry["denominator"]),
            n_features=n_features,
        )
        _validate(forest, int(entry["nodes"]), int(entry["trees"]))
        forests.append(forest)
        thresholds.append(float(entry["threshold"]))
    median, scale = arrays["reference_median"], arrays["reference_scale"]
    if median.shape != (2 * n_features,) or scale.shape != (2 * n_features,):
        raise IntegrityError("reference arrays do not match the features")
    if not (np.isfinite(median).all() and np.isfinite(scale).all() and (scale > 0).all()):
        raise IntegrityError("reference arrays hold non-finite or non-positive values")
    config = header["config"]
    return Model(
        forests=(forests[0], forests[1]),
        thresholds=(thresholds[0], thresholds[1]),
        training_rows=(int(kinds[0]["trainingRows"]), int(kinds[1]["trainingRows"])),
        feature_names=feature_names,
        reference_median=median.reshape(2, n_features),
        reference_scale=scale.reshape(2, n_features),
        trained_on=str(header["trainedOn"]),
        config=ForestConfig(
            n_estimators=int(config["nEstimators"]),
            max_samples=int(config["maxSamples"]),
            max_features=float(config["maxFeatures"]),
            random_state=int(config["randomState"]),
            alert_quantile=float(config["alertQuantile"]),
            min_rows=int(config["minRows"]),
        ),
    )


def _validate(forest: Forest, nodes: int, trees: int) -> None:
    """Every index in range, children after their parent, leaves consistent, depth bounded."""
    sizes = {len(forest.feature), len(forest.threshold), len(forest.left), len(forest.right)}
    if sizes != {nodes} or len(forest.leaf_depth) != nodes or nodes == 0:
        raise IntegrityError("node arrays disagree on the number of nodes")
    if len(forest.roots) != trees or trees == 0:
        raise IntegrityError("roots disagree on the number of trees")
    if not 0 < forest.max_depth <= _MAX_DEPTH:
        raise IntegrityError(f"max depth {forest.max_depth} is out of bounds")
    if not (np.isfinite(forest.denominator) and forest.denominator >= 0):
        raise IntegrityError("denominator is not a finite non-negative number")
    index = np.arange(nodes)
    leaf = forest.left < 0
    inner = ~leaf
    if np.any(leaf != (forest.right < 0)) or np.any(forest.left[leaf] != -1):
        raise IntegrityError("a node has one child")
    if np.any(forest.right[leaf] != -1):
        raise IntegrityError("a leaf has a child")
    for children in (forest.left[inner], forest.right[inner]):
        if np.any(children <= index[inner]) or np.any(children >= nodes):
            raise IntegrityError("a child index is out of order or out of range")
    if np.any((forest.feature < 0) | (forest.feature >= forest.n_features)):
        raise IntegrityError("a feature index is out of range")
    if not (np.isfinite(forest.threshold).all() and np.isfinite(forest.leaf_depth).all()):
        raise IntegrityError("non-finite thresholds or depths")
    if np.any(forest.leaf_depth < 0):
        raise IntegrityError("negative path length")
    roots = forest.roots.astype(np.int64)
    if roots[0] != 0 or np.any(np.diff(roots) <= 0) or roots[-1] >= nodes:
        raise IntegrityError("roots are out of order or out of range")
    # every node is reached from its tree's root within max_depth steps
    depth = np.full(nodes, -1, dtype=np.int64)
    depth[roots] = 0
    for node in range(nodes):  # children come after parents: one pass in index order
        if inner[node] and depth[node] >= 0:
            depth[forest.left[node]] = depth[forest.right[node]] = depth[node] + 1
    if np.any(depth < 0) or int(depth.max()) > forest.max_depth:
        raise IntegrityError("a node is unreachable or deeper than max depth")


def fit(
    history: WindowAggregates,
    *,
    config: ForestConfig = ForestConfig(),
    history_seconds: int = HISTORY_SECONDS,
    warmup_seconds: int = 3600,
) -> Model:
    """Fit a model on a baseline's aggregates: the trainer's entry point.

    Windows with less than ``warmup_seconds`` of history before them are left out (their history
    features are not yet comparable), unless that would leave fewer than 2.
    """
    X = features(history, history_seconds)
    covered = covered_windows(history, history_seconds) * history.window_seconds
    keep = covered >= min(warmup_seconds, history_seconds)
    if np.count_nonzero(keep) < 2:
        keep = np.ones(len(history), dtype=bool)
    is_client = history.is_client[history.principal]
    return fit_model(X[keep], is_client[keep], FEATURES, config=config)


def score(
    model: Model, aggregates: WindowAggregates, *, history_seconds: int = HISTORY_SECONDS
) -> npt.NDArray[np.float64]:
    """Scores of every row of ``aggregates`` (its history features from its own rows)."""
    is_client = aggregates.is_client[aggregates.principal]
    return model.score(features(aggregates, history_seconds), is_client)
