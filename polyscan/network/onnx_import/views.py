"""Index maps between ONNX tensors and the network tensors they are made of.

An ONNX tensor (a *value*) that a data-movement operator makes (Reshape, Transpose, Slice,
Split, a channel shuffle, a Concat's input) holds no data of its own: each of its elements
is an element of a network tensor. ``Value.view`` is that correspondence as an ISL map from
the value's indices (ONNX's, batch included) to the network tensor's, built by composing the
maps below; a layer reading the value composes its kernel's access with it (``Layer.
with_views``). Tuples are anonymous: maps compose by arity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import islpy as isl


@dataclass(eq=False)
class Value:
    """An ONNX tensor: the elements ``view`` picks of network tensor ``storage``.

    ``pad`` is a zero Pad not yet applied: (top, left, bottom, right) rows and columns that a
    conv or pool reading the value takes as its own padding (DESIGN 6a). ``names`` are the
    ONNX tensors this value is (an element-wise epilogue keeps the value)."""

    storage: str
    view: isl.Map
    shape: tuple[int, ...]
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    names: list[str] = field(default_factory=list)
    padded: Value | None = None  # the pad layer's output, once a reader needed one


def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


def box(names: list[str], shape: tuple[int, ...]) -> list[str]:
    return [f"0 <= {n} < {extent}" for n, extent in zip(names, shape)]


def _map(inputs: list[str], outputs: list[str], constraints: list[str]) -> isl.Map:
    return isl.Map("{ [%s] -> [%s] : %s }" % (", ".join(inputs), ", ".join(outputs),
                                             " and ".join(constraints) or "true"))


def identity(shape: tuple[int, ...]) -> isl.Map:
    a = _names("a", len(shape))
    return _map(a, a, box(a, shape))


def reshape(new: tuple[int, ...], old: tuple[int, ...]) -> isl.Map:
    """New indices -> old indices of the same element in row-major order (Reshape, Flatten,
    Squeeze, Unsqueeze); unit dims are matched away first, so that ISL sees the simple
    identity where a reshape only adds or drops them."""
    b, a = _names("b", len(new)), _names("a", len(old))
    constraints = box(b, new) + box(a, old)
    if [n for n in new if n != 1] == [n for n in old if n != 1]:
        constraints += [f"{x} = {y}" for x, y in zip([v for v, n in zip(b, new) if n != 1],
                                                       [v for v, n in zip(a, old) if n != 1])]
    else:
        constraints.append(f"{row_major(b, new)} = {row_major(a, old)}")
    return _map(b, a, constraints)


def row_major(names: list[str], shape: tuple[int, ...]) -> str:
    terms, stride = [], 1
    for name, extent in reversed(list(zip(names, shape))):
        terms.append(f"{stride}*{name}")
        stride *= extent
    return " + ".join(terms) or "0"


def transpose(new: tuple[int, ...], perm: list[int]) -> isl.Map:
    """New indices -> old indices of a Transpose: new dim ``d`` is old dim ``perm[d]``."""
    b = _names("b", len(new))
    a = [""] * len(new)
    for d, source in enumerate(perm):
        a[source] = b[d]
    return _map(b, a, box(b, new))


def strided(new: tuple[int, ...], axis: int, start: int, step: int = 1) -> isl.Map:
    """New indices -> old indices of a Slice (or one output of a Split) along ``axis``."""
    b = _names("b", len(new))
    a = list(b)
    a[axis] = f"{start} + {step}*{b[axis]}"
    return _map(b, a, box(b, new))


def translation(shape: tuple[int, ...], axis: int, offset: int) -> isl.Map:
    """Indices -> the same indices moved by ``offset`` along ``axis`` (a Concat's input in
    the concatenation)."""
    return strided(shape, axis, offset)


def placed(kernel_shape: tuple[int, ...], value_shape: tuple[int, ...],
           layout: tuple[int | None, ...]) -> isl.Map:
    """Kernel tensor indices -> value indices: value axis ``i`` is kernel dim ``layout[i]``
    (None: a unit axis, index 0). Kernel dims no axis names must be unit dims."""
    k = _names("k", len(kernel_shape))
    outputs = ["0" if d is None else k[d] for d in layout]
    constraints = box(k, kernel_shape)
    constraints += [f"{name} = 0" for d, name in enumerate(k) if d not in layout]
    for axis, d in enumerate(layout):
        expected = 1 if d is None else kernel_shape[d]
        if value_shape[axis] != expected:
            raise ValueError(f"value axis {axis} has {value_shape[axis]}, kernel {expected}")
    if any(kernel_shape[d] != 1 for d in range(len(k)) if d not in layout):
        raise ValueError("a kernel dim the value does not hold must have size 1")
    return _map(k, outputs, constraints)


def is_identity(view: isl.Map, shape: tuple[int, ...]) -> bool:
    """Whether ``view`` maps a box of ``shape`` onto itself, element for element."""
    if view.dim(isl.dim_type.in_) != len(shape) or view.dim(isl.dim_type.out) != len(shape):
        return False
    anonymous = view.reset_tuple_id(isl.dim_type.in_).reset_tuple_id(isl.dim_type.out)
    return anonymous.is_equal(identity(shape))


def size(shape) -> int:
    return math.prod(shape)
