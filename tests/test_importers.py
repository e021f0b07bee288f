"""Importers on small files written in exactly the public releases' formats."""

import os

import numpy as np
import pytest

from engine.errors import InputError
from engine.training.datasets import FeatureDataset
from engine.training.importers import (
    import_fisv,
    import_fs1000,
    import_rg,
    load_pickled_dict,
)

RNG = np.random.default_rng(0)


def _feats(t, d):
    return RNG.normal(size=(t, d)).astype(np.float32)


def _write_rg(root):
    """PAMFN layout: {Action}_{modality}_{extractor}.npy pickled dicts + train/test.txt."""
    feat = root / "RG-feature"
    feat.mkdir(parents=True)
    names = {"train": ["Ball_001", "Ball_002", "Hoop_001"], "test": ["Ball_003"]}
    for action in ("Ball", "Hoop"):
        keys = [n for split in names.values() for n in split if n.startswith(action)]
        np.save(feat / f"{action}_rgb_VST.npy", {k: _feats(6, 1024) for k in keys})
        np.save(feat / f"{action}_flow_I3D.npy", {k: _feats(6, 1024) for k in keys})
        audio = {k: _feats(6, 768) for k in keys if k != "Ball_002"}  # one missing audio
        np.save(feat / f"{action}_audio_AST.npy", audio)
    scores = {"Ball_001": 12.5, "Ball_002": 17.25, "Hoop_001": 20.0, "Ball_003": 9.75}
    for split, rows in names.items():
        lines = ["file_name difficulty_score execution_score total_score"]
        lines += [f"{n} 5.0 {scores[n] - 5.0:.2f} {scores[n]:.2f}" for n in rows]
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return feat, scores


def test_rg_import_reads_the_release_layout(tmp_path):
    feat, scores = _write_rg(tmp_path / "RG")
    spec = import_rg(feat, tmp_path / "RG", "Ball", tmp_path / "out")
    assert (spec.score_min, spec.score_max) == (0.0, 25.0)
    data = FeatureDataset.open(tmp_path / "out")
    assert [r.sample for r in data.records] == ["Ball_001", "Ball_002", "Ball_003"]
    assert [r.split for r in data.records] == ["train", "train", "test"]
    assert data.scores.tolist() == [scores["Ball_001"], scores["Ball_002"], scores["Ball_003"]]
    first = data.features(0)
    assert {m: a.shape for m, a in first.items()} == {
        "rgb": (6, 1024),
        "flow": (6, 1024),
        "audio": (6, 768),
    }
    source = np.load(feat / "Ball_rgb_VST.npy", allow_pickle=True).item()["Ball_001"]
    np.testing.assert_array_equal(first["rgb"], source)
    assert set(data.features(1)) == {"rgb", "flow"}  # audio absent -> unavailable


def test_rg_unknown_action_and_missing_file(tmp_path):
    feat, _ = _write_rg(tmp_path / "RG")
    with pytest.raises(InputError, match="Unknown RG action"):
        import_rg(feat, tmp_path / "RG", "Rope", tmp_path / "out")
    (feat / "Ball_flow_I3D.npy").unlink()
    with pytest.raises(InputError, match="does not exist"):
        import_rg(feat, tmp_path / "RG", "Ball", tmp_path / "out")


def test_fisv_import_with_and_without_header(tmp_path):
    feat = tmp_path / "Fis-feature"
    feat.mkdir()
    keys = ["1", "2", "3"]
    np.save(feat / "FISV_rgb_VST.npy", {k: _feats(5, 1024) for k in keys})
    np.save(feat / "FISV_flow_I3D.npy", {k: _feats(5, 1024) for k in keys})
    np.save(feat / "FISV_audio_AST.npy", {k: _feats(5, 768) for k in keys})
    (tmp_path / "train.txt").write_text("name tes pcs\n1 30.5 28.0\n2 22.1 31.4\n")
    (tmp_path / "test.txt").write_text("3 41.0 35.5\n")  # no header line
    spec = import_fisv(feat, tmp_path, "PCS", tmp_path / "pcs")
    assert spec.score_max == 40.0
    data = FeatureDataset.open(tmp_path / "pcs")
    assert data.scores.tolist() == [28.0, 31.4, 35.5]
    assert [r.split for r in data.records] == ["train", "train", "test"]
    assert import_fisv(feat, tmp_path, "TES", tmp_path / "tes").score_max == 45.0


def test_fs1000_import_averages_vst_tokens_and_divides_pcs(tmp_path):
    root = tmp_path / "FS1000"
    dirs = {
        "rgb": root / "output_feature_fs1000_new",
        "audio": root / "ast_feature_fs1000_new",
        "flow": root / "i3d_avg_clip8_5s_fs1000",
    }
    for d in dirs.values():
        d.mkdir(parents=True)
    names = ["2018_Final_MF_Junhwan", "2021_R_PF_7"]
    video = {}
    for n in names:
        video[n] = RNG.normal(size=(4, 3, 768)).astype(np.float32)  # [T, tokens, 768]
        np.save(dirs["rgb"] / f"{n}.npy", video[n])
        np.save(dirs["audio"] / f"{n}.npy", _feats(4, 768))
        np.save(dirs["flow"] / f"{n}.npy", _feats(4, 1024))
    # name TES PCS SS TR PE CO IN factor; no header
    (root / "train_fs1000_new.txt").write_text(f"{names[0]} 60.1 70.0 8.5 8.0 8.25 8.5 8.75 2.0\n")
    (root / "val_fs1000_new.txt").write_text(f"{names[1]} 40.0 33.6 7.0 6.5 6.75 7.25 7.0 0.8\n")
    spec = import_fs1000(root, "PCS", tmp_path / "pcs")
    assert spec.score_max == 60.0 and spec.input_dims["rgb"] == 768
    data = FeatureDataset.open(tmp_path / "pcs")
    assert data.scores == pytest.approx([35.0, 42.0])
    np.testing.assert_allclose(data.features(0)["rgb"], video[names[0]].mean(axis=1), rtol=1e-6)
    assert import_fs1000(root, "IN", tmp_path / "in").score_max == 10.0
    tr = FeatureDataset.open(tmp_path / "in")
    assert tr.scores.tolist() == [8.75, 7.0]


def test_fs1000_refuses_pickled_files(tmp_path):
    root = tmp_path / "FS1000"
    for sub in ("output_feature_fs1000_new", "ast_feature_fs1000_new", "i3d_avg_clip8_5s_fs1000"):
        (root / sub).mkdir(parents=True)
        np.save(root / sub / "a.npy", {"x": np.zeros(2)})
    (root / "train_fs1000_new.txt").write_text("a 1 2 3 4 5 6 7 1\n")
    (root / "val_fs1000_new.txt").write_text("")
    with pytest.raises(InputError):
        import_fs1000(root, "TES", tmp_path / "out")


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_pickle_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "Ball_rgb_VST.npy"
    payload = np.empty((), dtype=object)
    payload[()] = {"Ball_001": _RunsCode(marker)}
    np.save(path, payload, allow_pickle=True)
    with pytest.raises(InputError, match="refused"):
        load_pickled_dict(path)
    assert not marker.exists()


def test_pickled_dict_must_hold_named_arrays(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, {"a": [1, 2, 3]})  # a list, not an array
    with pytest.raises(InputError, match="not a named feature array"):
        load_pickled_dict(path)
    np.save(tmp_path / "plain.npy", np.zeros((2, 3)))
    with pytest.raises(InputError, match="plain array"):
        load_pickled_dict(tmp_path / "plain.npy")


def test_import_command(tmp_path, capsys):
    from engine.cli import main

    feat, _ = _write_rg(tmp_path / "RG")
    out = tmp_path / "ball"
    args = ["import-features", "rg", "--features", str(feat), "--labels", str(tmp_path / "RG")]
    assert main(args + ["--action", "Hoop", "--out", str(out)]) == 0
    assert "RG Hoop, scores 0..25" in capsys.readouterr().out
    assert len(FeatureDataset.open(out)) == 1
    assert main(args + ["--out", str(out)]) == 2  # no --action
    assert "needs --action" in capsys.readouterr().err
