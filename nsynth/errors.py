"""User-facing errors. The CLI prints them as one line and exits non-zero."""


class NSynthError(ValueError):
    """A problem with the user's input (file, option, checkpoint), not a bug."""


class AudioError(NSynthError):
    """An audio file that cannot be used: missing, unreadable, empty, NaN ..."""


class CheckpointError(NSynthError):
    """A weights file that cannot be loaded."""


class OutputExistsError(NSynthError):
    """An output that already exists and would be overwritten without --force."""


class ClipError(AudioError):
    """An ``offset`` / ``seconds`` that selects nothing of a sound; ``param`` names which, so a
    front end can name its own option for it (the CLI's --offset / --seconds)."""

    def __init__(self, name: str, param: str, value: float, reason: str) -> None:
        super().__init__(f"{name}: {param} {value:g} s {reason}")
        self.name, self.param, self.value, self.reason = name, param, value, reason


class OptionError(NSynthError):
    """A bad value of a library option (``temperature``, ``device``, ``pitch`` ...), said in the
    library's words; ``option`` names it, so a front end can name its own flag for it."""

    def __init__(self, option: str, value: object, reason: str) -> None:
        super().__init__(f"{option} {value}: {reason}")
        self.option, self.value, self.reason = option, value, reason
