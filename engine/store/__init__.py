"""SQLite storage (sqlite-utils): subjects, sessions, recordings, proposals, ratings, audit log."""

from engine.store.store import Store

__all__ = ["Store"]
