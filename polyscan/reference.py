"""Reference outputs of layers and fused chains, written with numpy from each kind's textbook
definition; they share nothing with the emitted C they check (tests, benchmarks/emit_c.py)."""

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


def layer_output(layer, tensors: dict[str, np.ndarray]) -> np.ndarray:
    """The layer's output from its input tensors (int64; ``R`` added when present)."""
    v, kind = layer.symbols, layer.kind
    i = tensors["I"].astype(np.int64)
    if kind == "pointwise":
        out = np.einsum("kc,cyx->kyx", tensors["W"].astype(np.int64), i)
    elif kind == "fully_connected":
        out = tensors["W"].astype(np.int64) @ i
    elif kind == "scale":
        out = i * tensors["S"].astype(np.int64)[:, None, None]
    elif kind == "pool":
        out = windows(i, v, dilated=False).sum(axis=(1, 2))
    elif kind == "depthwise":
        out = np.einsum("crs,crsyx->cyx", tensors["W"].astype(np.int64), windows(i, v))
    elif kind == "conv2d":
        out = np.einsum("kcrs,crsyx->kyx", tensors["W"].astype(np.int64), windows(i, v))
    elif kind == "grouped_conv2d":
        g, kg, cg = v["G"], v["KG"], v["CG"]
        w = tensors["W"].astype(np.int64).reshape(g, kg, cg, v["KH"], v["KW"])
        taps = windows(i, v).reshape(g, cg, v["KH"], v["KW"], *windows(i, v).shape[3:])
        out = np.einsum("gkcrs,gcrsyx->gkyx", w, taps).reshape(g * kg, *taps.shape[4:])
    else:
        raise ValueError(f"no reference for {kind}")
    if "R" in tensors:
        out = out + tensors["R"].astype(np.int64)
    return out


def chain_outputs(layers, inputs: dict[str, str], external: dict[str, np.ndarray]):
    """Every layer's output in a fused chain: ``external`` holds ``"<layer>.<tensor>"`` DRAM
    tensors; ``inputs`` maps ``"<layer>.<tensor>"`` to the producing layer."""
    outputs = {}
    for layer in layers:
        tensors = {}
        for name, tensor in layer.tensors.items():
            if tensor.role == "output":
                continue
            key = f"{layer.name}.{name}"
            value = outputs[inputs[key]] if key in inputs else external[key]
            tensors[name] = value.reshape(tensor.shape)
        outputs[layer.name] = layer_output(layer, tensors)
    return outputs


def schedule_outputs(schedule, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reference value of every DRAM tensor ``schedule`` writes, by traffic key, from the
    read ones in ``values``."""
    layers = getattr(schedule, "layers", None)
    if layers is None:
        out = schedule.layer.output.name
        return {out: layer_output(schedule.layer, {k: v for k, v in values.items()
                                                   if k != out})}
    chain = chain_outputs(layers, schedule.group.inputs, values)
    return {f"{layer.name}.{layer.output.name}": chain[layer.name] for layer in layers
            if f"{layer.name}.{layer.output.name}" in values}
