"""User-facing errors. The CLI prints them as one line and exits non-zero."""


class NSynthError(ValueError):
    """A problem with the user's input (file, option, checkpoint), not a bug."""

    def __reduce__(self):  # pickled whole (it crosses worker processes): its message and its fields
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type, args: tuple, fields: dict) -> NSynthError:
    """An ``NSynthError`` of ``cls`` with ``args`` and ``fields``, without running its ``__init__``
    (whose parameters differ from class to class)."""
    e = cls.__new__(cls)
    e.args = args
    e.__dict__.update(fields)
    return e


class AudioError(NSynthError):
    """An audio file that cannot be used: missing, unreadable, empty, NaN ..."""


class RemedyError(NSynthError):
    """A problem that one of the caller's parameters fixes (``force``, ``resume``, ``path``).

    ``param`` names it and ``value`` says what to give it (``True`` for a switch), so a front end
    can name its own option instead: the library says "set force=True to overwrite", the CLI
    "use --force to overwrite"."""

    def __init__(self, problem: str, param: str, value: str, purpose: str) -> None:
        super().__init__(f"{problem}; set {param}={value} {purpose}")
        self.problem, self.param, self.value, self.purpose = problem, param, value, purpose



class CheckpointError(NSynthError):
    """A weights file that cannot be loaded."""


class NoDefaultModelError(CheckpointError, RemedyError):
    """No weights file was given and this install ships none (``load_model``'s ``path``)."""

    def __init__(self) -> None:
        RemedyError.__init__(
            self, "no default model is installed", "path", "PATH", "to a weights file (made by training or import)"
        )



class OutputExistsError(RemedyError):
    """An output that already exists and would be overwritten without ``force``."""

    def __init__(self, path: str, more: int = 0) -> None:
        others = f" (and {more} more)" if more else ""
        super().__init__(f"{path}: already exists{others}", "force", "True", "to overwrite")
        self.path = path



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
        super().__init__(f"{option}: {reason}" if value is True else f"{option} {value}: {reason}")
        self.option, self.value, self.reason = option, value, reason

