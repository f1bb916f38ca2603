"""Target: the emulator runs the exported Bars program at >= the float loop's images per second.

Both run the same images, the same number of cycles and batch size, one after the other in one
process with one thread each (torch, OpenBLAS). Prints images per second of each, with the shared
readout and scoring (k-means, AMI, Victor-Purpura silhouettes) and of the loop alone, and the
ratios emulator / float. With ``--repeat N`` both run N times, alternating, and the medians are
printed (the ratios are of the medians).

    python benchmarks/bench_emulator.py --images 256 --batch-size 256 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bars")
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--cycles", type=int, default=None, help="default: the spec's 50")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, medians printed")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    from hnnbio.binding.bind import bind
    from hnnbio.binding.emulate import emulate
    from hnnbio.binding.spec import load_spec
    from hnnbio.chip.compiler import export
    from hnnbio.config import use_target
    from hnnbio.data import datasets

    use_target()
    spec = load_spec(args.model)
    images, labels = datasets.generate(spec.dataset, args.images, args.seed)
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(args.threads):
        program = Path(tmp) / f"{args.model}.hnnc"
        export(args.model, program)
        rows = {"model": args.model, "images": args.images, "batch_size": args.batch_size,
                "threads": args.threads, "repeat": args.repeat}
        settings = dict(seed=args.seed, truth=labels, batch_size=args.batch_size,
                        cycles=args.cycles)
        runs = {"float": [], "emulator": []}
        for _ in range(args.repeat):
            for name, run in (("float", lambda: bind(images, spec, **settings)),
                              ("emulator", lambda: emulate(program, images, **settings))):
                start = time.perf_counter()
                result = run()
                runs[name].append((args.images / (time.perf_counter() - start),
                                   args.images / result.info["loop_seconds"]))
                rows[f"{name}_ami"] = float(result.metrics["ami"].mean())
        for name, values in runs.items():
            total, loop = np.median(np.array(values), axis=0)
            rows[f"{name}_images_per_s"] = float(total)
            rows[f"{name}_loop_images_per_s"] = float(loop)
    rows["ratio_emulator_over_float"] = rows["emulator_images_per_s"] / rows["float_images_per_s"]
    rows["ratio_loop_only"] = rows["emulator_loop_images_per_s"] / rows["float_loop_images_per_s"]
    for key, value in rows.items():
        print(f"{key:<28} {value:.4g}" if isinstance(value, float) else f"{key:<28} {value}")
    print(json.dumps(rows))
    return rows


if __name__ == "__main__":
    main()
