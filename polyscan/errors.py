"""The exceptions polyscan raises for bad input: all are ``ValueError`` subclasses."""


class PolyscanError(ValueError):
    """Base class: the message names the problem in one line."""


class KernelFileError(PolyscanError):
    """A kernel file is malformed: bad TOML, missing keys, bad ISL, or a non-box domain."""


class LayerShapeError(PolyscanError):
    """A layer's sizes are impossible (non-positive, or a kernel larger than the padded input)."""


class ScheduleError(PolyscanError):
    """A schedule does not fit its layer (unknown dim, bad tile size, order or traversal)."""


class OutputError(PolyscanError):
    """An output file cannot be written as asked: a folder, an unwritable place, or the same
    file as an input or another output."""


class CountOverflowError(PolyscanError):
    """A count would not fit exact 64-bit integer arithmetic (sizes near 2^62 or more)."""


class OnnxImportError(PolyscanError):
    """The file is not a usable ONNX model, or holds an operator polyscan cannot model."""
