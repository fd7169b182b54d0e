"""The numpy translation of barvinok's quasi-polynomials agrees with ISL's own evaluation."""

import islpy as isl
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyscan.polyhedral.closed_form import ClosedForm


def _isl_values(pwqp: isl.PwQPolynomial, params, rows):
    space = pwqp.get_domain_space()
    names = space.get_var_names(isl.dim_type.param)
    values = []
    for row in rows:
        point = isl.Point.zero(space)
        for name, value in zip(params, row):
            point = point.set_coordinate_val(isl.dim_type.param, names.index(name), int(value))
        values.append(pwqp.eval(point).to_python())
    return values


@st.composite
def counting_problems(draw):
    """A set of points [x, y] with strides, floors and parametric bounds."""
    a, b, c = (draw(st.integers(1, 4)) for _ in range(3))
    d, e = draw(st.integers(-3, 3)), draw(st.integers(1, 9))
    stride, modulus = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    return (f"[p, q, r] -> {{ [x, y] : exists z : {a}x >= p - {e} and x <= q + {d} "
            f"and 0 <= y <= floor((r + {b}x)/{c}) and {stride}z = x + y and "
            f"(x + r) mod {modulus} = 0 and 0 <= x <= 20 }}")


@settings(max_examples=60)
@given(counting_problems(), st.randoms(use_true_random=False))
def test_closed_form_matches_isl_eval(problem, random):
    count = isl.Set(problem).card()
    params = ("r", "p", "q")  # deliberately not the ISL order
    rows = np.array([[random.randint(-8, 25) for _ in params] for _ in range(40)])
    form = ClosedForm(count, params)
    assert form(rows).tolist() == _isl_values(count, params, rows)


def test_constant_and_empty_forms():
    constant = ClosedForm(isl.Set("{ [x] : 0 <= x < 7 }").card(), ())
    assert constant(np.zeros((3, 0))).tolist() == [7] * 3
    assert ClosedForm(isl.Set("[n] -> { [x] : 0 <= x < n and x > 2n }").card(),
                      ("n",))(np.array([[1], [5]])).tolist() == [0, 0]


def test_parameters_must_cover_the_form():
    with pytest.raises(ValueError, match="unknown parameters"):
        ClosedForm(isl.Set("[n] -> { [x] : 0 <= x < n }").card(), ("m",))
