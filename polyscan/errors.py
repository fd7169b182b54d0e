"""The exceptions polyscan raises for bad input: all are ``ValueError`` subclasses."""


class PolyscanError(ValueError):
    """Base class: the message names the problem in one line."""


class KernelFileError(PolyscanError):
    """A kernel file is malformed: bad TOML, missing keys, bad ISL, or a non-box domain."""


class LayerShapeError(PolyscanError):
    """A layer's sizes are impossible (non-positive, or a kernel larger than the padded input)."""


class ScheduleError(PolyscanError):
    """A schedule does not fit its layer (unknown dim, bad tile size, order or traversal)."""
