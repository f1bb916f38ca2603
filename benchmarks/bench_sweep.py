"""Sweep scaling: the same sweep on a LocalCluster of 1 and of 2 workers, side by side.

Prints images per second for each and the speed-up (ideal: the number of workers, on a machine with
that many free cores). Usage::

    python benchmarks/bench_sweep.py [--images 32] [--shard-images 8] [--cycles 20]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from hnnbio.sweep import sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bars")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--shard-images", type=int, default=8)
    parser.add_argument("--cycles", type=int, default=20)
    args = parser.parse_args()
    spec = {
        "models": [args.model],
        "seeds": [1],
        "images": args.images,
        "shard_images": args.shard_images,
        "cycles": args.cycles,
    }
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            start = time.perf_counter()
            rows = sweep(dict(spec), Path(tmp) / f"w{workers}", progress=False, n_workers=workers)
            seconds = time.perf_counter() - start
            rates[workers] = args.images / seconds
            print(
                f"{workers} worker(s): {seconds:.1f} s, {rates[workers]:.2f} images/s, "
                f"AMI {rows[0]['ami']:.3f}"
            )
    print(
        json.dumps(
            {
                "model": args.model,
                "images": args.images,
                "images_per_s_1": rates[1],
                "images_per_s_2": rates[2],
                "speedup_2_vs_1": rates[2] / rates[1],
            }
        )
    )


if __name__ == "__main__":
    main()
