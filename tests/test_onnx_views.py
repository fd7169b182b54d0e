"""Imported layers read and write exactly the elements ONNX says they do.

ONNX's own reference evaluator computes every tensor of a small graph (random weights and
input). polyscan's network tensors are ONNX tensors (a layer's output, a Concat's result,
a folded Add's sum, the network input), so their values are known; every layer's tensors,
gathered through their views (a slice, a shuffle, a transpose, a flatten) from those values,
must equal the ONNX tensors its node reads and writes, element for element. Graphs avoid
element-wise functions (they would change values between a tensor and its reader)."""

import numpy as np
import pytest
from onnx_models import GraphBuilder, evaluate, save

import polyscan as ps
from polyscan.testing.reference import _gather


def _origin(model, name: str) -> str:
    """The tensor whose elements a layer reads as ``name``: through a Pad (folded into the
    next conv or pool) and through element-wise functions of one computed tensor (``x ** 2``,
    ``sqrt(v + eps)``), which move no data."""
    producers = {o: n for n in model.graph.node for o in n.output}
    constants = {t.name for t in model.graph.initializer}
    while name in producers:
        node = producers[name]
        computed = [x for x in node.input if x and x not in constants]
        if node.op_type == "Pad" or (node.op_type in ("Pow", "Sqrt", "Add", "Mul", "Relu")
                                     and len(computed) == 1):
            name = computed[0]
        else:
            break
    return name


def _made_by(model, name: str) -> str:
    """The node whose output ``name`` is, through any Transpose after it."""
    producers = {o: n for n in model.graph.node for o in n.output}
    while name in producers and producers[name].op_type == "Transpose":
        name = producers[name].input[0]
    return producers[name].name if name in producers else ""


CHANNELS_LAST = ("MatMul", "LayerNormalization", "ReduceMean", "Sub", "Div")


def _kernel_layout(node, layer, value: np.ndarray) -> np.ndarray:
    """An ONNX tensor arranged as the layer's kernel indexes it (independently of the
    importer): channels first, batch dropped; the inputs of operators working along the last
    axis ((1, H, W, C) or (1, L, C)) moved to (C, H, W) or (C, 1, L)."""
    value = value[0]
    if node.op_type in CHANNELS_LAST and value.ndim == 3:
        return np.transpose(value, (2, 0, 1))
    if node.op_type in CHANNELS_LAST and value.ndim == 2:
        return value.T[:, None, :]
    return value


def check_views(model, tmp_path, input_shapes=None) -> ps.Network:
    net = ps.load_onnx(save(model, tmp_path), input_shapes=input_shapes)
    values = evaluate(model)
    nodes = {n.name: n for n in model.graph.node}
    makers = {o: n for n in model.graph.node for o in n.output}
    stored = {t.name: _kernel_layout(makers[t.name], None, values[t.name]).reshape(t.shape)
              if t.name in makers else values[t.name].reshape(t.shape)
              for t in net.tensors.values() if not t.weight}
    checked = 0
    for layer in net.layers:
        node = nodes.get(layer.name)
        if node is None:  # a copy or pad layer the importer made
            continue
        if layer.kind == "add":  # an Add that is not folded: I and R are its operands
            got = {t: _gather(layer.tensors[t], stored[net.tensor_of(layer.name, t).name])
                   for t in ("I", "R", "O")}
            operands = [values[x][0].reshape(got["I"].shape) for x in node.input]
            assert any(np.array_equal(got["I"], a) and np.array_equal(got["R"], b)
                       for a, b in (operands, operands[::-1])), layer.name
            assert np.array_equal(got["O"], values[node.output[0]][0].reshape(got["O"].shape))
            checked += 1
            continue
        io = {"I": _origin(model, node.input[0])}
        if "J" in layer.tensors:  # the other computed operand (a broadcast's reduced one)
            io["J"] = _origin(model, node.input[1])
        if "R" not in layer.tensors:  # a folded residual's storage holds the sum
            io[layer.output.name] = node.output[0]
        for tensor, onnx_name in io.items():
            got = _gather(layer.tensors[tensor], stored[net.tensor_of(layer.name, tensor).name])
            expected = _kernel_layout(node, layer, values[onnx_name])
            assert np.array_equal(got, expected.reshape(got.shape)), (layer.name, tensor)
            checked += 1
        if "R" in layer.tensors:  # R is the other operand of the Add folded into it
            add = next(n for n in model.graph.node if n.op_type == "Add" and
                       n.output[0] == net.tensor_of(layer.name, "O").name)
            other = next(x for x in add.input if _made_by(model, x) != node.name)
            got = _gather(layer.tensors["R"], stored[net.tensor_of(layer.name, "R").name])
            assert np.array_equal(got, values[other][0].reshape(got.shape)), layer.name
            checked += 1
    assert checked
    return net


def test_concat_of_fresh_outputs_is_written_in_place(tmp_path):
    """An inception block: four branches write their channel slices of one tensor."""
    g = GraphBuilder(4, 8, 8)
    a = g.conv("x", 4, 3, kernel=1, pad=0, name="a", bias=False)
    b = g.conv(g.conv("x", 4, 2, kernel=1, pad=0, name="b1", bias=False), 2, 5, name="b2",
               bias=False)
    c = g.node("MaxPool", ["x"], name="pool", kernel_shape=[3, 3], strides=[1, 1],
               pads=[1, 1, 1, 1])
    c = g.conv(c, 4, 2, kernel=1, pad=0, name="c", bias=False)
    x = g.node("Concat", [a, b, c], name="cat", axis=1)
    x = g.conv(x, 10, 6, kernel=3, name="next", bias=False)
    net = check_views(g.model(x), tmp_path)
    assert not any(layer.kind == "copy" for layer in net.layers)
    assert net.tensor_of("a", "O").name == net.tensor_of("b2", "O").name == \
        net.tensor_of("next", "I").name
    assert set(net.tensor_of("next", "I").writers) == {"a", "b2", "c"}


def test_densenet_prefix_concats_share_one_tensor(tmp_path):
    """Each layer reads the features before it (a prefix of one tensor) and adds its own:
    no copies, and no layer depends on the ones after it."""
    g = GraphBuilder(4, 6, 6)
    features = [g.conv("x", 4, 4, name="stem", bias=False)]
    for i in range(3):
        x = features[0] if len(features) == 1 else g.node("Concat", features, axis=1,
                                                            name=f"cat{i}")
        channels = 4 + 2 * i
        features.append(g.conv(g.conv(x, channels, 4, kernel=1, pad=0, name=f"l{i}a",
                                      bias=False), 4, 2, name=f"l{i}b", bias=False))
    out = g.node("Concat", features, axis=1, name="final")
    out = g.conv(out, 10, 3, kernel=1, pad=0, name="transition", bias=False)
    net = check_views(g.model(out), tmp_path)
    assert not any(layer.kind == "copy" for layer in net.layers)
    assert net.sources("l1a", "I") == ("stem", "l0b")
    assert not net.graph.has_edge("l2b", "l1a")


def test_shufflenet_block_splits_shuffles_and_copies_what_it_must(tmp_path):
    """``x1, x2 = x.chunk(2)``; ``cat(x1, branch(x2))``; channel shuffle; twice: the first
    block's x1 is a slice of the network input and the second's a shuffled half of the
    first block's tensor, so both are copied; the branches write in place."""
    g = GraphBuilder(8, 6, 6)
    x = "x"
    for block in range(2):
        starts, ends, axes = (g.constant(f"s{block}", [0]), g.constant(f"e{block}", [4]),
                              g.constant(f"a{block}", [1]))
        x1 = g.node("Slice", [x, starts, ends, axes], name=f"slice{block}")
        x2 = g.node("Slice", [x, g.constant(f"s2{block}", [4]), g.constant(f"e2{block}", [8]),
                              axes], name=f"slice2{block}")
        branch = g.conv(g.conv(x2, 4, 4, kernel=1, pad=0, name=f"pw{block}", bias=False), 4,
                        4, group=4, name=f"dw{block}", bias=False)
        x = g.node("Concat", [x1, branch], axis=1, name=f"cat{block}")
        x = g.node("Reshape", [x, g.constant(f"r{block}", [1, 2, 4, 6, 6])])
        x = g.node("Transpose", [x], perm=[0, 2, 1, 3, 4])
        x = g.node("Reshape", [x, g.constant(f"q{block}", [1, 8, 6, 6])])
    x = g.conv(x, 8, 3, kernel=1, pad=0, name="head", bias=False)
    net = check_views(g.model(x), tmp_path)
    assert sum(layer.kind == "copy" for layer in net.layers) == 2


def test_split_and_grouped_branches(tmp_path):
    """MixNet: Split into channel groups, a conv per group, Concat."""
    g = GraphBuilder(6, 7, 7)
    parts = g.node("Split", ["x", g.constant("sizes", [2, 4])], axis=1, outputs=2,
                   name="split")
    a = g.conv(parts[0], 2, 2, kernel=3, group=2, name="dw3", bias=False)
    b = g.conv(parts[1], 4, 4, kernel=5, pad=2, group=4, name="dw5", bias=False)
    x = g.node("Concat", [a, b], axis=1, name="cat")
    x = g.conv(x, 6, 3, kernel=1, pad=0, name="pw", bias=False)
    check_views(g.model(x), tmp_path)


def test_pads_fold_into_the_conv_or_become_a_layer(tmp_path):
    g = GraphBuilder(3, 6, 6)
    pads = g.constant("pads", [0, 0, 1, 0, 0, 0, 2, 1])
    x = g.node("Pad", ["x", pads], name="pad", mode="constant")
    x = g.conv(x, 3, 4, kernel=3, stride=2, pad=0, name="conv", bias=False)
    y = g.node("Pad", [x, g.constant("pads2", [0, 0, 1, 1, 0, 0, 1, 1])], name="pad2")
    y = g.node("Concat", [y, y], axis=1, name="cat")
    y = g.conv(y, 8, 2, kernel=1, pad=0, name="after", bias=False)
    net = check_views(g.model(y), tmp_path)
    conv = net.layer("conv")
    assert (conv.symbols["PT"], conv.symbols["PL"], conv.symbols["PB"], conv.symbols["PR"]) \
        == (1, 0, 2, 1)
    assert [layer.kind for layer in net.layers].count("pad") == 1


def test_channels_last_linear_layers_and_layer_norm(tmp_path):
    """ConvNeXt's block: permute to channels-last, LayerNormalization, MatMul (a pointwise
    conv at every position), permute back, residual add."""
    g = GraphBuilder(4, 5, 5)
    stem = g.conv("x", 4, 4, name="dw", group=4, bias=False)
    x = g.node("Transpose", [stem], perm=[0, 2, 3, 1])
    x = g.node("LayerNormalization", [x, g._weight("gamma", [4])], axis=-1, name="norm")
    x = g.node("MatMul", [x, g._weight("w1", [4, 8])], name="fc1")
    x = g.node("MatMul", [x, g._weight("w2", [8, 4])], name="fc2")
    x = g.node("Transpose", [x], perm=[0, 3, 1, 2])
    x = g.node("Add", [stem, x], name="add")
    x = g.conv(x, 4, 2, kernel=1, pad=0, name="head", bias=False)
    net = check_views(g.model(x), tmp_path)
    assert [layer.kind for layer in net.layers] == ["depthwise", "normalization", "pointwise",
                                                    "pointwise", "pointwise"]
    assert "R" in net.layer("fc2").tensors  # the Add folds through the transpose


def test_a_flatten_before_a_gemm_and_a_gather(tmp_path):
    g = GraphBuilder(2, 3, 3)
    x = g.conv("x", 2, 4, kernel=1, pad=0, name="conv", bias=False)
    flat = g.node("Flatten", [x], axis=1)
    fc = g.gemm(flat, 36, 5, name="fc")
    row = g.node("Gather", [x, g.constant("index", [1])], axis=2, name="gather")
    row = g.node("Reshape", [row, g.constant("shape", [1, 4, 1, 3])])
    head = g.conv(row, 4, 2, kernel=1, pad=0, name="row_conv", bias=False)
    check_views(g.model([fc, head]), tmp_path)


def test_upsampling_and_transposed_convolution(tmp_path):
    """A detection neck: nearest upsampling into a Concat, a transposed conv head."""
    g = GraphBuilder(3, 4, 4)
    low = g.conv("x", 3, 4, stride=2, name="down", bias=False)
    up = g.node("Resize", [low, "", g.constant_float("scales", [1, 1, 2, 2])], name="up",
                mode="nearest")
    x = g.node("Concat", [up, g.conv("x", 3, 2, kernel=1, pad=0, name="lateral", bias=False)],
               axis=1, name="cat")
    weight = g._weight("wt", [6, 2, 2, 2])
    x = g.node("ConvTranspose", [x, weight], name="deconv", strides=[2, 2])
    net = check_views(g.model(x), tmp_path)
    assert net.layer("up").kind == "upsample" and net.layer("deconv").kind == "conv_transpose"


def test_residual_adds_fold_where_they_can(tmp_path):
    """``b + a`` folds into b's conv; a second Add on the same conv, an Add whose operand is
    read elsewhere, or an Add of the network input are add layers."""
    g = GraphBuilder(3, 5, 5)
    a = g.conv("x", 3, 3, kernel=1, pad=0, name="a", bias=False)
    b = g.conv(a, 3, 3, name="b", bias=False)
    s = g.node("Add", [a, b], name="fold")            # folded into b
    s2 = g.node("Add", [s, "x"], name="again")        # b already has R: an add layer
    c = g.conv(s2, 3, 3, kernel=1, pad=0, name="c", bias=False)
    d = g.node("Add", [c, a], name="shared")          # c's output is also read by e
    e = g.conv(c, 3, 3, kernel=1, pad=0, name="e", bias=False)
    out = g.conv(g.node("Add", [d, e], name="last"), 3, 2, kernel=1, pad=0, name="out",
                 bias=False)
    net = check_views(g.model(out), tmp_path)
    kinds = {layer.name: layer.kind for layer in net.layers}
    assert "R" in net.layer("b").tensors and "fold" not in kinds
    assert kinds["again"] == kinds["shared"] == "add"
    assert "R" in net.layer("e").tensors and "last" not in kinds  # e's output: only the Add


@pytest.mark.parametrize("ceil", [0, 1])
def test_pools_with_ceil_mode_match_onnx(tmp_path, ceil):
    g = GraphBuilder(2, 8, 7)
    x = g.node("MaxPool", ["x"], name="pool", kernel_shape=[3, 3], strides=[2, 2],
               pads=[0, 1, 0, 0], ceil_mode=ceil)
    x = g.node("AveragePool", [x], name="avg", kernel_shape=[2, 2], strides=[2, 2],
               ceil_mode=ceil, count_include_pad=0)
    x = g.conv(x, 2, 3, kernel=1, pad=0, name="conv", bias=False)
    net = check_views(g.model(x), tmp_path)
    assert net.layer("pool").output.shape[1:] == ((4, 4) if ceil else (3, 3))
    assert net.layer("avg").output.shape[1:] == ((2, 2) if ceil else (1, 1))


def test_a_decomposed_layer_norm_over_tokens(tmp_path):
    """PP-OCR's SVTR: (1, C, H, W) flattened to tokens (1, HW, C), then mean and variance
    along the channels by ReduceMean, and x - mean, / deviation as broadcasts."""
    g = GraphBuilder(4, 2, 3)
    x = g.conv("x", 4, 4, kernel=1, pad=0, name="conv", bias=False)
    tokens = g.node("Transpose", [g.node("Reshape", [x, g.constant("flat", [1, 4, 6])])],
                    perm=[0, 2, 1])
    mean = g.node("ReduceMean", [tokens], axes=[-1], name="mean")
    centred = g.node("Sub", [tokens, mean], name="centre")
    variance = g.node("ReduceMean", [g.node("Pow", [centred, g.constant_float("two", [2])])],
                      axes=[-1], name="variance")
    deviation = g.node("Sqrt", [g.node("Add", [variance, g.constant_float("eps", [1e-5])])])
    out = g.node("Div", [centred, deviation], name="normalise")
    out = g.node("MatMul", [out, g._weight("w", [4, 3])], name="fc")
    net = check_views(g.model(out), tmp_path)
    assert [layer.kind for layer in net.layers] == ["pointwise", "reduce", "broadcast",
                                                    "reduce", "broadcast", "pointwise"]


def test_a_view_made_of_pieces_still_splits_into_per_dim_components():
    """A Concat's slices compose into a view of several pieces; the layer's access must still
    be one convex map where it can be, or its footprint couples every dim (DenseNet's layers
    reading the block's features could not be searched)."""
    import islpy as isl

    from polyscan.polyhedral.footprint import relation_components

    layer = ps.pointwise(4, 2, 3, 3, name="p")
    box = "0 <= y < 3 and 0 <= x < 3"
    view = isl.Map(f"{{ I[c, y, x] -> T[c, y, x] : 0 <= c < 2 and {box}; "
                   f"I[c, y, x] -> T[c, y, x] : 2 <= c < 4 and {box} }}")
    viewed = layer.with_views({"I": ((6, 3, 3), view)})
    assert relation_components(viewed.nest, viewed.nest.operands["I"]) == \
        [(("c",), (0,)), (("y",), (1,)), (("x",), (2,))]
    schedule = dict(tile={"c": 3, "y": 2}, order=("c", "y"), traversal="scan")
    assert ps.traffic(ps.Schedule(viewed, **schedule)).total == \
        ps.traffic(ps.Schedule(layer, **schedule)).total
