"""``ps.load_onnx``: an ONNX model as a polyscan network (DESIGN section 6a).

Only shapes are needed: weights whose external data files are absent are fine, and missing
``value_info`` is filled by ONNX shape inference. Symbolic input dims are never guessed:
``input_shapes={"x": (1, 3, 224, 224)}`` sets them (else a clear error names the input and
the dim). Batch is 1. How each operator is mapped: ``operators.py`` and docs/networks.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ...errors import OnnxImportError
from ..graph import Network

__all__ = ["OnnxImportError", "load_onnx"]


def load_onnx(path: str | Path, input_shapes: Mapping[str, tuple[int, ...]] | None = None,
              unknown: str = "error") -> Network:
    """The network of an ONNX model. ``input_shapes`` gives the shape of named inputs (for
    symbolic dims); ``unknown="boundary"`` cuts the network at operators polyscan cannot
    model (their outputs become network inputs, their inputs network outputs)."""
    import onnx  # here, not at import time: it takes seconds to load
    from onnx import shape_inference

    from .importer import Importer

    if unknown not in ("error", "boundary"):
        raise OnnxImportError(f"unknown must be 'error' or 'boundary', got {unknown!r}")
    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise OnnxImportError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise OnnxImportError(f"{path} is a folder, not an ONNX model") from None
    except Exception as error:  # onnx raises DecodeError, ValueError, ... on a bad file
        raise OnnxImportError(f"{path} is not an ONNX model ({type(error).__name__})") \
            from None
    if not model.graph.node:
        raise OnnxImportError(f"{path} is not an ONNX model with a graph (no nodes)")
    _set_input_shapes(model, dict(input_shapes or {}))
    try:
        model = shape_inference.infer_shapes(model)
    except Exception as error:
        raise OnnxImportError(f"{path}: ONNX shape inference failed: "
                              f"{str(error).splitlines()[0] if str(error) else error}") \
            from None
    return Importer(model, path.stem, unknown).network()


def _set_input_shapes(model, shapes: dict[str, tuple[int, ...]]):
    """Write the given input shapes into the model; refuse symbolic dims left unset."""
    initializers = {t.name for t in model.graph.initializer}
    inputs = {i.name: i for i in model.graph.input if i.name not in initializers}
    for name, shape in shapes.items():
        if name not in inputs:
            raise OnnxImportError(f"--input-shape names {name!r}, which is not an input of the "
                                  f"model (inputs: {', '.join(inputs) or 'none'})")
        if not isinstance(shape, (tuple, list)) or not all(
                isinstance(n, int) and not isinstance(n, bool) and 0 < n < 2 ** 31
                for n in shape):
            raise OnnxImportError(f"the shape of input {name!r} must be positive integers "
                                  f"below 2^31, got {shape!r}")
        dims = inputs[name].type.tensor_type.shape.dim
        if len(dims) != len(shape):
            raise OnnxImportError(f"input {name!r} has rank {len(dims)}, the shape given has "
                                  f"{len(shape)} dims ({'x'.join(map(str, shape))})")
        for dim, value in zip(dims, shape):
            if dim.HasField("dim_value") and dim.dim_value > 0 and dim.dim_value != value:
                raise OnnxImportError(f"input {name!r} has the fixed shape {_shown(dims)}; "
                                      f"{'x'.join(map(str, shape))} does not match it")
            dim.Clear()
            dim.dim_value = value
    if shapes:  # shapes inferred from the old symbolic ones would win over the new ones
        del model.graph.value_info[:]
    for name, info in inputs.items():
        dims = info.type.tensor_type.shape.dim
        for axis, dim in enumerate(dims):
            if not (dim.HasField("dim_value") and dim.dim_value > 0):
                symbol = dim.dim_param or "?"
                raise OnnxImportError(
                    f"input {name!r} has a symbolic dim {symbol!r} (axis {axis} of "
                    f"{_shown(dims)}); give its shape, e.g. --input-shape "
                    f"{name}={'x'.join(_example(dims))}")


def _shown(dims) -> str:
    return "[" + ", ".join(str(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0
                           else (d.dim_param or "?") for d in dims) + "]"


def _example(dims) -> list[str]:
    """A plausible full shape for a message: batch 1, fixed dims kept, 224 elsewhere."""
    known = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]
    return [str(n) if n else ("1" if axis == 0 else "224") for axis, n in enumerate(known)]
