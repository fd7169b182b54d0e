"""Built-in networks against their published parameter and multiply-accumulate counts."""

import pytest

import polyscan as ps
from polyscan import zoo
from polyscan.model.constructors import scale
from polyscan.network.graph import NetworkBuilder


def _is_se_conv(layer):
    """The 1x1 convs of squeeze-and-excitation: with a bias, without a batch norm."""
    return layer.name.endswith(("_se_reduce", "_se_expand"))


def _bn_channels(net):
    """Channels of the batch norms after every convolution (2 parameters each)."""
    return sum(layer.output.shape[0] for layer in net.layers
               if layer.kind in ("conv2d", "depthwise", "pointwise") and not _is_se_conv(layer))


def _weights(net):
    return sum(layer.tensors["W"].size for layer in net.layers if "W" in layer.tensors)


def _biases(net):
    """Outputs of the layers torchvision gives a bias: SE convs and every Linear."""
    return sum(layer.output.shape[0] for layer in net.layers
               if _is_se_conv(layer) or layer.kind == "fully_connected")


def _macs(net):
    """Multiply-accumulates of the conv and gemm layers (SE convs included; the channel
    scale's multiplies and the pools' additions are not MACs)."""
    return sum(layer.macs for layer in net.layers if layer.kind not in ("pool", "scale"))


def test_mobilenet_v2_matches_torchvision():
    net = zoo.mobilenet_v2()
    kinds = [layer.kind for layer in net.layers]
    assert len(kinds) - kinds.count("pool") == 53 and kinds.count("pool") == 1
    # torchvision.models.mobilenet_v2: 3,504,872 parameters (conv + BN affine + fc with bias)
    assert _weights(net) + 2 * _bn_channels(net) + _biases(net) == 3_504_872
    # Sandler et al. 2018, Table 4: 300M multiply-adds
    assert round(_macs(net) / 1e6) == 301 and abs(_macs(net) - 300e6) / 300e6 < 0.005
    assert sum("R" in layer.tensors for layer in net.layers) == 10  # stride-1 same-width blocks
    assert net.layers[0].tensors["I"].shape == (3, 224, 224)
    assert net.layers[-1].output.shape == (1000,)


def test_mobilenet_v1_matches_the_paper_and_keras():
    net = zoo.mobilenet_v1()
    assert len(net.layers) == 29
    # Keras applications MobileNet (alpha 1.0): 4,231,976 trainable parameters
    assert _weights(net) + 2 * _bn_channels(net) + _biases(net) == 4_231_976
    # Howard et al. 2017, Table 8: 569 million mult-adds, 4.2 million parameters
    assert round(_macs(net) / 1e6) == 569


# torchvision num_params and "_ops" (GMACs of conv and linear layers, SE convs included) of
# the ImageNet weights' metadata, then the authors' multiply-adds: MobileNetV3-Large 217M
# (TF-slim / Keras applications MobileNetV3 table; the paper's Table 3 says 219M),
# MobileNetV3-Small 56M (Howard et al. 2019, Table 3), EfficientNet-B0 0.39B (Tan and Le 2019,
# Table 2). Residual adds: stride-1 blocks whose input and output widths agree.
SE_NETWORKS = {
    "mobilenet_v3_large": (5_483_032, 0.217, 217e6, 15, 8, 10),
    "mobilenet_v3_small": (2_542_856, 0.057, 56e6, 11, 9, 6),
    "efficientnet_b0": (5_288_548, 0.386, 390e6, 16, 16, 9),
}


@pytest.mark.parametrize("name", sorted(SE_NETWORKS))
def test_se_networks_match_torchvision(name):
    net = zoo.NETWORKS[name]()
    parameters, torchvision_gmacs, published_macs, blocks, se_blocks, residuals = \
        SE_NETWORKS[name]
    assert _weights(net) + 2 * _bn_channels(net) + _biases(net) == parameters
    assert round(_macs(net) / 1e9, 3) == torchvision_gmacs
    assert abs(_macs(net) - published_macs) / published_macs < 0.015
    names = [layer.name for layer in net.layers]
    assert sum(n.endswith("_project") for n in names) == blocks
    assert sum(n.endswith("_scale") for n in names) == se_blocks
    assert sum("R" in layer.tensors for layer in net.layers) == residuals
    assert net.layers[0].tensors["I"].shape == (3, 224, 224)
    assert net.layers[-1].output.shape == (1000,)


@pytest.mark.parametrize("name", sorted(SE_NETWORKS))
def test_squeeze_excitation_is_wired_dw_pool_reduce_expand_scale_project(name):
    net = zoo.NETWORKS[name]()
    graph = net.graph
    names = [layer.name for layer in net.layers]
    for layer in net.layers[1:]:
        assert any("I" in graph.edges[e]["tensors"] for e in graph.in_edges(layer.name))
    for producer, consumer, tensors in graph.edges(data="tensors"):
        for tensor in tensors:
            assert net.layer(producer).output.size == net.layer(consumer).tensors[tensor].size
    for layer in net.layers:
        if layer.kind != "scale":
            continue
        block = layer.name.removesuffix("_scale")
        sources = {t: e[0] for e in graph.in_edges(layer.name) for t in graph.edges[e]["tensors"]}
        assert sources == {"I": f"{block}_dw", "S": f"{block}_se_expand"}
        steps = ["dw", "se_pool", "se_reduce", "se_expand", "scale", "project"]
        start = names.index(f"{block}_dw")
        assert names[start:start + len(steps)] == [f"{block}_{s}" for s in steps]
        assert [v for _, v in graph.out_edges(layer.name)] == [f"{block}_project"]


def test_a_source_must_be_a_tensor_the_layer_reads():
    net = NetworkBuilder("n")
    features = net.add(ps.pointwise(4, 8, 5, 5, name="features"))
    weights = net.add(ps.fully_connected(4, 8, name="weights"))
    with pytest.raises(ps.PolyscanError, match="'scale' reads no tensor 'T'"):
        net.add(scale(8, 5, 5, name="scale"), features, sources={"T": weights})
    with pytest.raises(ps.PolyscanError, match="two producers of 'I'"):
        net.add(scale(8, 5, 5, name="scale"), features, sources={"I": weights})
    layer = net.add(scale(8, 5, 5, name="scale"), features, sources={"S": weights})
    built = net.build()
    assert built.graph.edges["weights", "scale"]["tensors"] == ("S",)
    assert built.tensor_of("scale", "S").writers == ("weights",)
    assert layer.tensors["S"].shape == (8,) and layer.macs == 8 * 5 * 5


def test_the_graph_wires_each_layer_to_its_producers():
    net = zoo.mobilenet_v2()
    graph = net.graph
    position = {layer.name: i for i, layer in enumerate(net.layers)}
    assert all(position[a] < position[b] for a, b in graph.edges)
    for layer in net.layers[1:]:
        sources = {t: e[0] for e in graph.in_edges(layer.name) for t in graph.edges[e]["tensors"]}
        assert set(sources) == ({"I", "R"} if "R" in layer.tensors else {"I"})
        producer = net.layer(sources["I"])
        assert producer.output.size == layer.tensors["I"].size
    assert net.layer("b2_project").tensors["R"].shape == net.layer("b2_project").output.shape


def test_unknown_layer_is_named():
    with pytest.raises(ps.PolyscanError, match="no layer 'nope'"):
        zoo.mobilenet_v2().layer("nope")
