"""The README's headline figures (MobileNetV2 at a 64K-entry buffer), read from README.md
itself so that the README and this test cannot drift apart: what can be derived is derived
here (the floor from the network's tensors, the total from each group's exact traffic), the
rest is compared with the figures as the README prints them, to the digits it prints."""

import math
import re
from pathlib import Path

import pytest

import polyscan as ps

README = Path(__file__).parent.parent / "README.md"
NUMBER = r"(\d[\d,]*(?:\.\d+)?)"


def _readme() -> str:
    return re.sub(r"\s+", " ", README.read_text())


def _claims() -> dict[str, str]:
    """The headline figures as the README prints them (strings, so their digits count)."""
    text = _readme()
    first = re.search(
        rf"the totals: {NUMBER} DRAM entries, {NUMBER} x the floor \(weights \+ input \+ "
        rf"output\), {NUMBER}% less than the best schedules without fusion, and the plan's "
        rf"DRAM energy and time on (\S+) \(.*?add `--objective energy` for the plan of least "
        rf"energy: {NUMBER} mJ, {NUMBER}% less than lex without fusion", text)
    assert first, "README.md no longer states the headline figures in the expected words"
    claims = dict(zip(("entries", "floor_ratio", "less_than_unfused", "preset", "energy_mj",
                       "energy_less_than_lex"), first.groups()))
    again = re.search(rf"--objective energy` \({NUMBER} mJ, {NUMBER}% less DRAM energy than "
                      rf"lex without fusion\)", text)
    assert again, "README.md no longer repeats the energy figures in its tour"
    assert again.groups() == (claims["energy_mj"], claims["energy_less_than_lex"])
    return claims


def _as_printed(value: float, printed: str) -> str:
    """``value`` with as many decimals as the README's figure ``printed``."""
    decimals = len(printed.partition(".")[2])
    return f"{value:,.{decimals}f}"


def test_the_readme_states_the_headline_figures():
    claims = _claims()  # fast: a README edit that breaks the parse fails without the slow run
    assert set(claims) == {"entries", "floor_ratio", "less_than_unfused", "preset", "energy_mj",
                           "energy_less_than_lex"}


@pytest.mark.slow
def test_mobilenet_v2_at_64k_has_the_readme_figures():
    claims = _claims()
    net = ps.zoo.mobilenet_v2()
    buffer = 65536

    fused = ps.optimize_network(net, buffer, progress=False)  # the README's first command
    total = sum(ps.traffic(g.schedule).total for g in fused.groups)
    assert fused.total == total
    assert f"{total:,}" == claims["entries"]
    assert all(ps.traffic(g.schedule).peak + g.held == g.peak <= buffer for g in fused.groups)
    assert sorted(name for g in fused.groups for name in g.layers) == \
        sorted(layer.name for layer in net.layers)  # a partition of the layers

    # the floor: every weight, the network's input (the image) and its output (the logits)
    first, last = net.layers[0], net.layers[-1]
    assert net.tensor_of(first.name, "I").writers == () and net.graph.in_degree(first.name) == 0
    assert net.graph.out_degree(last.name) == 0
    weights = sum(math.prod(t.shape) for layer in net.layers for t in layer.tensors.values()
                  if t.role == "weight")
    floor = weights + math.prod(first.tensors["I"].shape) + math.prod(last.output.shape)
    assert (first.tensors["I"].shape, last.output.shape) == ((3, 224, 224), (1000,))
    assert fused.floor == floor
    assert _as_printed(total / floor, claims["floor_ratio"]) == claims["floor_ratio"]

    unfused = ps.optimize_network(net, buffer, fusion=False, progress=False)
    assert unfused.total == sum(ps.traffic(g.schedule).total for g in unfused.groups)
    assert floor <= total < unfused.total
    assert _as_printed(100 * (1 - total / unfused.total), claims["less_than_unfused"]) == \
        claims["less_than_unfused"]

    assert fused.dram_cost().preset == claims["preset"].lower()
    by_energy = ps.optimize_network(net, buffer, objective="energy", progress=False)
    lex = ps.optimize_network(net, buffer, fusion=False, traversals=("lex",), progress=False)
    energy, baseline = by_energy.dram_cost().energy_pj, lex.dram_cost().energy_pj
    assert by_energy.energy_floor_pj <= energy <= fused.dram_cost().energy_pj
    assert _as_printed(energy / 1e9, claims["energy_mj"]) == claims["energy_mj"]
    assert _as_printed(100 * (1 - energy / baseline), claims["energy_less_than_lex"]) == \
        claims["energy_less_than_lex"]
