"""polyscan: exact DRAM traffic, energy and time of tiled, Scan-ordered and fused CNN
layer schedules."""

from .api import dram_cost, optimize_network, sweep, timing, write_trace
from .caches import clear_cache, install_store
from .cost.accelerator import Accelerator, builtin_accelerators, load_accelerator
from .cost.dram import DramCost, DramSettings
from .cost.dram.presets import builtin_presets, load_preset
from .cost.timing import TimeCost
from .cost.traffic import Traffic, traffic
from .errors import (
    AcceleratorError,
    BufferTooSmallError,
    CountOverflowError,
    EmitError,
    FusionError,
    KernelFileError,
    LayerShapeError,
    OnnxImportError,
    OutputError,
    PolyscanError,
    PresetError,
    ScheduleError,
    TraceError,
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
from .model.fusion import FusedGroup, FusedSchedule
from .model.kernel import Kernel, builtin_kernel_names, load_kernel
from .model.layer import Layer, Tensor
from .model.nest import TensorKey
from .model.schedule import Schedule
from .network import zoo
from .network.graph import Network
from .network.onnx_import import load_onnx
from .network.plan import Plan
from .outputs.emit import c_resident, c_tensors, emit_c
from .outputs.tables import comparison_table, plan_table
from .search.bounds import LowerBound, lower_bound
from .search.compare import OrderComparison, compare_orders
from .search.optimizer import optimize, search_layer
from .sweep.grid import Grid, load_grid
from .sweep.results import read_rows as read_results
from .sweep.store import from_environment as _cache_from_environment

install_store(_cache_from_environment)  # the on-disk cache (DESIGN 7a), made on first use

__all__ = [
    "Accelerator", "AcceleratorError", "BufferTooSmallError", "CountOverflowError", "DramCost",
    "DramSettings", "EmitError", "FusedGroup", "FusedSchedule", "FusionError", "Grid", "Kernel",
    "KernelFileError", "Layer", "LayerShapeError", "LowerBound", "Network", "OnnxImportError",
    "OrderComparison", "OutputError", "Plan", "PolyscanError", "PresetError", "Schedule",
    "ScheduleError", "Tensor", "TensorKey", "TimeCost", "TraceError", "Traffic",
    "builtin_accelerators", "builtin_kernel_names", "builtin_presets", "c_resident", "c_tensors",
    "clear_cache", "compare_orders", "comparison_table", "conv2d", "depthwise", "dram_cost",
    "emit_c", "fully_connected", "grouped_conv2d", "load_accelerator", "load_grid",
    "load_kernel", "load_onnx", "load_preset", "lower_bound", "optimize", "optimize_network",
    "plan_table", "pointwise", "pool", "read_results", "scale", "search_layer", "sweep",
    "timing", "traffic", "write_trace", "zoo",
]
