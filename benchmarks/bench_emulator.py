"""Target: the emulator runs the exported Bars program at >= the float loop's images per second.

Both run the same images, the same number of cycles and batch size, one after the other in one
process with one thread each (torch, OpenBLAS). Prints images per second of each, with the shared
readout and scoring (k-means, AMI, Victor-Purpura silhouettes) and of the loop alone, and the
ratios emulator / float. With ``--repeat N`` both run N times, alternating, and the medians are
printed (the ratios are of the medians).

Also the emulator's arithmetic floor: the dense products it cannot skip (every layer after the
first, whose binary input is event-driven: float32 ``np.matmul`` of the batch, timed here, times
the steps), and the ratio the emulator would reach if its loop took only that time, with the
same readout: ``float total / (floor + emulator readout)``. The ratio target is out of reach
whenever that bound is below it.

    python benchmarks/bench_emulator.py --images 256 --batch-size 256 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def dense_floor_s(layers: list, batch: int, repeat: int = 50) -> float:
    """Seconds per step of the float32 products of every layer after the first (the emulator's
    own kernel for them, ``np.matmul`` into a kept buffer), at ``batch``."""
    import numpy as np

    seconds = 0.0
    for layer in layers[1:]:
        fused = layer["fused"]
        weight = (fused["float32_lut"][0] if fused and fused.get("float32_lut") is not None
                  else np.ones((max(t[1][1] for t in layer["tiles"]), layer["n_out"]),
                               np.float32))
        x = np.random.default_rng(0).integers(0, 256, (batch, weight.shape[0])).astype(np.float32)
        out = np.empty((batch, weight.shape[1]), np.float32)
        np.matmul(x, weight, out=out)
        start = time.perf_counter()
        for _ in range(repeat):
            np.matmul(x, weight, out=out)
        seconds += (time.perf_counter() - start) / repeat
    return seconds


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
        from hnnbio.chip.emulator import Emulator
        from hnnbio.chip.program import load_program

        emulator = Emulator(load_program(program))
        floor_step = dense_floor_s(emulator.layers, min(args.batch_size, args.images))
        steps = (args.cycles or int(emulator.program.manifest["loop"]["cycles"])) * int(
            emulator.program.manifest["loop"]["steps_per_cycle"])
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
    floor = floor_step * steps
    floor *= -(-args.images // args.batch_size)  # batches
    readout_s = args.images / rows["emulator_images_per_s"] - args.images / rows[
        "emulator_loop_images_per_s"]
    rows["emulator_floor_loop_images_per_s"] = args.images / floor
    rows["ratio_bound_at_floor"] = (args.images / rows["float_images_per_s"]) / (floor + readout_s)
    rows["ratio_emulator_over_float"] = rows["emulator_images_per_s"] / rows["float_images_per_s"]
    rows["ratio_loop_only"] = rows["emulator_loop_images_per_s"] / rows["float_loop_images_per_s"]
    for key, value in rows.items():
        print(f"{key:<34} {value:.4g}" if isinstance(value, float) else f"{key:<34} {value}")
    print(json.dumps(rows))
    return rows


if __name__ == "__main__":
    main()
