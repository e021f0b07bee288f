"""Local user accounts: roles, scrypt password hashes, lockout, and the process's login.

Passwords are hashed with ``hashlib.scrypt`` (memory-hard, in the standard library: no new
dependency; n=2^14, r=8, p=1, a 16-byte random salt — OWASP's minimum for scrypt). Five failed
logins in a row lock an account for 15 minutes. A database without accounts is a single-user
record (writes carry the computer's login name); the first account, which needs no login and must
be an admin, turns logins on for every later write.

The CLI and the GUI name who is at work once per process (``use_login``); every ``Store`` opened
afterwards logs in with it (a wrong password stops it at once).
"""

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from engine.errors import InputError

ROLES = ("examiner", "rater", "admin")
# What each role may do beyond reading; an admin may do everything.
RATING_ROLES = ("rater", "admin")
MAX_FAILURES = 5
LOCK_MINUTES = 15
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 4

_login: dict[str, object] = {}


class LoginError(InputError):
    """A wrong user name or password, or a locked account."""


def use_login(name: str, password: Callable[[], str]) -> None:
    """Who works in this process; ``password()`` is asked only when a store needs it."""
    asked: list[str] = []

    def once() -> str:
        if not asked:
            asked.append(password())
        return asked[0]

    _login.clear()
    _login.update(name=name, password=once)


def forget_login() -> None:
    _login.clear()


def process_login() -> tuple[str, Callable[[], str]] | None:
    """The process's login, else ``AQA_USER`` with ``AQA_PASSWORD`` from the environment (how
    scripts, tests and the desktop app's worker process pass it on)."""
    if _login:
        return _login["name"], _login["password"]  # type: ignore[return-value]
    name, password = os.environ.get("AQA_USER"), os.environ.get("AQA_PASSWORD")
    if name and password is not None:
        return name, lambda: password
    return None


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InputError(f"A password needs at least {MIN_PASSWORD} characters.")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT, dklen=32)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        mine = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(mine.hex(), digest)


def locked_until(attempts: list[dict]) -> datetime | None:
    """When the account opens again, given its login attempts (newest first); None if open."""
    failures = []
    for attempt in attempts:
        if attempt["ok"]:
            break
        failures.append(attempt)
    if len(failures) < MAX_FAILURES:
        return None
    until = datetime.fromisoformat(failures[0]["at"]) + timedelta(minutes=LOCK_MINUTES)
    return until if until > datetime.now(UTC) else None


def check_role(user: dict, allowed: tuple[str, ...], what: str) -> None:
    if user["role"] != "admin" and user["role"] not in allowed:
        raise InputError(
            f"{user['name']} is a{'n' if user['role'][0] in 'aeiou' else ''} {user['role']}; "
            f"only a {' or '.join(allowed)} may {what}."
        )
