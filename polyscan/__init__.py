"""polyscan: exact DRAM traffic of tiled, Scan-ordered and fused CNN layer schedules."""

from . import zoo
from .constructors import conv2d, depthwise, fully_connected, pointwise, pool
from .errors import KernelFileError, LayerShapeError, PolyscanError, ScheduleError
from .fusion import FusedGroup, FusedSchedule, FusionError
from .kernel import Kernel, builtin_kernel_names, load_kernel
from .layer import Layer, Tensor
from .network import Network
from .plan import Plan, optimize_network
from .schedule import Schedule
from .search.bounds import LowerBound, lower_bound
from .search.compare import OrderComparison, compare_orders
from .search.optimizer import BufferTooSmallError, optimize, search_layer
from .traffic import Traffic, traffic

__all__ = [
    "BufferTooSmallError", "FusedGroup", "FusedSchedule", "FusionError", "Kernel",
    "KernelFileError", "Layer", "LayerShapeError", "LowerBound", "Network", "OrderComparison",
    "Plan", "PolyscanError", "Schedule", "ScheduleError", "Tensor", "Traffic",
    "builtin_kernel_names", "compare_orders", "conv2d", "depthwise", "fully_connected",
    "load_kernel", "lower_bound", "optimize", "optimize_network", "pointwise", "pool",
    "search_layer", "traffic", "zoo",
]
