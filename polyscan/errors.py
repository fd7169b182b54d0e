"""Every exception polyscan raises, in one place: each a ``PolyscanError`` (itself a
``ValueError``), so callers catch one type and the CLI turns any of them into one line and
exit code 2."""


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


class ExpressionError(PolyscanError):
    """The expression is not integer arithmetic over known symbols."""


class FusionError(PolyscanError):
    """The layers do not form a group that can be fused."""


class PresetError(PolyscanError):
    """A DRAM preset is unknown or its file is malformed."""


class SearchTooLargeError(PolyscanError):
    """A nest's footprints couple so many dims that its tables would not fit in memory."""


class BufferTooSmallError(PolyscanError):
    """No schedule's peak fits the buffer; ``smallest`` is the least capacity that works."""

    def __init__(self, name: str, buffer: int, smallest: int):
        super().__init__(f"buffer of {buffer:,} entries is too small for {name}: "
                         f"its smallest schedule needs {smallest:,} entries")
        self.smallest = smallest


class EmitError(PolyscanError):
    """A schedule cannot be written as C (a layer without a compute statement)."""


class CompileError(PolyscanError):
    """The C compiler is missing or rejected the unit."""


class TraceError(PolyscanError):
    """A trace cannot be written as asked (unknown format, unusable file name)."""


class UsageError(PolyscanError):
    """A command-line argument is malformed."""


class AcceleratorError(PolyscanError):
    """An accelerator description is unknown or malformed, or cannot run a layer."""


class CacheError(PolyscanError):
    """The on-disk cache is set up wrongly (an unusable size limit or folder)."""
