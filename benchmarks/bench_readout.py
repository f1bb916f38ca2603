"""Time the binding readout and scoring (``evaluate``: k-means, AMI, ami_auto, ARI-FG, ARI,
Victor-Purpura silhouettes) on one float-loop result, at one thread.

Binds ``--images`` Bars images once (not timed), then times ``evaluate`` ``--repeat`` times on
the same result and prints the seconds and the mean scores. To compare two versions of the code,
run this script in a checkout of each on the same machine, one after the other.

    python benchmarks/bench_readout.py --images 256 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bars")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    from hnnbio.binding.bind import bind
    from hnnbio.binding.evaluate import evaluate
    from hnnbio.binding.spec import load_spec
    from hnnbio.data import datasets

    torch.set_num_threads(1)
    spec = load_spec(args.model)
    images, labels = datasets.generate(spec.dataset, args.images, args.seed)
    with threadpool_limits(1):
        result = bind(images, spec, seed=args.seed, batch_size=args.images)
        result.truth = labels
        seconds = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            evaluate(result, seed=args.seed)
            seconds.append(time.perf_counter() - start)
    rows = {"model": args.model, "images": args.images, "seconds": seconds,
            "median_s": float(np.median(seconds)),
            **{k: float(np.nanmean(v)) for k, v in result.metrics.items()}}
    print(json.dumps(rows))
    return rows


if __name__ == "__main__":
    main()
