"""Who a stored recording's subject is: the choice in force, made from the CLI or the window.

The choice is kept in the record (``Store.choose_subject``: who, when, how, audited); every
extraction of the recording follows it (``followed``), and proposals that followed someone else
become stale (``engine.store.choices``). Ids are those of the reference sampling of the people
layer (``engine.people.ids``), the ones ``aqa tracks`` and the window's People overlay show.
"""

from collections.abc import Iterable
from typing import Any

from engine.jobs import CancelToken, Progress
from engine.recordings import checked_path
from engine.store import Store

Handovers = tuple[tuple[float, int], ...]


def followed(store: Store, recording_id: int) -> tuple[str | None, Handovers]:
    """(person, hand-overs) to give ``ExtractionConfig.following``: None for automatic."""
    choice = store.subject_choice(recording_id)
    if choice is None:
        return None, ()
    person = None if choice["person"] is None else str(choice["person"])
    return person, tuple(choice["handovers"])


def pose_folder(config) -> str | None:
    """The BlazePose folder an ``ExtractionConfig``'s skeleton options name (the Settings'),
    or None for the usual places."""
    if config is None:
        return None
    options = config.backend_options("skeleton")
    return options.get("model_dir") or options.get("pose_model_dir")


def _people(store: Store, recording_id: int, config, progress, cancel):
    from engine.people.api import find_people, open_pose

    video = checked_path(store, recording_id)
    pose = open_pose(pose_folder(config))
    return find_people(video, pose, progress=progress, cancel=cancel)


def choose(
    store: Store,
    recording_id: int,
    person: str | None,
    handovers: Iterable[tuple[float, int]] = (),
    reason: str | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    config=None,
) -> dict[str, Any] | None:
    """Make ``person`` ("auto", an id or a point "X,Y[@SECONDS]") with ``handovers`` the
    recording's subject: resolved on the recording's people (found once, cached), checked
    (InputError: one sentence for an unknown id or a point on nobody), then stored unless it is
    the choice already in force. Returns the choice in force (None: never set). ``config``: the user's
    ``ExtractionConfig``, for the BlazePose files it names."""
    from engine.people.subject import choose_subject, hand_over

    people = _people(store, recording_id, config, progress, cancel)
    subject = choose_subject(people, person)
    for time_s, other in sorted(handovers):
        subject = hand_over(subject, people, time_s, other)
    return keep_choice(store, recording_id, person, subject.id, subject.handovers, reason)


def keep_choice(
    store: Store,
    recording_id: int,
    asked: str | None,
    resolved: int | None,
    handovers: Iterable[tuple[float, int]] = (),
    reason: str | None = None,
) -> dict[str, Any] | None:
    """Store the subject the user ``asked`` for ("auto", an id or a point, as typed; None:
    automatic), ``resolved`` to a person id on the recording's people, with ``handovers``, as
    the recording's subject unless that is the choice in force already; the choice in force
    (None: never set)."""
    automatic = asked is None or asked.strip().lower() in ("", "auto")
    person = None if automatic else resolved
    how = "automatic" if automatic else asked.strip()
    handovers = list(handovers)
    current = store.subject_choice(recording_id)
    if (person, handovers) == (
        (current["person"], current["handovers"]) if current else (None, [])
    ):
        return current
    return store.choose_subject(recording_id, person, handovers, how, reason)


def hand_over_at(
    store: Store,
    recording_id: int,
    time_s: float,
    person: int,
    reason: str | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    config=None,
) -> dict[str, Any]:
    """From ``time_s`` on the subject is ``person``: the choice in force (the automatic one
    made explicit) with this hand-over; later hand-overs are dropped."""
    from engine.people.subject import choose_subject

    current, handovers = followed(store, recording_id)
    if current is None:
        subject = choose_subject(_people(store, recording_id, config, progress, cancel), None)
        current = None if subject.id is None else str(subject.id)
    kept = [(t, p) for t, p in handovers if t < time_s]
    wanted = [*kept, (time_s, person)]
    return choose(store, recording_id, current, wanted, reason, progress, cancel, config)


def for_recording(
    store: Store,
    recording_id: int,
    person: str | None = None,
    handovers: Iterable[tuple[float, int]] = (),
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> tuple[str | None, Handovers]:
    """What an extraction of the recording follows: the user's ``person``/``handovers`` when
    given (stored first as the recording's choice), else the choice in force."""
    handovers = tuple(handovers)
    if (person is not None and person.strip().lower() != "auto") or handovers:
        choose(store, recording_id, person, handovers, progress=progress, cancel=cancel)
    return followed(store, recording_id)


def graded_extraction(store: Store, recording_id: int):
    """The ``ExtractionConfig`` the recording's latest proposal was graded on; None without one
    (or one stored before proposals recorded it)."""
    from engine.extract.config import ExtractionConfig

    latest = store.latest_assessment(recording_id)
    if latest is None or "extraction" not in latest["details"]:
        return None
    return ExtractionConfig.from_dict(latest["details"]["extraction"])


def recorded_extraction(store: Store, recording_id: int):
    """The ``ExtractionConfig`` of the recording's latest proposal (its features are then found
    cached), else the default one for the modalities extracted before (the skeleton when none
    was)."""
    from engine.extract.config import ExtractionConfig

    graded = graded_extraction(store, recording_id)
    if graded is not None:
        return graded
    done = dict.fromkeys(row["modality"] for row in store.extractions(recording_id))
    return ExtractionConfig.parse(list(done) or ["skeleton"])


def extract_again(
    store: Store,
    recording_id: int,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
):
    """Extract again, following the choice in force, what of the recording depends on the
    subject (``engine.store.choices.SUBJECT_MODALITIES``): with the latest proposal's extraction
    (so that grading again finds it cached), else with the default one for the modalities that
    were extracted; the extraction is recorded. The ``ExtractionResult``, or None when nothing
    that depends on the subject was extracted before."""
    from engine.extract.attach import attach
    from engine.extract.pipeline import extract
    from engine.store.choices import SUBJECT_MODALITIES

    recording = store.recording(recording_id)
    config = recorded_extraction(store, recording_id)
    wanted = [m for m in config.names if m in SUBJECT_MODALITIES]
    if not wanted:
        return None
    session = store.session(recording["session_id"])
    config = (
        config.only(wanted)
        .for_recording(session["protocol"], recording["item"], session["notes"] or "")
        .following(*followed(store, recording_id))
    )
    result = extract(checked_path(store, recording_id), config, progress=progress, cancel=cancel)
    attach(store, result, recording["session_id"], recording["item"], recording["view"])
    return result
