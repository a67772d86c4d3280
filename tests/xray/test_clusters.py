"""Clusters: two constructed groups separate; representatives are medoids; edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.xray import NAMES, two_groups, universe
from xraybot.model.errors import InvalidInputError
from xraybot.xray.clusters import cluster_matrix, cluster_symbols
from xraybot.xray.correlation import correlation


def test_two_constructed_groups_come_out_as_two_clusters() -> None:
    found = cluster_symbols(correlation(universe(two_groups(), NAMES)))
    assert len(found.clusters) == 2
    big, small = found.clusters
    assert set(big.members) == set(NAMES[:4])
    assert set(small.members) == set(NAMES[4:])
    assert (big.id, small.id) == (0, 1)  # numbered from the largest
    assert found.labels["F3/USDT"] == 0
    assert found.labels["G2/USDT"] == 1
    assert big.mean_correlation > 0.6
    assert big.representative in big.members
    assert small.representative in small.members
    assert found.representatives == (big.representative, small.representative)
    assert found.order() == big.members + small.members


def test_the_representative_is_the_member_closest_to_the_others() -> None:
    matrix = np.array(
        [
            [1.0, 0.9, 0.6, 0.0],
            [0.9, 1.0, 0.9, 0.0],
            [0.6, 0.9, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    found = cluster_matrix(["A", "B", "C", "D"], matrix)
    assert found.clusters[0].members == ("A", "B", "C")
    assert found.clusters[0].representative == "B"
    assert found.clusters[0].mean_correlation == pytest.approx((0.9 + 0.6 + 0.9) / 3)
    assert found.clusters[1].members == ("D",)
    assert np.isnan(found.clusters[1].mean_correlation)
    assert found.clusters[1].as_dict()["mean_correlation"] is None


def test_ties_go_to_the_symbol_listed_first() -> None:
    found = cluster_matrix(["LIQUID", "THIN"], np.array([[1.0, 0.8], [0.8, 1.0]]))
    assert found.clusters[0].representative == "LIQUID"


def test_the_threshold_decides_how_much_co_movement_makes_a_cluster() -> None:
    matrix = np.array([[1.0, 0.45], [0.45, 1.0]])
    assert len(cluster_matrix(["A", "B"], matrix, min_correlation=0.5).clusters) == 2
    assert len(cluster_matrix(["A", "B"], matrix, min_correlation=0.4).clusters) == 1
    assert len(cluster_matrix(["A", "B"], matrix, n_clusters=1).clusters) == 1


def test_anti_correlated_symbols_are_apart() -> None:
    matrix = np.array([[1.0, -0.9], [-0.9, 1.0]])
    assert len(cluster_matrix(["LONG", "SHORT"], matrix).clusters) == 2


def test_edge_cases() -> None:
    assert cluster_matrix([], np.empty((0, 0))).clusters == ()
    one = cluster_matrix(["ONLY"], np.ones((1, 1)))
    assert one.labels == {"ONLY": 0}
    assert one.representatives == ("ONLY",)
    with pytest.raises(InvalidInputError, match="must be 2x2 for 2 symbols; found"):
        cluster_matrix(["A", "B"], np.ones((3, 3)))
    with pytest.raises(InvalidInputError, match="n_clusters"):
        cluster_matrix(["A", "B"], np.eye(2), n_clusters=3)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 12), st.integers(0, 10_000))
def test_every_symbol_is_in_exactly_one_cluster_and_represented_once(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    returns = rng.standard_normal((60, n)) + rng.standard_normal((60, 1)) * rng.random(n)
    matrix = np.atleast_2d(np.corrcoef(returns, rowvar=False))
    names = [f"S{i}" for i in range(n)]
    found = cluster_matrix(names, matrix)
    members = [s for c in found.clusters for s in c.members]
    assert sorted(members) == sorted(names)
    assert [c.id for c in found.clusters] == list(range(len(found.clusters)))
    sizes = [len(c.members) for c in found.clusters]
    assert sizes == sorted(sizes, reverse=True)
    for c in found.clusters:
        assert c.representative in c.members
        assert all(found.labels[s] == c.id for s in c.members)
