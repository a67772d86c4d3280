"""Clusters of symbols that move together, and one representative of each.

Method: agglomerative clustering with *average* linkage on the distance ``1 - ρ`` between
symbols' log returns (scikit-learn, ``metric="precomputed"``), cut where merging two groups
would need their average correlation to fall to ``min_correlation`` or below.
Why this and not KMeans on return features:

- the question a portfolio asks is "which of these move together", which the correlation
  matrix answers directly; KMeans would need returns embedded in Euclidean space, where
  volatile coins land far from calm ones that move with them in step;
- the number of clusters falls out of one interpretable threshold (a correlation) instead
  of being guessed (KMeans needs ``k`` up front), and is stable as symbols come and go;
- it is deterministic (no random initialisation), so two runs on the same candles agree;
- average linkage neither chains a whole market together through single close pairs (single
  linkage) nor splits a tight group because of one loose member (complete linkage).

The representative of a cluster is its medoid: the member with the highest mean correlation
to the other members. Ties go to the member listed first, so callers that order symbols by
liquidity (as the X-ray does) get the most liquid of equals. Holding one representative per
cluster diversifies across clusters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from xraybot.model.candles import FloatArray
from xraybot.model.errors import InvalidInputError
from xraybot.xray.correlation import Correlation

DEFAULT_MIN_CORRELATION = 0.5


@dataclass(frozen=True, slots=True)
class Cluster:
    """Symbols that move together."""

    id: int
    members: tuple[str, ...]
    representative: str
    mean_correlation: float  # mean over distinct member pairs; NaN for a single member

    def as_dict(self) -> dict[str, object]:
        """Return the cluster as JSON-ready data."""
        mean = self.mean_correlation
        return {
            "id": self.id,
            "members": list(self.members),
            "representative": self.representative,
            "mean_correlation": round(mean, 6) if math.isfinite(mean) else None,
        }


@dataclass(frozen=True, slots=True)
class Clustering:
    """Every symbol's cluster; clusters are numbered from the largest down."""

    clusters: tuple[Cluster, ...]
    labels: Mapping[str, int]  # symbol -> cluster id
    min_correlation: float
    method: str = "agglomerative, average linkage, distance 1 - correlation"

    @property
    def representatives(self) -> tuple[str, ...]:
        """Return one symbol per cluster: a portfolio spread across clusters."""
        return tuple(c.representative for c in self.clusters)

    def order(self) -> tuple[str, ...]:
        """Return the symbols grouped by cluster (for a block-shaped heatmap)."""
        return tuple(s for c in self.clusters for s in c.members)

    def as_dict(self) -> dict[str, object]:
        """Return the clustering as JSON-ready data."""
        return {
            "method": self.method,
            "min_correlation": self.min_correlation,
            "clusters": [c.as_dict() for c in self.clusters],
            "labels": dict(self.labels),
        }


def cluster_symbols(
    correlation: Correlation,
    *,
    min_correlation: float = DEFAULT_MIN_CORRELATION,
    n_clusters: int | None = None,
) -> Clustering:
    """Cluster the correlation's symbols (``n_clusters`` overrides the threshold)."""
    return cluster_matrix(
        correlation.symbols,
        correlation.matrix,
        min_correlation=min_correlation,
        n_clusters=n_clusters,
    )


def cluster_matrix(
    symbols: Sequence[str],
    matrix: FloatArray,
    *,
    min_correlation: float = DEFAULT_MIN_CORRELATION,
    n_clusters: int | None = None,
) -> Clustering:
    """Cluster ``symbols`` by their correlation ``matrix`` (rows and columns in that order)."""
    n = len(symbols)
    if matrix.shape != (n, n):
        raise InvalidInputError(
            f"the correlation matrix must be {n}x{n} for {n} symbols; found {matrix.shape}."
        )
    if not -1.0 <= min_correlation < 1.0:
        raise InvalidInputError(f"min_correlation must be in [-1, 1); found {min_correlation}.")
    if n_clusters is not None and not 1 <= n_clusters <= max(n, 1):
        raise InvalidInputError(
            f"n_clusters must be from 1 to the {n} symbols; found {n_clusters}."
        )
    if n == 0:
        return Clustering((), {}, min_correlation)
    rho = np.clip(np.nan_to_num(matrix, nan=0.0), -1.0, 1.0)
    rho = (rho + rho.T) / 2.0  # exact symmetry, whatever the rounding
    if n == 1:
        raw = np.zeros(1, dtype=np.int64)
    else:
        distance = 1.0 - rho
        np.fill_diagonal(distance, 0.0)
        model = AgglomerativeClustering(
            n_clusters=n_clusters,
            metric="precomputed",
            linkage="average",
            distance_threshold=None if n_clusters is not None else 1.0 - min_correlation,
        )
        raw = np.asarray(model.fit_predict(distance), dtype=np.int64)
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(raw.tolist()):
        groups.setdefault(label, []).append(index)
    ordered = sorted(groups.values(), key=lambda members: (-len(members), members[0]))
    clusters = []
    labels: dict[str, int] = {}
    for cluster_id, members in enumerate(ordered):
        block = rho[np.ix_(members, members)]
        clusters.append(
            Cluster(
                id=cluster_id,
                members=tuple(symbols[i] for i in members),
                representative=symbols[members[_medoid(block)]],
                mean_correlation=_mean_off_diagonal(block),
            )
        )
        labels.update({symbols[i]: cluster_id for i in members})
    return Clustering(tuple(clusters), labels, min_correlation)


def _medoid(block: FloatArray) -> int:
    m = block.shape[0]
    if m == 1:
        return 0
    scores = (block.sum(axis=1) - np.diag(block)) / (m - 1)
    return int(np.argmax(scores))  # the first of equals


def _mean_off_diagonal(block: FloatArray) -> float:
    m = block.shape[0]
    if m < 2:
        return math.nan
    return float(block[np.triu_indices(m, k=1)].mean())
