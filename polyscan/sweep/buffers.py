"""A network optimized at several buffer sizes: the traffic (and DRAM energy) curve of a
design space exploration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..cost.dram import DramSettings
from ..network.graph import Network
from ..network.partition import Progress, optimize_network
from ..network.plan import Plan
from ..search.optimizer import SEARCHABLE


@dataclass
class SweepPoint:
    buffer: int
    baseline: Plan  # lex, no fusion: the seed paper's baseline
    plan: Plan  # the optimized plan (fused, with resident tensors, unless asked otherwise)

    def to_dict(self) -> dict:
        cost, base = self.plan.dram_cost(), self.baseline.dram_cost()
        return {"buffer": self.buffer, "dram_entries": self.plan.total,
                "baseline_dram_entries": self.baseline.total, "floor": self.plan.floor,
                "groups": len(self.plan.groups), "energy_pj": cost.energy_pj,
                "baseline_energy_pj": base.energy_pj, "cycles": cost.cycles,
                "resident": len(self.plan.resident), "seconds": self.plan.seconds}


def sweep(net: Network, buffers: Sequence[int], fusion: bool = True,
          traversals=SEARCHABLE, objective: str = "traffic", dram: DramSettings | None = None,
          progress: Progress | None = None, resident: bool | None = None) -> list[SweepPoint]:
    """``optimize_network`` at each buffer size, with the lex, no-fusion baseline beside it
    (``resident`` as in ``optimize_network``)."""
    points = []
    for buffer in buffers:
        baseline = optimize_network(net, buffer, fusion=False, traversals=("lex",),
                                    progress=progress, objective=objective, dram=dram)
        plan = optimize_network(net, buffer, fusion=fusion, traversals=traversals,
                                progress=progress, objective=objective, dram=dram,
                                resident=resident)
        points.append(SweepPoint(buffer, baseline, plan))
    return points
