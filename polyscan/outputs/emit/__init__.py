"""Schedules as annotated C loop nests (docs/c_output.md).

``emit_c(schedule)`` returns a C99 translation unit whose ``polyscan_run`` executes the
schedule through one static on-chip buffer, moving exactly ``ps.traffic(schedule)``;
``c_tensors(schedule)`` names its DRAM tensors in argument order, ``c_resident(schedule)`` the
on-chip arrays of its resident operands (DESIGN 6b); ``polyscan.outputs.emit.harness`` compiles
and runs it.
"""


from ...errors import EmitError
from .unit import c_resident, c_tensors, emit_c

__all__ = ["EmitError", "c_resident", "c_tensors", "emit_c"]
