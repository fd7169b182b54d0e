"""Barvinok's piecewise quasi-polynomials, compiled to vectorised numpy code.

A footprint count such as ``|F_I(tile)|`` is, for every tile of a layer at once, a piecewise
quasi-polynomial (``isl.PwQPolynomial``) in the tile's origin and size. Evaluating it with
``PwQPolynomial.eval`` costs one ISL call per tile; here each one is translated once into a
small numpy function (generated source, kept in ``ClosedForm.source`` for inspection) that
evaluates it for thousands of tiles per call, in exact integer arithmetic.
"""

from __future__ import annotations

import math
from fractions import Fraction

import islpy as isl
import numpy as np

from ..caches import stored

_PARAM = isl.dim_type.param
_DIV = isl.dim_type.div
LIMIT = 2 ** 62  # largest magnitude counted in int64 (a product of two may not wrap past it)


def count_points(points: isl.Set) -> int:
    """The number of elements of a set without parameters, by barvinok (ISL's own
    ``count_val`` enumerates them: 42 s for the iterations of one VGG11 conv, a box)."""
    def count() -> int:
        card = points.card()
        return int(card.eval(isl.Point.zero(card.get_domain_space())).to_python())
    return stored("count", (points.to_str(),), count)


class ClosedForm:
    """An exact, vectorised evaluator of one ``isl.PwQPolynomial`` over its parameters.

    ``params`` names the parameters in the order of the columns passed to ``__call__``.
    """

    def __init__(self, pwqp: isl.PwQPolynomial, params: tuple[str, ...],
                 maxima: tuple[int, ...] | None = None):
        space_params = pwqp.get_space().get_var_names(_PARAM)
        missing = set(space_params) - set(params)
        if missing:
            raise ValueError(f"closed form depends on unknown parameters {sorted(missing)}")
        self.params = tuple(params)
        self.pwqp = pwqp
        translator = _Translator(space_params, self.params, maxima)
        self.source = translator.function_source(pwqp)
        # with ``maxima`` (|parameter| <= maxima[i]): no value computed on the way, and no
        # result, exceeds ``bound``; past 2^62 int64 arithmetic could wrap: refused
        self.bound = translator.bound
        if self.bound is not None and self.bound >= LIMIT:
            raise OverflowError(f"a count of up to {self.bound:.3g} does not fit exact 64-bit "
                                f"arithmetic")
        namespace = {"np": np}
        exec(compile(self.source, "<closed form>", "exec"), namespace)
        self._function = namespace["closed_form"]

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """Evaluate at each row of ``values`` (shape ``(n, len(params))``, integers).

        Rows are deduplicated first: along a tile sequence most rows repeat, so the
        polynomial pieces are evaluated only once per distinct parameter tuple.
        """
        values = np.asarray(values, dtype=np.int64)
        if values.ndim != 2 or values.shape[1] != len(self.params):
            raise ValueError(f"expected an (n, {len(self.params)}) array, got {values.shape}")
        if values.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        if not self.params:
            return np.full(values.shape[0], self._function(), dtype=np.int64)
        distinct, inverse = distinct_rows(values)
        result = np.broadcast_to(self._function(*distinct.T), (distinct.shape[0],))
        return result[inverse]


def distinct_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(distinct, inverse)`` with ``distinct[inverse] == values``, for an integer matrix.

    Rows are packed into one int64 key each (mixed radix over the columns' ranges), which
    sorts far faster than ``np.unique(axis=0)``; it falls back to that when keys would overflow.
    """
    low = values.min(axis=0)
    radix = [int(high) - int(start) + 1 for high, start in zip(values.max(axis=0), low)]
    if math.prod(radix) >= 2 ** 62:
        distinct, inverse = np.unique(values, axis=0, return_inverse=True)
        return distinct, inverse.reshape(-1)
    keys = np.zeros(len(values), dtype=np.int64)
    for column, (start, size) in enumerate(zip(low, radix)):
        keys = keys * size + (values[:, column] - start)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return values[first], inverse.reshape(-1)


class _Translator:
    """Writes the numpy source of a PwQPolynomial: one mask and one value per piece."""

    def __init__(self, space_params: list[str], arg_params: tuple[str, ...],
                 maxima: tuple[int, ...] | None = None):
        self.space_params = space_params
        self.args = [f"a{i}" for i in range(len(arg_params))]
        self.param_expr = [self.args[arg_params.index(p)] for p in space_params]
        self.lines: list[str] = []
        self.divs: dict[str, str] = {}
        # interval arithmetic on magnitudes, when the parameters' maxima are known
        self.magnitude = None if maxima is None else dict(zip(self.args, maxima))
        self.bound = None if maxima is None else 0

    def _seen(self, magnitude: int) -> int:
        if self.bound is not None:
            self.bound = max(self.bound, magnitude)
        return magnitude

    def _size(self, name: str) -> int:
        return self.magnitude[name] if self.magnitude is not None else 0

    def function_source(self, pwqp: isl.PwQPolynomial) -> str:
        header = f"def closed_form({', '.join(self.args)}):"
        self.lines.append("result = 0")
        for domain, qpoly in pwqp.get_pieces():  # disjoint pieces; 0 outside them all
            mask = self._set_mask(domain.compute_divs())
            self.lines.append(f"result = np.where({mask}, {self._qpolynomial(qpoly)}, result)")
        self.lines.append("return result")
        return header + "\n" + "\n".join("    " + line for line in self.lines) + "\n"

    # --- affine expressions and integer divisions -------------------------------------

    def _linear(self, coefficients: list[tuple[int, str]], constant: int) -> str:
        self._seen(sum(abs(c) * self._size(name) for c, name in coefficients) + abs(constant))
        text = ""
        for c, name in coefficients:
            if c:
                text += (" - " if c < 0 else " + ") + (f"{abs(c)}*{name}" if abs(c) != 1 else name)
        if constant or not text:
            text += (" - " if constant < 0 else " + ") + str(abs(constant))
        text = text[3:] if text.startswith(" + ") else "-" + text[3:]
        return "(" + text + ")"

    def _aff_numerator(self, aff: isl.Aff) -> tuple[str, int]:
        """The aff as ``numerator / denominator`` with an integer numerator expression."""
        denominator = _int(aff.get_denominator_val())
        terms = []
        for i, name in enumerate(self.param_expr):
            terms.append((_int(aff.get_coefficient_val(_PARAM, i), denominator), name))
        for j in range(aff.dim(_DIV)):
            coefficient = _int(aff.get_coefficient_val(_DIV, j), denominator)
            if coefficient:
                terms.append((coefficient, self._div(aff.get_div(j))))
        constant = _int(aff.get_constant_val(), denominator)
        return self._linear(terms, constant), denominator

    def _div(self, argument: isl.Aff) -> str:
        """Name of a variable holding ``floor(argument)``, defined once per distinct div."""
        key = argument.to_str()
        if key not in self.divs:
            before = self.bound
            self.bound = 0 if before is not None else None
            numerator, denominator = self._aff_numerator(argument)
            name = f"d{len(self.divs)}"
            self.lines.append(f"{name} = {numerator} // {denominator}")
            self.divs[key] = name
            if before is not None:
                self.magnitude[name] = self.bound // denominator + 1
                self.bound = max(before, self.bound)
        return self.divs[key]

    # --- piece domains -----------------------------------------------------------------

    def _set_mask(self, domain: isl.Set) -> str:
        alternatives = [self._basic_set_mask(b) for b in domain.get_basic_sets()]
        return "(" + " | ".join(alternatives) + ")" if alternatives else "False"

    def _basic_set_mask(self, bset: isl.BasicSet) -> str:
        divs = [self._div(bset.get_div(j)) for j in range(bset.dim(_DIV))]
        tests = []
        for constraint in bset.get_constraints():
            terms = [(_int(constraint.get_coefficient_val(_PARAM, i)), name)
                     for i, name in enumerate(self.param_expr)]
            terms += [(_int(constraint.get_coefficient_val(_DIV, j)), name)
                      for j, name in enumerate(divs)]
            expression = self._linear(terms, _int(constraint.get_constant_val()))
            tests.append(f"({expression} {'==' if constraint.is_equality() else '>='} 0)")
        return "(" + " & ".join(tests) + ")" if tests else "True"

    # --- quasi-polynomials ---------------------------------------------------------------

    def _qpolynomial(self, qpoly: isl.QPolynomial) -> str:
        """Integer-exact value: sum of terms over their common denominator, divided once."""
        terms = qpoly.get_terms()
        coefficients = [Fraction(str(t.get_coefficient_val())) for t in terms]
        denominator = math.lcm(1, *(c.denominator for c in coefficients))
        parts, total_size = [], 0
        for term, coefficient in zip(terms, coefficients):
            factors = [str(int(coefficient * denominator))]
            for i, name in enumerate(self.param_expr):
                factors += [name] * term.get_exp(_PARAM, i)
            for j in range(term.dim(_DIV)):
                exponent = term.get_exp(_DIV, j)
                if exponent:
                    factors += [self._div(term.get_div(j))] * exponent
            parts.append("*".join(factors))
            size = abs(int(factors[0]))
            for factor in factors[1:]:
                size = self._seen(size * self._size(factor))
            total_size += size
        self._seen(total_size)
        total = "(" + " + ".join(parts or ["0"]) + ")"
        return total if denominator == 1 else f"{total} // {denominator}"


def _int(value: isl.Val, scale: int = 1) -> int:
    """``value * scale`` as a Python int (ISL values are rationals)."""
    fraction = Fraction(str(value)) * scale
    if fraction.denominator != 1:
        raise ValueError(f"expected an integer coefficient, got {value}")
    return fraction.numerator
