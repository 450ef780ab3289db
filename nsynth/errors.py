"""User-facing errors. The CLI prints them as one line and exits non-zero."""


class NSynthError(ValueError):
    """A problem with the user's input (file, option, checkpoint), not a bug."""


class AudioError(NSynthError):
    """An audio file that cannot be used: missing, unreadable, empty, NaN ..."""


class CheckpointError(NSynthError):
    """A weights file that cannot be loaded."""


class OutputExistsError(NSynthError):
    """An output that already exists and would be overwritten without --force."""
