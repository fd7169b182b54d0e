"""polyscan: exact DRAM traffic, energy and time of tiled, Scan-ordered and fused CNN
layer schedules."""

from .cost.dram import (
    DramCost,
    DramSettings,
    PresetError,
    TraceError,
    builtin_presets,
    dram_cost,
    load_preset,
    write_trace,
)
from .cost.traffic import Traffic, traffic
from .errors import (
    CountOverflowError,
    KernelFileError,
    LayerShapeError,
    OutputError,
    PolyscanError,
    ScheduleError,
)
from .model.constructors import (
    conv2d,
    depthwise,
    fully_connected,
    grouped_conv2d,
    pointwise,
    pool,
    scale,
)
from .model.fusion import FusedGroup, FusedSchedule, FusionError
from .model.kernel import Kernel, builtin_kernel_names, load_kernel
from .model.layer import Layer, Tensor
from .model.nest import TensorKey
from .model.schedule import Schedule
from .network import zoo
from .network.graph import Network
from .network.onnx_import import OnnxImportError, load_onnx
from .network.plan import Plan, optimize_network
from .outputs.emit import EmitError, c_tensors, emit_c
from .search.bounds import LowerBound, lower_bound
from .search.compare import OrderComparison, compare_orders
from .search.optimizer import BufferTooSmallError, optimize, search_layer

__all__ = [
    "BufferTooSmallError", "CountOverflowError", "DramCost", "DramSettings", "EmitError",
    "FusedGroup", "FusedSchedule", "FusionError", "Kernel", "KernelFileError", "Layer",
    "LayerShapeError", "LowerBound", "Network", "OnnxImportError", "OrderComparison",
    "OutputError", "Plan", "PolyscanError", "PresetError", "Schedule", "ScheduleError",
    "Tensor", "TensorKey", "TraceError", "Traffic", "builtin_kernel_names", "builtin_presets",
    "c_tensors", "compare_orders", "conv2d", "depthwise", "dram_cost", "emit_c",
    "fully_connected", "grouped_conv2d", "load_kernel", "load_onnx", "load_preset",
    "lower_bound", "optimize", "optimize_network", "pointwise", "pool", "scale", "search_layer",
    "traffic", "write_trace", "zoo",
]
