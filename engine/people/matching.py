"""Optimal one-to-one matching and connected groups, from ``scipy.sparse.csgraph`` alone.

``scipy.optimize.linear_sum_assignment`` would do the matching, but importing ``scipy.optimize``
loads its whole package (a quarter of a second of every extraction's start on a laptop, more than
all the matching it does); ``min_weight_full_bipartite_matching`` gives the same assignment
(equal total cost; the tracker's costs are floats, so ties do not happen between real pairs).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching


def assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of a minimum-cost one-to-one assignment of the rows and columns of the
    finite ``cost`` [n, m] (every row when n <= m, else every column), rows ascending."""
    cost = np.asarray(cost, np.float64)
    if cost.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # Every weight positive: a zero in a sparse matrix would be a missing edge. Adding the same
    # amount to every pair leaves the best full matching the same.
    rows, cols = min_weight_full_bipartite_matching(csr_matrix(cost - cost.min() + 1.0))
    order = np.argsort(rows)
    return rows[order].astype(np.int64), cols[order].astype(np.int64)


def groups(n: int, pairs: list[tuple[int, int]]) -> np.ndarray:
    """[n] group label of each of ``n`` items, two items in one group when a chain of ``pairs``
    joins them."""
    if not pairs:
        return np.arange(n)
    rows, cols = zip(*pairs, strict=True)
    graph = coo_matrix((np.ones(len(pairs)), (rows, cols)), shape=(n, n))
    return connected_components(graph, directed=False)[1]
