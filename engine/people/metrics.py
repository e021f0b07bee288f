"""Identity scores of tracked people against known truth boxes (composite test videos)."""

from __future__ import annotations

import numpy as np

from engine.people.matching import assignment
from engine.people.people import People


def identity_scores(truth: list[dict[int, tuple]], people: People) -> dict[str, float]:
    """IDF1 (identity F1 after the best one-to-one map of true to tracked ids), the identity
    switches (changes of the tracked id matched to a true person) and the fraction of true
    boxes matched. A tracked person matches a true box on a frame when their hip centre lies in
    it (one to one per frame, nearest centres first). ``truth[i]`` belongs to decoded frame ``i``."""
    pairs = []  # (true id, tracked column, row)
    for row, index in enumerate(people.frame_index):
        boxes = truth[int(index)] if int(index) < len(truth) else {}
        if not boxes:
            continue
        hips = people.keypoints[row, :, 0]
        ids = list(boxes)
        cost = np.full((len(ids), len(people.ids)), 1e9)
        for i, true_id in enumerate(ids):
            x0, y0, x1, y1 = boxes[true_id]
            inside = (hips[:, 0] >= x0) & (hips[:, 0] <= x1) & (hips[:, 1] >= y0)
            inside &= (hips[:, 1] <= y1) & people.present[row]
            centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
            cost[i] = np.where(inside, np.linalg.norm(hips - centre, axis=1), 1e9)
        for i, col in zip(*assignment(cost), strict=True):
            if cost[i, col] < 1e9:
                pairs.append((ids[i], int(col), row))
    true_ids = sorted({t for frame in truth for t in frame})
    counts = np.zeros((len(true_ids), len(people.ids)))
    for true_id, col, _ in pairs:
        counts[true_ids.index(true_id), col] += 1
    idtp = 0.0
    if counts.size:
        r, c = assignment(-counts)
        idtp = float(counts[r, c].sum())
    n_true = sum(len(truth[int(i)]) for i in people.frame_index if int(i) < len(truth))
    n_pred = int(people.present.sum())
    switches = 0
    for true_id in true_ids:
        seq = [col for t, col, _ in sorted(pairs, key=lambda p: p[2]) if t == true_id]
        switches += sum(1 for a, b in zip(seq, seq[1:], strict=False) if a != b)
    return {
        "idf1": round(2 * idtp / max(n_true + n_pred, 1), 4),
        "switches": switches,
        "matched": round(len(pairs) / max(n_true, 1), 4),
    }
