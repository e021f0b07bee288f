"""Errors a user can cause, each carrying one sentence a clinician understands.

The CLI prints the message and exits with ``exit_code``; the GUI shows it in a dialog.
"""


class AqaError(Exception):
    """Base class: ``str(error)`` is the sentence shown to the user."""

    exit_code = 1


class InputError(AqaError):
    """A file or value given by the user cannot be used (missing, unreadable, wrong kind)."""

    exit_code = 2


class MediaError(InputError):
    """A media file cannot be opened or decoded."""


class ProtocolError(InputError):
    """A protocol definition or an item/grade does not fit the protocol."""


class NotFoundError(InputError):
    """A subject, session, recording or model named by the user does not exist."""


class StoreError(AqaError):
    """The database cannot be opened, written or migrated."""

    exit_code = 3


class MissingWeightsError(AqaError):
    """A backend or model needs a weight file that is not on this machine."""

    exit_code = 4


class MissingDependencyError(MissingWeightsError):
    """An optional backend needs Python packages that are not installed in this environment."""


class Cancelled(AqaError):
    """Long work stopped because the user cancelled it."""

    exit_code = 130
