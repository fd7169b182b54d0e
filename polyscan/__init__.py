"""polyscan: exact DRAM traffic, energy and time of tiled, Scan-ordered and fused CNN
layer schedules."""

from . import zoo
from .constructors import (
    conv2d,
    depthwise,
    fully_connected,
    grouped_conv2d,
    pointwise,
    pool,
    scale,
)
from .dram import (
    DramCost,
    DramSettings,
    PresetError,
    TraceError,
    builtin_presets,
    dram_cost,
    load_preset,
    write_trace,
)
from .emit import EmitError, c_tensors, emit_c
from .errors import (
    CountOverflowError,
    KernelFileError,
    LayerShapeError,
    OutputError,
    PolyscanError,
    ScheduleError,
)
from .fusion import FusedGroup, FusedSchedule, FusionError
from .kernel import Kernel, builtin_kernel_names, load_kernel
from .layer import Layer, Tensor
from .nest import TensorKey
from .network import Network
from .onnx_import import OnnxImportError, load_onnx
from .plan import Plan, optimize_network
from .schedule import Schedule
from .search.bounds import LowerBound, lower_bound
from .search.compare import OrderComparison, compare_orders
from .search.optimizer import BufferTooSmallError, optimize, search_layer
from .traffic import Traffic, traffic

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
