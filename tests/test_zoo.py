"""Built-in networks against their published parameter and multiply-accumulate counts."""

import pytest

import polyscan as ps
from polyscan import zoo


def _bn_channels(net):
    """Channels of the batch norms after every convolution (2 parameters each)."""
    return sum(layer.output.shape[0] for layer in net.layers
               if layer.kind in ("conv2d", "depthwise", "pointwise"))


def _weights(net):
    return sum(layer.tensors["W"].size for layer in net.layers if "W" in layer.tensors)


def _macs(net):
    return sum(layer.macs for layer in net.layers if layer.kind != "pool")


def test_mobilenet_v2_matches_torchvision():
    net = zoo.mobilenet_v2()
    kinds = [layer.kind for layer in net.layers]
    assert len(kinds) - kinds.count("pool") == 53 and kinds.count("pool") == 1
    # torchvision.models.mobilenet_v2: 3,504,872 parameters (conv + BN affine + fc with bias)
    assert _weights(net) + 2 * _bn_channels(net) + 1000 == 3_504_872
    # Sandler et al. 2018, Table 4: 300M multiply-adds
    assert round(_macs(net) / 1e6) == 301 and abs(_macs(net) - 300e6) / 300e6 < 0.005
    assert sum("R" in layer.tensors for layer in net.layers) == 10  # stride-1 same-width blocks
    assert net.layers[0].tensors["I"].shape == (3, 224, 224)
    assert net.layers[-1].output.shape == (1000,)


def test_mobilenet_v1_matches_the_paper_and_keras():
    net = zoo.mobilenet_v1()
    assert len(net.layers) == 29
    # Keras applications MobileNet (alpha 1.0): 4,231,976 trainable parameters
    assert _weights(net) + 2 * _bn_channels(net) + 1000 == 4_231_976
    # Howard et al. 2017, Table 8: 569 million mult-adds, 4.2 million parameters
    assert round(_macs(net) / 1e6) == 569


def test_the_graph_wires_each_layer_to_its_producers():
    net = zoo.mobilenet_v2()
    graph = net.graph
    position = {layer.name: i for i, layer in enumerate(net.layers)}
    assert all(position[a] < position[b] for a, b in graph.edges)
    for layer in net.layers[1:]:
        sources = {graph.edges[e]["tensor"]: e[0] for e in graph.in_edges(layer.name)}
        assert set(sources) == ({"I", "R"} if "R" in layer.tensors else {"I"})
        producer = net.layer(sources["I"])
        assert producer.output.size == layer.tensors["I"].size
    assert net.layer("b2_project").tensors["R"].shape == net.layer("b2_project").output.shape


def test_unknown_layer_is_named():
    with pytest.raises(ps.PolyscanError, match="no layer 'nope'"):
        zoo.mobilenet_v2().layer("nope")
