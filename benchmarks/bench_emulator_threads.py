"""The emulator under the thread pools a user's process has: numpy's BLAS (OpenBLAS, its own
threads) and torch (OpenMP), both at their defaults, as in ``hnnbio emulate``.

The emulator's steps alternate the two (the dense layers in numpy, the event-driven first layer
in torch's embedding_bag); ``hnnbio.chip.run.emulate`` runs torch at one thread
(``one_torch_thread``). This runs the same images with it (as shipped) and without it (both pools
at their defaults), alternating, in one process, and prints the loop seconds of each and their
ratio (medians over ``--repeat``). Nothing else is limited: the point is the default setting.

    python benchmarks/bench_emulator_threads.py --images 64 --repeat 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bars")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--cycles", type=int, default=None, help="default: the program's")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    import torch

    from hnnbio.chip import run as chip_run
    from hnnbio.chip.compiler import compile_model
    from hnnbio.data import datasets

    program = compile_model(args.model)
    images, _ = datasets.generate(program.manifest["model"]["dataset"], args.images, 0)
    shipped = chip_run.one_torch_thread
    times = {"one_torch_thread": [], "both_pools": []}
    for _ in range(args.repeat):
        for name in times:
            chip_run.one_torch_thread = shipped if name == "one_torch_thread" else \
                contextlib.nullcontext
            try:
                result = chip_run.emulate(program, images, cycles=args.cycles)
            finally:
                chip_run.one_torch_thread = shipped
            times[name].append(result.info["loop_seconds"])
    rows = {"model": args.model, "images": args.images, "repeat": args.repeat,
            "torch_threads": torch.get_num_threads()}
    for name, values in times.items():
        rows[f"{name}_loop_s"] = statistics.median(values)
    rows["speedup"] = rows["both_pools_loop_s"] / rows["one_torch_thread_loop_s"]
    for key, value in rows.items():
        print(f"{key:<24} {value:.3f}" if isinstance(value, float) else f"{key:<24} {value}")
    print(json.dumps(rows))
    return rows


if __name__ == "__main__":
    main()
