"""One extraction configuration: which modalities, each with its backend and options, at which
profile, on which device, following which person.

It is the only way anyone asks for an extraction: the CLI builds one from its flags, the GUI from
its Settings dialog, grading from the model card (``card["extras"]["extraction"]``: the
configuration the model was trained on) and training records the one it used. Two kinds of
option are not part of what a model was trained on and are left out of comparisons:

- *recording* options (the text note's protocol, item, subject and examination) change with
  every recording (``for_recording``);
- *location* options (where model files lie on this machine) come from the user's settings; the
  cache keys cover the files' contents, so a moved file is still the same model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from engine.device import check_request
from engine.errors import InputError
from engine.extract import registry

RECORDING_OPTIONS = ("protocol", "item", "subject", "examination", "description")
LOCATION_OPTIONS = ("model_dir", "pose_model_dir", "model")
DEFAULT_MODALITIES = ("skeleton", "flow", "audio")


@dataclass(frozen=True)
class Profile:
    """How much work per second of video: the frame rate and sizes fed to the frame backends."""

    name: str
    fps: float | None
    short_side: int
    flow_side: int
    flow_preset: str

    def options(self, modality: str) -> dict[str, Any]:
        if modality == "skeleton":
            return {"short_side": self.short_side}
        if modality == "flow":
            return {"short_side": self.flow_side, "preset": self.flow_preset}
        return {}


PROFILES = {
    "fast": Profile("fast", fps=10.0, short_side=360, flow_side=160, flow_preset="ultrafast"),
    "full": Profile("full", fps=None, short_side=480, flow_side=256, flow_preset="ultrafast"),
}


@dataclass(frozen=True)
class ModalityConfig:
    """One modality's backend (a registry name, never None) and its options."""

    modality: str
    backend: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, modality: str, backend: str | None = None, **options: Any) -> ModalityConfig:
        """The named backend (or the modality's default); unknown names raise InputError."""
        spec = registry.get(modality, backend)
        return cls(modality, spec.name, {k: v for k, v in options.items() if v is not None})

    def trained_options(self) -> dict[str, Any]:
        """The options that shape the features (neither recording nor location ones)."""
        skip = RECORDING_OPTIONS + LOCATION_OPTIONS
        return {k: v for k, v in self.options.items() if k not in skip}


@dataclass(frozen=True)
class ExtractionConfig:
    """``subject``: the person the skeleton follows (``engine.people``): None (automatic), an
    id ("2") or a point "X,Y[@SECONDS]" in upright video pixels; ``handovers`` [(seconds, id)]:
    from then on the subject is that person (a fixed identity swap)."""

    modalities: tuple[ModalityConfig, ...] = tuple(ModalityConfig.of(m) for m in DEFAULT_MODALITIES)
    profile: str = "full"
    device: str = "auto"
    subject: str | None = None
    handovers: tuple[tuple[float, int], ...] = ()

    def __post_init__(self) -> None:
        from engine.people.subject import check_person_text

        subject = None if self.subject is None else str(self.subject).strip()
        check_person_text(subject)
        object.__setattr__(self, "subject", None if subject in (None, "", "auto") else subject)
        handovers = tuple(sorted((float(t), int(p)) for t, p in self.handovers))
        object.__setattr__(self, "handovers", handovers)
        if self.profile not in PROFILES:
            known = ", ".join(PROFILES)
            raise InputError(f"There is no extraction profile {self.profile!r}; use {known}.")
        check_request(self.device)
        names = self.names
        if len(set(names)) != len(names):
            raise InputError(f"A modality is named twice in {', '.join(names)}.")

    @classmethod
    def parse(
        cls,
        text: str | Iterable[str],
        profile: str = "full",
        device: str = "auto",
        options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> ExtractionConfig:
        """``"skeleton,flow:farneback"`` (or a list of such items) with per-modality options."""
        items = text.split(",") if isinstance(text, str) else list(text)
        chosen = []
        for item in (i.strip() for i in items):
            if item:
                modality, _, backend = item.partition(":")
                extra = dict((options or {}).get(modality, {}))
                chosen.append(ModalityConfig.of(modality, backend or None, **extra))
        return cls(tuple(chosen), profile, device)

    @property
    def names(self) -> list[str]:
        return [m.modality for m in self.modalities]

    @property
    def profile_spec(self) -> Profile:
        return PROFILES[self.profile]

    def get(self, modality: str) -> ModalityConfig | None:
        return next((m for m in self.modalities if m.modality == modality), None)

    def backend_options(self, modality: str) -> dict[str, Any]:
        """The profile's options for the modality, overridden by its own."""
        own = self.get(modality)
        return {**self.profile_spec.options(modality), **(dict(own.options) if own else {})}

    def only(self, modalities: Iterable[str]) -> ExtractionConfig:
        """The configured modalities among ``modalities`` (in this configuration's order)."""
        keep = set(modalities)
        return replace(self, modalities=tuple(m for m in self.modalities if m.modality in keep))

    def with_options(self, modality: str, **options: Any) -> ExtractionConfig:
        """The same with ``options`` added to ``modality`` (when it is configured)."""
        return replace(
            self,
            modalities=tuple(
                replace(m, options={**m.options, **options}) if m.modality == modality else m
                for m in self.modalities
            ),
        )

    def for_recording(
        self, protocol: str, item: str, examination: str = "", subject: str = ""
    ) -> ExtractionConfig:
        """The text note's fields of one recording (nothing changes without a text modality)."""
        note = {"protocol": protocol, "item": item, "examination": examination}
        return self.with_options("text", **note, **({"subject": subject} if subject else {}))

    def following(
        self, person: str | None, handovers: Iterable[tuple[float, int]] = ()
    ) -> ExtractionConfig:
        """The same following ``person`` (None: automatic) with ``handovers``."""
        return replace(self, subject=person, handovers=tuple(handovers))

    def subject_key(self) -> dict[str, Any]:
        """The subject choice as it enters the skeleton's cache key."""
        return {"person": self.subject or "auto", "handovers": [list(h) for h in self.handovers]}

    def for_model(self, trained: ExtractionConfig) -> ExtractionConfig:
        """What grading with a model trained on ``trained`` extracts: its modalities, backends,
        options and profile, with this configuration's device, subject and file locations."""
        chosen = []
        for m in trained.modalities:
            mine = self.get(m.modality)
            places = {
                k: v
                for k, v in (mine.options if mine and mine.backend == m.backend else {}).items()
                if k in LOCATION_OPTIONS + RECORDING_OPTIONS
            }
            chosen.append(replace(m, options={**m.trained_options(), **places}))
        chosen_config = replace(trained, modalities=tuple(chosen), device=self.device)
        return chosen_config.following(self.subject, self.handovers)

    def differences(self, other: ExtractionConfig) -> list[str]:
        """Which settings of ``other`` differ from this one, for the modalities both configure
        (device, subject, recording and location options aside): e.g. ``["profile", "skeleton
        backend"]``. The subject is the recording's, never the model's."""
        found = ["profile"] if self.profile != other.profile else []
        for mine in self.modalities:
            theirs = other.get(mine.modality)
            if theirs is None:
                continue
            if theirs.backend != mine.backend:
                found.append(f"{mine.modality} backend")
            elif theirs.trained_options() != mine.trained_options():
                found.append(f"{mine.modality} options")
        return found

    def summary(self) -> str:
        """``skeleton blazepose, flow dis, audio logmel; profile fast``."""
        names = ", ".join(f"{m.modality} {m.backend}" for m in self.modalities)
        return f"{names}; profile {self.profile}"

    def to_dict(self, trained: bool = False) -> dict[str, Any]:
        """JSON-able; ``trained``: only what shapes the features (for a model card)."""
        data = {
            "modalities": {
                m.modality: {
                    "backend": m.backend,
                    "options": m.trained_options() if trained else dict(m.options),
                }
                for m in self.modalities
            },
            "profile": self.profile,
            "device": self.device,
            "subject": self.subject,
        }
        if self.handovers:
            data["handovers"] = [list(h) for h in self.handovers]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExtractionConfig:
        try:
            chosen = tuple(
                ModalityConfig.of(name, entry.get("backend"), **entry.get("options", {}))
                for name, entry in data["modalities"].items()
            )
            return cls(
                chosen,
                str(data.get("profile", "full")),
                str(data.get("device", "auto")),
                data.get("subject"),
                tuple(tuple(h) for h in data.get("handovers", ())),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise InputError(f"The extraction configuration is not readable ({exc}).") from exc
