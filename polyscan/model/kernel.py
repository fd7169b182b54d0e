"""Kernels as data: a TOML file gives a loop nest's domain and accesses in ISL notation.

A kernel file has shape symbols (CAPITAL names with an optional default and a minimum),
derived symbols (integer expressions with a minimum and the error to give below it), the
iteration domain and, per tensor, its role, its element space and its access relation. A layer
is the kernel with every symbol given a value: the symbols are written into the ISL text as
integers (strides and kernel sizes multiply loop variables, so they must be constants), and the
text is parsed by ISL. See ``docs/kernels.md`` for the format.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import islpy as isl
import numpy as np

from ..caches import clears
from ..errors import ExpressionError, KernelFileError, LayerShapeError
from .expressions import evaluate
from .layer import ROLES, Compute, Layer, Tensor
from .resources import packaged_names, packaged_path, read_toml

_SYMBOL = re.compile(r"^[A-Z][A-Z0-9_]*$")
# A capitalised word NOT followed by "[" is a symbol; followed by "[" it is a tuple name.
_SYMBOL_USE = re.compile(r"\b([A-Z][A-Za-z0-9_]*)\b(?!\s*\[)")


@dataclass(frozen=True)
class Symbol:
    name: str
    minimum: int
    default: int | None
    doc: str


@dataclass(frozen=True)
class DerivedSymbol:
    name: str
    expression: str
    minimum: int | None
    doc: str
    error: str


@dataclass(frozen=True)
class TensorSpec:
    name: str
    role: str
    space: str
    access: str


@dataclass(frozen=True)
class Kernel:
    """A parsed kernel file; ``layer(**symbols)`` makes a layer of it."""

    kind: str
    doc: str
    path: str
    symbols: dict[str, Symbol]
    derived: dict[str, DerivedSymbol]
    domain: str
    tensors: dict[str, TensorSpec]
    compute: Compute | None = None
    whole: tuple[str, ...] = ()  # dims no tile may split (a normalisation's channels)

    @classmethod
    def from_file(cls, path: str | Path) -> Kernel:
        kernel = _parse(read_toml(path, "kernel file", KernelFileError), str(path))
        try:  # parse the ISL text once now, so that a malformed file fails when loaded
            kernel._build(kernel.bind({n: s.default or 16 for n, s in kernel.symbols.items()}))
        except LayerShapeError:
            pass  # the sample sizes do not suit this kernel; its ISL is checked at first use
        return kernel

    def bind(self, values: dict[str, int]) -> dict[str, int]:
        """All symbol values (given, defaults, derived), checked against their minimums."""
        unknown = set(values) - set(self.symbols)
        if unknown:
            raise LayerShapeError(f"{self.kind} has no symbol {sorted(unknown)[0]!r} "
                                  f"(its symbols: {', '.join(self.symbols)})")
        bound: dict[str, int] = {}
        for name, symbol in self.symbols.items():
            value = values.get(name, symbol.default)
            if value is None:
                raise LayerShapeError(f"{self.kind} needs a value for {name} ({symbol.doc})")
            if isinstance(value, np.integer):
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise LayerShapeError(f"{self.kind}: {name} ({symbol.doc}) must be an integer, "
                                      f"got {value!r}")
            if value < symbol.minimum:
                raise LayerShapeError(f"{self.kind}: {name} ({symbol.doc}) must be >= "
                                      f"{symbol.minimum}, got {value}")
            bound[name] = value
        for name, derived in self.derived.items():
            value = evaluate(derived.expression, bound)
            if derived.minimum is not None and value < derived.minimum:
                shown = ", ".join(f"{k}={v}" for k, v in bound.items())
                raise LayerShapeError(f"{self.kind}: {derived.error} ({name} = "
                                      f"{derived.expression} = {value}; {shown})")
            bound[name] = value
        return bound

    def layer(self, name: str | None = None, **values: int) -> Layer:
        """The layer of this kernel with the given symbol values."""
        bound = self.bind(values)
        domain, extents, tensors = self._build(bound)
        if name is None:
            name = self.kind + "(" + ",".join(f"{k}={v}" for k, v in values.items()) + ")"
        symbols = {k: v for k, v in bound.items() if k in self.symbols}
        return Layer(name, self.kind, symbols, tuple(extents), extents, domain, tensors,
                     self.compute, self.whole)

    def _build(self, bound: dict[str, int]) -> tuple[isl.Set, dict[str, int], dict[str, Tensor]]:
        """The ISL objects of the layer with symbol values ``bound``."""
        domain = self._parse_isl(isl.Set, "loops.domain", self.domain, bound)
        dims = domain.get_var_names(isl.dim_type.set)
        if None in dims or len(set(dims)) != len(dims):
            raise KernelFileError(f"{self.path}: loops.domain must name each loop variable once")
        extents = dict(zip(dims, self._box_extents(domain, "loops.domain")))
        for dim in self.whole:
            if dim not in extents:
                raise KernelFileError(f"{self.path}: loops.whole names {dim!r}, which is not a "
                                      f"loop variable of loops.domain")
        tensors = {}
        for spec in self.tensors.values():
            space = self._parse_isl(isl.Set, f"tensors.{spec.name}.space", spec.space, bound)
            access = self._parse_isl(isl.Map, f"tensors.{spec.name}.access", spec.access, bound)
            self._check_access(spec.name, access, domain, space)
            shape = self._box_extents(space, f"tensors.{spec.name}.space")
            tensors[spec.name] = Tensor(spec.name, spec.role, shape, space, access)
        return domain, extents, tensors

    # --- checks that need ISL --------------------------------------------------------------

    def _parse_isl(self, kind, key: str, text: str, bound: dict[str, int]):
        def substitute(match: re.Match) -> str:
            word = match.group(1)
            if word not in bound:
                raise KernelFileError(f"{self.path}: {key} uses unknown symbol {word!r}")
            return str(bound[word])  # values are >= 0 (symbol minimums cannot go below 0)

        concrete = _SYMBOL_USE.sub(substitute, text)
        try:
            return kind(concrete)
        except isl.Error:
            raise KernelFileError(f"{self.path}: {key} is not valid ISL: {concrete!r}") from None

    def _box_extents(self, box: isl.Set, key: str) -> tuple[int, ...]:
        """Extents of a box ``{ X[a, b] : 0 <= a < A and 0 <= b < B }``; anything else fails."""
        if box.is_empty():
            raise KernelFileError(f"{self.path}: {key} is empty")
        extents = []
        for i in range(box.dim(isl.dim_type.set)):
            low, high = box.dim_min_val(i), box.dim_max_val(i)
            if not (low.is_int() and high.is_int()) or low.to_python() != 0:
                raise KernelFileError(f"{self.path}: {key} must start at 0 and be bounded "
                                      f"in every dim")
            extents.append(high.to_python() + 1)
        bounding_box = isl.Set.universe(box.get_space())
        for i, extent in enumerate(extents):
            bounding_box = bounding_box.lower_bound_val(isl.dim_type.set, i, 0) \
                .upper_bound_val(isl.dim_type.set, i, extent - 1)
        if not box.is_equal(bounding_box):
            raise KernelFileError(f"{self.path}: {key} must be a rectangular box")
        return tuple(extents)

    def _check_access(self, name: str, access: isl.Map, domain: isl.Set, space: isl.Set):
        where = f"{self.path}: tensors.{name}.access"
        if access.get_tuple_name(isl.dim_type.in_) != domain.get_tuple_name() or \
                access.dim(isl.dim_type.in_) != domain.dim(isl.dim_type.set):
            raise KernelFileError(f"{where} must map the domain's {domain.get_tuple_name()}"
                                  f"[{', '.join(domain.get_var_names(isl.dim_type.set))}]")
        if access.get_tuple_name(isl.dim_type.out) != name or \
                access.dim(isl.dim_type.out) != space.dim(isl.dim_type.set):
            raise KernelFileError(f"{where} must land in {name}[...] with "
                                  f"{space.dim(isl.dim_type.set)} indices like its space")
        if not access.is_single_valued() or not domain.is_subset(access.domain()):
            raise KernelFileError(f"{where} must give one element for every iteration")


def _parse(data: dict, path: str) -> Kernel:
    def need(table: dict, key: str, kind: type, where: str):
        if key not in table:
            raise KernelFileError(f"{path}: missing {where}{key}")
        if not isinstance(table[key], kind):
            raise KernelFileError(f"{path}: {where}{key} must be a {kind.__name__}")
        return table[key]

    kind = need(data, "kind", str, "")
    symbols = {}
    for name, entry in need(data, "symbols", dict, "").items():
        if not _SYMBOL.match(name):
            raise KernelFileError(f"{path}: symbol {name!r} must be written in CAPITALS")
        if not isinstance(entry, dict):
            raise KernelFileError(f"{path}: symbols.{name} must be a table")
        default = entry.get("default")
        if default is not None and not isinstance(default, int):
            raise KernelFileError(f"{path}: symbols.{name}.default must be an integer")
        minimum = entry.get("min", 1)
        if not isinstance(minimum, int) or minimum < 0:
            raise KernelFileError(f"{path}: symbols.{name}.min must be an integer >= 0")
        symbols[name] = Symbol(name, minimum, default, entry.get("doc", name))
    derived = {}
    for name, entry in data.get("derived", {}).items():
        if not _SYMBOL.match(name) or name in symbols:
            raise KernelFileError(f"{path}: derived symbol {name!r} must be a new CAPITAL name")
        if not isinstance(entry, dict):
            raise KernelFileError(f"{path}: derived.{name} must be a table")
        expression = need(entry, "expr", str, f"derived.{name}.")
        try:
            evaluate(expression, {s: 1 for s in [*symbols, *derived]})
        except ExpressionError as error:
            raise KernelFileError(f"{path}: derived.{name}: {error}") from None
        derived[name] = DerivedSymbol(name, expression, entry.get("min"), entry.get("doc", name),
                                      entry.get("error", f"{name} is too small"))
    loops = need(data, "loops", dict, "")
    domain = need(loops, "domain", str, "loops.")
    whole = loops.get("whole", [])
    if not isinstance(whole, list) or not all(isinstance(d, str) for d in whole):
        raise KernelFileError(f"{path}: loops.whole must be a list of loop variable names")
    tensors = {}
    for name, entry in need(data, "tensors", dict, "").items():
        if not name.isidentifier() or not name.isascii():
            raise KernelFileError(f"{path}: tensor {name!r} must be named like an identifier "
                                  f"(letters, digits, _)")
        if name in symbols or name in derived:
            raise KernelFileError(f"{path}: tensor {name!r} has the name of a symbol")
        if not isinstance(entry, dict):
            raise KernelFileError(f"{path}: tensors.{name} must be a table")
        role = need(entry, "role", str, f"tensors.{name}.")
        if role not in ROLES:
            raise KernelFileError(f"{path}: tensors.{name}.role must be one of {ROLES}")
        tensors[name] = TensorSpec(name, role, need(entry, "space", str, f"tensors.{name}."),
                                   need(entry, "access", str, f"tensors.{name}."))
    if [t.role for t in tensors.values()].count("output") != 1:
        raise KernelFileError(f"{path}: a kernel has exactly one tensor with role 'output'")
    compute = data.get("compute")
    if compute is not None:
        compute = _parse_compute(compute, tensors, path)
    return Kernel(kind, data.get("doc", kind), path, symbols, derived, domain, tensors, compute,
                  tuple(whole))


def _parse_compute(text, tensors: dict[str, TensorSpec], path: str) -> Compute:
    """``"O += W * I"`` or ``"O max= I"``: the output, the reduction and the factors."""
    match = re.fullmatch(r"\s*(\w+)\s*(\+=|max=)\s*(\w+(?:\s*\*\s*\w+)*)\s*", str(text))
    if match is None:
        raise KernelFileError(f"{path}: compute must read like 'O += W * I' or 'O max= I', "
                              f"got {text!r}")
    output, operator, product = match.groups()
    factors = tuple(re.split(r"\s*\*\s*", product))
    for name in (output, *factors):
        if name not in tensors:
            raise KernelFileError(f"{path}: compute names {name!r}, which is not a tensor")
    if tensors[output].role != "output" or any(tensors[f].role == "output" for f in factors):
        raise KernelFileError(f"{path}: compute must update the output from the other tensors")
    return Compute(output, operator[:-1], factors)


def builtin_kernel_names() -> list[str]:
    """Kinds of the kernel files shipped with polyscan."""
    return packaged_names("kernels")


@functools.cache
def load_kernel(name_or_path: str | Path) -> Kernel:
    """A built-in kernel by kind (``"depthwise"``) or any kernel file by path."""
    path = packaged_path(name_or_path, "kernels")
    if path is None:
        raise KernelFileError(f"no built-in kernel {name_or_path!r} "
                              f"(built-in: {', '.join(builtin_kernel_names())})")
    return Kernel.from_file(path)


clears(load_kernel.cache_clear)  # a file edited since is read again
