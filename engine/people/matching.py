"""Optimal one-to-one matching and connected groups, in numpy alone.

SciPy has both (``scipy.optimize.linear_sum_assignment``, ``scipy.sparse.csgraph``), but
importing either package costs a fifth of a second of CPU at every extraction (SciPy 1.17 clones
numpy's namespace at import, loading numpy.testing and numpy.f2py), more than all the matching the
people layer does. Its matrices are small (the people on one frame, the tracklets of one group),
so shortest augmenting paths over numpy rows are quick; a test compares it with SciPy's.
"""

from __future__ import annotations

import numpy as np


def assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of a minimum-cost one-to-one assignment of the rows and columns of the
    finite ``cost`` [n, m] (every row when n <= m, else every column), rows ascending."""
    cost = np.asarray(cost, np.float64)
    if cost.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if cost.shape[0] <= cost.shape[1]:
        return np.arange(cost.shape[0]), _columns_of_rows(cost)
    row_of_col = _columns_of_rows(cost.T)  # each column of ``cost`` gets a row
    order = np.argsort(row_of_col)
    return row_of_col[order], order


def _columns_of_rows(cost: np.ndarray) -> np.ndarray:
    """The column given to each row of ``cost`` [n, m], n <= m, at the least total cost.

    Rows join one at a time; each takes the shortest augmenting path (reduced costs under dual
    potentials ``u``, ``v``, Dijkstra over the columns) to a column nobody holds yet, and the
    rows along the path move over by one (Jonker and Volgenant; Crouse 2016).
    """
    n, m = cost.shape
    u, v = np.zeros(n), np.zeros(m)
    col_of_row = np.full(n, -1)
    row_of_col = np.full(m, -1)
    for start in range(n):
        dist = np.full(m, np.inf)  # shortest reduced path cost from ``start`` to each column
        via = np.full(m, -1)  # the row before each column on that path
        reached = np.zeros(m, bool)
        rows = [start]
        row, shortest = start, 0.0
        while True:
            through = shortest + cost[row] - u[row] - v
            closer = ~reached & (through < dist)
            dist[closer], via[closer] = through[closer], row
            left = np.where(reached, np.inf, dist)
            shortest = left.min()
            ties = np.flatnonzero(left == shortest)
            free = ties[row_of_col[ties] < 0]  # an unheld column ends the path at once
            col = int(free[0] if free.size else ties[0])
            reached[col] = True
            if row_of_col[col] < 0:
                break
            row = int(row_of_col[col])
            rows.append(row)
        u[start] += shortest
        for r in rows[1:]:
            u[r] += shortest - dist[col_of_row[r]]
        v[reached] -= shortest - dist[reached]
        while True:  # every row on the path takes the column after it
            row = int(via[col])
            row_of_col[col] = row
            col_of_row[row], col = col, col_of_row[row]
            if row == start:
                break
    return col_of_row


def groups(n: int, pairs: list[tuple[int, int]]) -> np.ndarray:
    """[n] group label of each of ``n`` items, two items in one group when a chain of ``pairs``
    joins them."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        parent[root(a)] = root(b)
    return np.array([root(i) for i in range(n)], dtype=np.int64)
