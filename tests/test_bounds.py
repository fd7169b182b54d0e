"""Lower bounds: the compulsory traffic is what an untiled schedule moves; the I/O bound
follows its formula; no schedule found by the optimizer (or by exhaustive search) is below."""

import math

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import LAYERS
from test_optimizer import SMALL

import polyscan as ps
from polyscan.testing.simulator import elements, exhaustive_optimum


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_compulsory_is_the_untiled_traffic(kind):
    layer = SMALL[kind]
    assert ps.lower_bound(layer, 10**6).compulsory == ps.traffic(ps.Schedule(layer)).total


def test_io_bound_of_a_matrix_product_follows_the_formula():
    layer = ps.pointwise(64, 64, 16, 16)  # 64 x 64 x 256 product, no padding
    bound = ps.lower_bound(layer, 1200)
    macs = 64 * 64 * 256
    assert bound.io == 1200 * (math.ceil(macs / (2 * 1200 / 3) ** 1.5) - 1)
    assert bound.value == bound.io > bound.compulsory


def test_io_bound_of_a_strided_convolution_counts_input_reuse():
    layer = ps.conv2d(8, 8, 9, 9, kernel=3, stride=2, padding=0)
    bound = ps.lower_bound(layer, 100)
    macs = 8 * 8 * 4 * 4 * 9  # no padding: every iteration reads a real input
    uses = 2 * 2  # ceil(3 / 2) kernel rows and columns can read one input element
    assert bound.io == 100 * (math.ceil(macs / (math.sqrt(uses) * (200 / 3) ** 1.5)) - 1)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@settings(max_examples=examples(25))
@given(data=st.data())
def test_macs_exclude_exactly_the_padding_iterations(kind, data):
    layer = data.draw(LAYERS[kind])
    real = sum(bool(touched) for touched in elements(layer, layer.tensors["I"]))
    assert ps.lower_bound(layer, 100).macs == real


@pytest.mark.parametrize("layer, buffer", [
    (ps.pointwise(6, 6, 2, 3), 10),
    (ps.pointwise(6, 6, 2, 3), 20),
    (ps.fully_connected(8, 6), 6),
    (SMALL["conv2d"], 16),
])
def test_no_schedule_beats_the_bound(layer, buffer):
    (total, _, _), _ = exhaustive_optimum(layer, buffer)
    bound = ps.lower_bound(layer, buffer)
    assert total >= bound.value
    assert ps.optimize(layer, buffer) and ps.search_layer(layer, buffer).best.total == total


def test_mobilenet_v2_layers_stay_above_their_bounds():
    """The last blocks at a 4K-entry buffer, where the I/O bound exceeds compulsory."""
    layers = ps.zoo.mobilenet_v2().layers[-12:]
    binding = 0
    for layer in layers:
        bound = ps.lower_bound(layer, 4096)
        assert ps.search_layer(layer, 4096).best.total >= bound.value, layer.name
        binding += bound.io > bound.compulsory
    assert binding >= 5
