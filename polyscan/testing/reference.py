"""Reference outputs of layers and fused chains, written with numpy from each kind's textbook
definition; they share nothing with the emitted C they check (tests, benchmarks/emit_c.py).

A layer of an imported network may read a slice or a shuffle of a tensor and write a slice
of a Concat (``Tensor.view``): its inputs are gathered into the kernel's own shapes through
the views, the textbook output computed there and scattered back into the tensor it writes.
"""

import functools

import islpy as isl
import numpy as np


def windows(image: np.ndarray, v: dict, dilated: bool = True) -> np.ndarray:
    """``(C, KH, KW, OH, OW)``: the padded input under every kernel tap and output position."""
    dh, dw = (v["DILH"], v["DILW"]) if dilated else (1, 1)
    padded = np.pad(image, ((0, 0), (v["PT"], v["PB"]), (v["PL"], v["PR"])))
    oh = (image.shape[1] + v["PT"] + v["PB"] - dh * (v["KH"] - 1) - 1) // v["SH"] + 1
    ow = (image.shape[2] + v["PL"] + v["PR"] - dw * (v["KW"] - 1) - 1) // v["SW"] + 1
    rows = (np.arange(v["KH"])[:, None] * dh + np.arange(oh)[None, :] * v["SH"])
    cols = (np.arange(v["KW"])[:, None] * dw + np.arange(ow)[None, :] * v["SW"])
    return padded[:, rows[:, None, :, None], cols[None, :, None, :]]


def _transposed(i: np.ndarray, w: np.ndarray, v: dict) -> np.ndarray:
    """ConvTranspose: every input element scatters ``W[c, k] * I[c, h, w]`` into the output
    window at ``(SH*h + DILH*r - PT, SW*w + DILW*s - PL)``; what falls outside is cropped."""
    oh = (v["IH"] - 1) * v["SH"] - v["PT"] - v["PB"] + v["DILH"] * (v["KH"] - 1) + v["OPH"] + 1
    ow = (v["IW"] - 1) * v["SW"] - v["PL"] - v["PR"] + v["DILW"] * (v["KW"] - 1) + v["OPW"] + 1
    out = np.zeros((v["K"], oh, ow), dtype=np.int64)
    for r in range(v["KH"]):
        for s in range(v["KW"]):
            contribution = np.einsum("ck,chw->khw", w[:, :, r, s], i)
            for h in range(v["IH"]):
                y = v["SH"] * h + v["DILH"] * r - v["PT"]
                if 0 <= y < oh:
                    for x_in in range(v["IW"]):
                        x = v["SW"] * x_in + v["DILW"] * s - v["PL"]
                        if 0 <= x < ow:
                            out[:, y, x] += contribution[:, h, x_in]
    return out


def _reached(v: dict) -> np.ndarray:
    """The outputs of a ConvTranspose that some input element and kernel tap reach (a
    kernel narrower than its stride leaves gaps)."""
    ones = {"I": np.ones((v["C"], v["IH"], v["IW"]), dtype=np.int64),
            "W": np.ones((v["C"], v["K"], v["KH"], v["KW"]), dtype=np.int64)}
    return _transposed(ones["I"], ones["W"], v) > 0


def _kernel_output(layer, t: dict[str, np.ndarray]) -> np.ndarray:
    """The textbook output of ``layer`` from its tensors in the kernel's own shapes."""
    v, kind = layer.symbols, layer.kind
    i = t["I"]
    if kind == "pointwise":
        return np.einsum("kc,cyx->kyx", t["W"], i)
    if kind == "fully_connected":
        return t["W"] @ i
    if kind == "scale":
        return i * t["S"][:, None, None]
    if kind == "pool":
        return windows(i, v, dilated=False).sum(axis=(1, 2))
    if kind == "depthwise":
        return np.einsum("crs,crsyx->cyx", t["W"], windows(i, v))
    if kind == "conv2d":
        return np.einsum("kcrs,crsyx->kyx", t["W"], windows(i, v))
    if kind == "grouped_conv2d":
        g, kg, cg = v["G"], v["KG"], v["CG"]
        w = t["W"].reshape(g, kg, cg, v["KH"], v["KW"])
        taps = windows(i, v).reshape(g, cg, v["KH"], v["KW"], *windows(i, v).shape[3:])
        return np.einsum("gkcrs,gcrsyx->gkyx", w, taps).reshape(g * kg, *taps.shape[4:])
    if kind in ("add", "copy"):
        return i
    if kind == "multiply":
        return i * t["J"]
    if kind == "upsample":
        return np.repeat(np.repeat(i, v["SH"], axis=1), v["SW"], axis=2)
    if kind == "pad":
        return np.pad(i, ((0, 0), (v["PT"], v["PB"]), (v["PL"], v["PR"])))
    if kind == "normalization":  # every output reads its whole channel vector (a sum here)
        return np.broadcast_to(i.sum(axis=0), i.shape).copy()
    if kind == "reduce":
        return i.sum(axis=0, keepdims=True)
    if kind == "broadcast":
        return i * t["J"]
    if kind == "matmul":
        return np.einsum("bik,bkj->bij", i, t["J"])
    if kind == "conv_transpose":
        return _transposed(i, t["W"], v)
    raise ValueError(f"no reference for {kind}")


def layer_output(layer, tensors: dict[str, np.ndarray], background=None) -> np.ndarray:
    """The layer's output (int64; ``R`` added when present) from its read tensors, as the
    tensor it writes: a layer writing a slice of a larger tensor fills its slice of
    ``background`` (zeros when not given), the rest stays."""
    kernel = {name: _gather(layer.tensors[name], np.asarray(value).astype(np.int64))
              for name, value in tensors.items()}
    out = _kernel_output(layer, kernel)
    if "R" in kernel:
        out = out + kernel["R"]
    if layer.kind == "conv_transpose" and background is not None:
        # a kernel narrower than its stride leaves outputs no iteration writes: they keep
        # what they held
        kept = _gather(layer.output, np.asarray(background).astype(np.int64))
        out = np.where(_reached(layer.symbols), out, kept)
    return _scatter(layer.output, out, background)


def chain_outputs(layers, inputs: dict, external: dict) -> dict[str, np.ndarray]:
    """Every layer's output in a fused chain, as the tensor it writes: ``external`` holds the
    DRAM tensors by traffic key; ``inputs`` maps a ``TensorKey`` to the producing layers
    (several: the disjoint slices of one tensor, summed into it)."""
    outputs = {}
    for layer in layers:
        tensors = {}
        for name, tensor in layer.tensors.items():
            if tensor.role == "output":
                continue
            key = next((k for k in inputs if k.layer == layer.name and k.tensor == name), None)
            if key is None:
                value = external[next(k for k in external
                                      if k.layer == layer.name and k.tensor == name)]
            else:
                value = sum(outputs[p] for p in inputs[key])
            tensors[name] = value.reshape(tensor.shape)
        outputs[layer.name] = layer_output(layer, tensors)
    return outputs


def schedule_outputs(schedule, values: dict, background: dict | None = None) -> dict:
    """Reference value of every DRAM tensor ``schedule`` writes, by traffic key, from the
    read ones in ``values``; ``background[key]`` is what an output held before (kept where
    its layer writes nothing)."""
    background = background or {}
    layers = schedule.layers
    if len(layers) == 1:
        out = schedule.layer.output.name
        return {out: layer_output(schedule.layer, {k: v for k, v in values.items()
                                                   if k != out}, background.get(out))}
    chain = chain_outputs(layers, schedule.group.inputs, values)
    written = {}
    for layer in layers:
        key = next((k for k in values if k.layer == layer.name
                    and k.tensor == layer.output.name), None)
        if key is not None:
            written[key] = _merge(layer.output, chain[layer.name], background.get(key))
    return written


def _merge(tensor, value: np.ndarray, background) -> np.ndarray:
    """``value`` where ``tensor`` writes, ``background`` elsewhere."""
    if background is None or tensor.view is None:
        return value
    mask = np.zeros(tensor.shape, dtype=bool)
    _, storage = _view_points(tensor)
    mask[tuple(storage.T)] = True
    return np.where(mask, value, np.asarray(background).reshape(tensor.shape))


def _gather(tensor, value: np.ndarray) -> np.ndarray:
    """A tensor's elements in the kernel's own shape, from the tensor it is a view of."""
    value = value.reshape(tensor.shape)
    if tensor.view is None:
        return value
    kernel, storage = _view_points(tensor)
    out = np.zeros(tensor.kernel_shape, dtype=np.int64)
    out[tuple(kernel.T)] = value[tuple(storage.T)]
    return out


def _scatter(tensor, value: np.ndarray, background=None) -> np.ndarray:
    """Kernel-shaped ``value`` placed into the tensor ``tensor`` is a view of."""
    if tensor.view is None:
        return value
    out = np.zeros(tensor.shape, dtype=np.int64) if background is None else \
        np.array(background, dtype=np.int64).reshape(tensor.shape)
    kernel, storage = _view_points(tensor)
    out[tuple(storage.T)] = value[tuple(kernel.T)]
    return out


@functools.lru_cache(maxsize=256)
def _points_of(view_text: str, rank: int) -> tuple[np.ndarray, np.ndarray]:
    found = []
    isl.Map(view_text).wrap().foreach_point(lambda p: found.append(
        [p.get_coordinate_val(isl.dim_type.set, i).to_python()
         for i in range(p.get_space().dim(isl.dim_type.set))]))
    points = np.array(found, dtype=np.int64).reshape(len(found), -1)
    return points[:, :rank], points[:, rank:]


def _view_points(tensor) -> tuple[np.ndarray, np.ndarray]:
    """(kernel element, tensor element) pairs of a view, one row each."""
    return _points_of(tensor.view.to_str(), len(tensor.kernel_shape))
