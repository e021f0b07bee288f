"""SQLite storage (sqlite-utils): subjects, sessions, recordings, proposals, ratings, audit log.

``Store`` is imported on first use, so that commands that never open the database (``aqa
extract`` of a file) do not load sqlite-utils.
"""

__all__ = ["Store"]


def __getattr__(name: str):
    if name == "Store":
        from engine.store.store import Store

        return Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
