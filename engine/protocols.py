"""The protocol catalog: CMAS, MM-JDM and the sports scores, loaded from ``resources/protocols``.

A protocol is data: a TOML file validated on load. Graded protocols have integer grade ranges per
item (and, where the scale defines one, a timed or counted criterion); continuous protocols have a
score range per item.
"""

import bisect
import tomllib
from dataclasses import dataclass, field
from functools import cache
from math import isfinite
from pathlib import Path

from engine.errors import NotFoundError, ProtocolError
from engine.paths import resources_dir

KINDS = ("graded", "continuous")
TOTALS = ("sum", "none")
KINEMATIC_METHODS = ("hold", "repetitions", "time_to_complete")
MAX_FILE_BYTES = 256 * 1024  # a protocol file is a few kilobytes
MAX_VALUE = 1e6  # any grade, score, threshold or parameter
MAX_GRADES = 101  # grades of one graded item


@dataclass(frozen=True)
class Criterion:
    """An objective criterion measured from the skeleton (seconds held, repetitions)."""

    measure: str
    thresholds: tuple[float, ...] = ()  # timed: value at which grade 1, 2, ... begins
    per_grade: int = 0  # counted: repetitions per grade point

    def grade_for(self, value: float, max_grade: int) -> int:
        """The grade a measured value implies."""
        if self.thresholds:
            return bisect.bisect_right(self.thresholds, value)
        return min(max_grade, int(value // self.per_grade))


@dataclass(frozen=True)
class Kinematics:
    """How an item is measured from the skeleton: a ``method`` (hold, repetitions,
    time_to_complete) applied to a named ``signal`` with numeric ``params`` (thresholds in the
    signal's units; ``X_on``/``X_off`` pairs are hysteresis bands). ``engine.kinematics`` knows
    the signals and which params each needs."""

    method: str
    signal: str
    params: tuple[tuple[str, float], ...] = ()

    def param(self, name: str) -> float:
        return dict(self.params)[name]


@dataclass(frozen=True)
class Item:
    id: str
    name: str
    low: float
    high: float
    integer: bool
    criteria: tuple[str, ...] = ()
    criterion: Criterion | None = None
    position: str = ""
    cmas_item: str = ""
    kinematics: Kinematics | None = None

    @property
    def grades(self) -> list[int]:
        """The integer grades of a graded item (empty for a continuous score)."""
        return list(range(int(self.low), int(self.high) + 1)) if self.integer else []

    def check_value(self, value: float) -> float:
        """``value`` if it is a valid grade/score of this item, else a ProtocolError."""
        if not isinstance(value, int | float) or isinstance(value, bool) or not isfinite(value):
            raise ProtocolError(
                f"{value!r} is not a grade for {self.name}: use a number from "
                f"{_fmt(self.low)} to {_fmt(self.high)}."
            )
        if self.integer:
            if value != int(value) or not self.low <= value <= self.high:
                raise ProtocolError(
                    f"Grade {_fmt(value)} is not valid for {self.name}: "
                    f"use a whole number from {_fmt(self.low)} to {_fmt(self.high)}."
                )
            return float(int(value))
        if not self.low <= value <= self.high:
            raise ProtocolError(
                f"Score {_fmt(value)} is outside the range of {self.name} "
                f"({_fmt(self.low)} to {_fmt(self.high)})."
            )
        return float(value)

    def range_text(self) -> str:
        return f"{_fmt(self.low)}-{_fmt(self.high)}"


@dataclass(frozen=True)
class Protocol:
    id: str
    name: str
    kind: str
    source: str
    total: str
    items: tuple[Item, ...] = field(default_factory=tuple)

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        known = ", ".join(i.id for i in self.items)
        raise ProtocolError(f"Protocol {self.id} has no item {item_id!r}; its items are: {known}.")

    @property
    def max_total(self) -> float | None:
        """The maximum total score, or None where the protocol has no total."""
        return sum(i.high for i in self.items) if self.total == "sum" else None


def _fmt(value: float) -> str:
    return f"{value:g}"


def _require(data: dict, key: str, kind: type | tuple, where: str):
    if key not in data:
        raise ProtocolError(f"{where}: the field {key!r} is missing.")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ProtocolError(f"{where}: the field {key!r} has the wrong type ({value!r}).")
    return value


def _range(data: dict, key: str, where: str) -> tuple[float, float]:
    pair = _require(data, key, list, where)
    if (
        len(pair) != 2
        or not all(isinstance(v, int | float) and isfinite(v) for v in pair)
        or not -MAX_VALUE <= pair[0] < pair[1] <= MAX_VALUE
    ):
        raise ProtocolError(
            f"{where}: {key!r} must be [low, high] with low < high, finite and within "
            f"±{MAX_VALUE:g}, not {pair}."
        )
    return float(pair[0]), float(pair[1])


def _criterion(data: dict, where: str, high: float) -> Criterion | None:
    timed, count = data.get("timed"), data.get("count")
    if timed and count:
        raise ProtocolError(
            f"{where}: an item has either a timed or a counted criterion, not both."
        )
    if timed:
        thresholds = tuple(float(t) for t in _require(timed, "thresholds", list, where))
        if (
            len(thresholds) != int(high)
            or list(thresholds) != sorted(set(thresholds))
            or not all(isfinite(t) and abs(t) <= MAX_VALUE for t in thresholds)
        ):
            raise ProtocolError(
                f"{where}: timed thresholds must be {int(high)} increasing values, one per grade."
            )
        return Criterion(_require(timed, "measure", str, where), thresholds=thresholds)
    if count:
        per_grade = _require(count, "per_grade", int, where)
        if per_grade < 1:
            raise ProtocolError(f"{where}: per_grade must be at least 1.")
        return Criterion(_require(count, "measure", str, where), per_grade=per_grade)
    return None


def _kinematics(data: dict, where: str, criterion: Criterion | None) -> Kinematics | None:
    table = data.get("kinematics")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ProtocolError(f"{where}: 'kinematics' must be a table.")
    where = f"{where}, kinematics"
    method = _require(table, "method", str, where)
    if method not in KINEMATIC_METHODS:
        raise ProtocolError(
            f"{where}: method must be one of {', '.join(KINEMATIC_METHODS)}, not {method!r}."
        )
    if criterion is not None:
        needed = "hold" if criterion.thresholds else "repetitions"
        if method != needed:
            raise ProtocolError(f"{where}: the item's criterion is measured by {needed!r}.")
    signal = _require(table, "signal", str, where)
    params = {k: v for k, v in table.items() if k not in ("method", "signal")}
    for key, value in params.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or not isfinite(value):
            raise ProtocolError(f"{where}: {key!r} must be a number (finite), not {value!r}.")
    for key in params:
        if key == "on" or key.endswith("_on"):
            off = key[:-2] + "off"
            if off not in params or not params[off] < params[key]:
                raise ProtocolError(f"{where}: {key!r} needs an {off!r} below it.")
    return Kinematics(method, signal, tuple((k, float(v)) for k, v in sorted(params.items())))


def _item(data: dict, kind: str, where: str) -> Item:
    if not isinstance(data, dict):
        raise ProtocolError(f"{where}: each item must be a table, not {data!r:.40}.")
    item_id = _require(data, "id", str, where)
    where = f"{where}, item {item_id}"
    name = _require(data, "name", str, where)
    if kind == "graded":
        low, high = _range(data, "grades", where)
        if low != int(low) or high != int(high) or high - low + 1 > MAX_GRADES:
            raise ProtocolError(f"{where}: grades must be at most {MAX_GRADES} whole numbers.")
        criteria = tuple(data.get("criteria", ()))
        if not all(isinstance(c, str) for c in criteria):
            raise ProtocolError(f"{where}: 'criteria' must be a list of texts.")
        if criteria and len(criteria) != int(high - low) + 1:
            raise ProtocolError(
                f"{where}: {len(criteria)} criteria given for {int(high - low) + 1} grades."
            )
        criterion = _criterion(data, where, high)
    else:
        low, high = _range(data, "range", where)
        criteria, criterion = (), None
    kinematics = _kinematics(data, where, criterion)
    return Item(
        id=item_id,
        name=name,
        low=low,
        high=high,
        integer=kind == "graded",
        criteria=criteria,
        criterion=criterion,
        position=data.get("position", ""),
        cmas_item=data.get("cmas_item", ""),
        kinematics=kinematics,
    )


def load_protocol(path: Path) -> Protocol:
    """Read and validate one protocol file; a bad file raises ProtocolError naming the problem
    (whatever is wrong with it: too big, nested too deep, of the wrong types)."""
    where = Path(path).name
    try:
        if Path(path).stat().st_size > MAX_FILE_BYTES:
            raise ProtocolError(f"{where}: a protocol file is at most {MAX_FILE_BYTES} bytes.")
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        return _protocol(data, where)
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{where}: the protocol file cannot be read ({exc}).") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{where}: the protocol file is not valid TOML ({exc}).") from exc
    except RecursionError:
        raise ProtocolError(f"{where}: the protocol file is nested too deeply.") from None
    except (TypeError, ValueError, OverflowError, AttributeError, KeyError) as exc:
        raise ProtocolError(f"{where}: the protocol file is malformed ({exc}).") from None


def _protocol(data: dict, where: str) -> Protocol:
    kind = _require(data, "kind", str, where)
    if kind not in KINDS:
        raise ProtocolError(f"{where}: kind must be one of {', '.join(KINDS)}, not {kind!r}.")
    total = data.get("total", "sum")
    if total not in TOTALS:
        raise ProtocolError(f"{where}: total must be one of {', '.join(TOTALS)}, not {total!r}.")
    raw_items = _require(data, "items", list, where)
    if not raw_items:
        raise ProtocolError(f"{where}: the protocol has no items.")
    items = tuple(_item(d, kind, where) for d in raw_items)
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise ProtocolError(f"{where}: item ids must be unique.")
    return Protocol(
        id=_require(data, "id", str, where),
        name=_require(data, "name", str, where),
        kind=kind,
        source=data.get("source", ""),
        total=total,
        items=items,
    )


@cache
def catalog() -> dict[str, Protocol]:
    """Every protocol shipped in ``resources/protocols``, by id."""
    protocols = [load_protocol(p) for p in sorted((resources_dir() / "protocols").glob("*.toml"))]
    return {p.id: p for p in protocols}


def get_protocol(protocol_id: str) -> Protocol:
    try:
        return catalog()[protocol_id]
    except KeyError:
        known = ", ".join(sorted(catalog()))
        raise NotFoundError(f"There is no protocol {protocol_id!r}; known: {known}.") from None
