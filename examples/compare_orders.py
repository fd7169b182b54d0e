"""Lex against Scan (and Z-order, Hilbert) on one MobileNetV2 layer, side by side.

``ps.compare_orders`` gives the best schedule of every traversal under a buffer: lex once per
loop order (exact), scan over all orders (exact), and the best of a candidate set for Z-order
and Hilbert, which have no exact search. The table shows each row's traffic per tensor against
the layer's lower bound; the last line says whether Scan beats the best lex schedule.

Run: python examples/compare_orders.py [LAYER]   (default b2_dw, where the two tie at 4K;
     try b6_project, where Scan wins)
"""

import sys

from rich.console import Console

import polyscan as ps

BUFFER = 4096  # entries
name = sys.argv[1] if len(sys.argv) > 1 else "b2_dw"  # b2_dw: depthwise 3x3, 144 x 56 x 56
layer = ps.zoo.mobilenet_v2().layer(name)
comparison = ps.compare_orders(layer, BUFFER)

# A fixed width keeps the table whole when stdout is not a terminal (a pipe, a file, CI).
Console(width=150).print(ps.comparison_table(comparison, lex_rows=6))

lex, scan = comparison.best("lex"), comparison.best("scan")
gain = lex.traffic.total - scan.traffic.total
bound = comparison.bound.value
print(f"best lex  (order {','.join(lex.schedule.order)}): {lex.traffic.total:,} entries, "
      f"{lex.traffic.total / bound:.3f} x the bound, {lex.traffic.tiles:,} tiles")
print(f"best scan (order {','.join(scan.schedule.order)}): {scan.traffic.total:,} entries, "
      f"{scan.traffic.total / bound:.3f} x the bound, {scan.traffic.tiles:,} tiles")
if gain > 0:
    print(f"Conclusion: Scan moves {gain:,} fewer entries than the best lex schedule "
          f"({gain / lex.traffic.total:.1%} less).")
elif gain == 0:
    print(f"Conclusion: lex and Scan tie at {lex.traffic.total:,} entries"
          + (", the compulsory traffic: no schedule moves less."
             if lex.traffic.total == comparison.bound.compulsory else "."))
else:
    print(f"Conclusion: lex beats Scan by {-gain:,} entries.")
