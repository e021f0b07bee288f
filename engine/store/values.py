"""What a user may type into the record: checked and normalised before it is stored.

Text is NFC-normalised (a code typed as "U" + combining diaeresis is the same code as "Ü") and
refused with one sentence when it holds control, invisible or direction-changing characters
(U+200B, U+202E and the like: they would hide or reverse text in the record and on the PDF).
Subject codes come from a safe set: letters, digits, ``-``, ``_`` and ``.``. A new code that looks
like an existing one (Cyrillic "Р" for Latin "P", "0" for "O", other case or accents) is allowed
but warned about. Dates are strict ISO ``YYYY-MM-DD`` from 1900-01-01 to tomorrow.
"""

import re
import unicodedata
from datetime import date, timedelta

from engine.errors import InputError

CODE_PUNCTUATION = "-_."
# Letters of other scripts drawn like Latin ones, and digits drawn like letters.
LOOKALIKES = str.maketrans(
    {
        **dict.fromkeys("аАɑα", "a"),
        **dict.fromkeys("вВβΒ", "b"),
        **dict.fromkeys("сСϲ", "c"),
        **dict.fromkeys("еЕεΕ", "e"),
        **dict.fromkeys("нНΗ", "h"),
        **dict.fromkeys("іІιΙ1lӏ|", "l"),
        **dict.fromkeys("јЈ", "j"),
        **dict.fromkeys("кКκΚ", "k"),
        **dict.fromkeys("мМΜ", "m"),
        **dict.fromkeys("ΝпП", "n"),
        **dict.fromkeys("оОοΟ0", "o"),
        **dict.fromkeys("рРρΡ", "p"),
        **dict.fromkeys("ѕЅ5", "s"),
        **dict.fromkeys("тТτΤ", "t"),
        **dict.fromkeys("уУυΥ", "y"),
        **dict.fromkeys("хХχΧ", "x"),
        **dict.fromkeys("ΖZ2", "z"),
        "8": "b",
    }
)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_HIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def text(value: str | None, what: str, required: bool = False, limit: int = 200) -> str | None:
    """A typed value, NFC-normalised and stripped; refused when empty (if required), too long,
    or holding control, invisible or direction-changing characters."""
    if value is None:
        if required:
            raise InputError(f"The {what} is required.")
        return None
    value = unicodedata.normalize("NFC", str(value)).strip()
    if required and not value:
        raise InputError(f"The {what} must not be empty.")
    if len(value) > limit:
        raise InputError(f"The {what} is longer than {limit} characters.")
    hidden = next((c for c in value if unicodedata.category(c) in _HIDDEN), None)
    if hidden is not None:
        kind = "control" if unicodedata.category(hidden) == "Cc" else "invisible or direction"
        raise InputError(
            f"The {what} contains {kind} characters (U+{ord(hidden):04X}); type it again "
            "without them."
        )
    return value


def subject_code(value: str) -> str:
    """A subject code: letters, digits, '-', '_' and '.', at most 64 characters."""
    code = text(value, "subject code", required=True, limit=64)
    bad = sorted({c for c in code if not (c.isalnum() or c in CODE_PUNCTUATION)})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        raise InputError(
            f"The subject code {code!r} may hold only letters, digits, '-', '_' and '.' "
            f"(not {shown})."
        )
    return code


def lookalike_key(code: str) -> str:
    """What a code looks like: case, accents and look-alike letters folded away."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", code) if not unicodedata.combining(c))
    return plain.casefold().translate(LOOKALIKES)


def iso_date(value: str, what: str = "date") -> str:
    """A strict ISO date ``YYYY-MM-DD`` from 1900-01-01 to tomorrow."""
    value = text(value, what, required=True, limit=10)
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError
        day = date.fromisoformat(value)
    except ValueError:
        raise InputError(f"The {what} {value!r} is not a date like 2026-03-31.") from None
    latest = date.today() + timedelta(days=1)
    if not date(1900, 1, 1) <= day <= latest:
        raise InputError(f"The {what} {value} is not between 1900-01-01 and {latest}.")
    return value
