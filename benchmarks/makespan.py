"""MobileNetV2's makespan on an accelerator (docs/time.md): the plans without and with
fusion, timed serial and double-buffered, the plan searched under the double-buffered
capacity rule and the latency-objective plan, with search seconds, compute cycles,
utilisation and total energy.

    python benchmarks/makespan.py [--accel zigzag-like] [--buffer 65536]
"""

import argparse
import time

import polyscan as ps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accel", default="zigzag-like")
    parser.add_argument("--buffer", type=int, default=None,
                        help="entries (default: the accelerator's buffer)")
    args = parser.parse_args()
    accel = ps.load_accelerator(args.accel)
    buffer = args.buffer or accel.buffer
    net = ps.zoo.mobilenet_v2()
    print(f"MobileNetV2 at {buffer:,} entries on {accel.name} ({accel.rows}x{accel.cols}, "
          f"{accel.clock_mhz:g} MHz, {accel.dram})")
    print(f"{'plan':44} {'search s':>8} {'entries':>10} {'makespan':>10} {'compute':>10} "
          f"{'util':>6} {'peak':>8} {'fits':>5} {'mJ':>7}")
    for label, kwargs in (("no fusion", dict(fusion=False)), ("fused", {}),
                          ("fused, double-buffered search", dict(double_buffer=True)),
                          ("fused, latency objective", dict(objective="latency", accel=accel))):
        start = time.perf_counter()
        plan = ps.optimize_network(net, buffer, progress=False, **kwargs)
        seconds = time.perf_counter() - start
        for overlapped in (False, True):
            timed = plan.time(accel, overlapped)
            print(f"{label + (', overlapped timeline' if overlapped else ', serial'):44} "
                  f"{seconds:8.1f} {plan.total:10,} {timed.cycles:10,} "
                  f"{timed.compute_cycles:10,} {timed.utilisation:6.1%} {timed.peak:8,} "
                  f"{str(timed.fits):>5} {timed.energy_pj / 1e9:7.3f}")
    print("issue 15: ZigZag (unfused) 2,337,512 cycles, Stream (fused) 1,980,440 cycles; "
          "ZigZag 3.9.1 measured here: 1,780,721 (benchmarks/zigzag_compare.py)")


if __name__ == "__main__":
    main()
