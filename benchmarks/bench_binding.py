"""Throughput of hnnbio's batched Brian2 loop vs the one-image-at-a-time reference loop.

Both run in this process on the same images; both include their readout and AMI (``speedup``);
``speedup_all_scores`` also counts hnnbio's synchrony, rate and ami_auto scores. The reference runs
one image at a time on one torch thread; hnnbio runs on ``--threads`` torch threads (default 1, the
headline comparison; the batch lets hnnbio use more cores, the one-image loop cannot). Imports
(Brian2's included) happen before either clock starts, as the reference's own imports do.
Prints images per second of each and their ratio, the peak memory (RSS) of one batch of 256
Shapes images (measured in a child process), and the autoencoder's arithmetic limit: its FLOPs
per image (2 * in * out per dense layer per step, every step of every cycle) over the FLOP/s of
the same dense products timed here at the batch size (``torch.addmm``, the loop's own kernel),
so the gap between the loop and the floor its arithmetic sets is visible. The loop's first layer
is event-driven (its input, the window, is binary and sparse), so the products it cannot skip are
those of the later layers: ``dense_floor_s_per_image`` is their share of the floor, and
``max_speedup_at_floor`` the reference's time over that floor plus the readout measured here
(what no loop of these products and this readout can beat at this thread count). With
``--stop stable`` hnnbio's batches end once their phase assignment is stable (``loop.stop``); the
floor is then that of the cycles actually run, and the reference still runs every cycle (its
protocol).

    python benchmarks/bench_binding.py --model bars --images 256 --reference-images 8
    python benchmarks/bench_binding.py --model bars --images 256 --reference-images 8 --stop stable
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from reference_loop import reference_bind  # noqa: E402

RSS_CHILD = """
import os, resource, sys, numpy as np, torch
torch.set_num_threads(1)
from hnnbio.data import datasets
from hnnbio.binding.bind import bind
images, labels = datasets.generate("shapes", 256, seed=5)
bind(images, "shapes", seed=5, batch_size=256, truth=labels, cycles=int(sys.argv[1]))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_mb(cycles: int) -> float:
    """Peak RSS (MB) of a child process binding 256 Shapes images as one batch."""
    env = dict(os.environ, HNNBIO_TARGET=os.environ.get("HNNBIO_TARGET", "numpy"))
    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, str(cycles)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def arithmetic_floor(net, batch: int, steps: int, repeat: int = 20) -> dict:
    """FLOPs per image of ``steps`` autoencoder passes and the measured FLOP/s of its products."""
    layers = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    flops_step = sum(2 * m.in_features * m.out_features for m in layers)
    xs = [torch.rand(batch, m.in_features) for m in layers]
    with torch.no_grad():
        for m, x in zip(layers, xs, strict=True):  # warm up
            torch.addmm(m.bias, x, m.weight.t())
        start = time.perf_counter()
        for _ in range(repeat):
            for m, x in zip(layers, xs, strict=True):
                torch.addmm(m.bias, x, m.weight.t())
        seconds = (time.perf_counter() - start) / repeat
    flops_per_s = flops_step * batch / seconds
    dense = sum(2 * m.in_features * m.out_features for m in layers[1:])
    return {
        "ae_flops_per_image": float(flops_step * steps),
        "matmul_gflops": flops_per_s / 1e9,
        "arithmetic_floor_s_per_image": flops_step * steps / flops_per_s,
        "dense_floor_s_per_image": dense * steps / flops_per_s,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bars")
    parser.add_argument("--images", type=int, default=128, help="images for hnnbio.bind")
    parser.add_argument("--reference-images", type=int, default=8, help="images for the reference")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--cycles", type=int, default=None)
    parser.add_argument("--rss-cycles", type=int, default=50, help="cycles of the 256-image run")
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for hnnbio")
    parser.add_argument("--stop", default=None, choices=("none", "stable"),
                        help="hnnbio's loop.stop (default the spec's: none)")
    parser.add_argument("--stable-cycles", type=int, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("HNNBIO_TARGET", "numpy")

    from hnnbio.ann.autoencoder import load_autoencoder
    from hnnbio.binding.bind import bind
    from hnnbio.binding.spec import load_spec
    from hnnbio.data import datasets
    from hnnbio.hnn import engine  # noqa: F401  (imports Brian2 before the clock starts)

    if args.threads < 1:
        raise SystemExit(f"--threads: must be >= 1, got {args.threads}")

    spec = load_spec(args.model)
    net = load_autoencoder(spec)
    images, truth = datasets.generate(spec.dataset, args.images, seed=11)
    ref_ami, ref_seconds = reference_bind(
        images[: args.reference_images],
        truth[: args.reference_images],
        net,
        spec,
        cycles=args.cycles,
    )
    torch.set_num_threads(args.threads)
    start = time.perf_counter()  # the same work as the reference: loop, k-means readout, AMI
    result = bind(
        images,
        spec,
        seed=11,
        batch_size=args.batch_size,
        truth=truth,
        cycles=args.cycles,
        autoencoder=net,
        scores=("ami",),
        stop=args.stop,
        stable_cycles=args.stable_cycles,
    )
    seconds = time.perf_counter() - start
    start = time.perf_counter()  # and with every score: synchrony, rate, ami_auto too
    bind(
        images,
        spec,
        seed=11,
        batch_size=args.batch_size,
        truth=truth,
        cycles=args.cycles,
        autoencoder=net,
        stop=args.stop,
        stable_cycles=args.stable_cycles,
    )
    seconds_all = time.perf_counter() - start
    row = {
        "model": args.model,
        "threads": args.threads,
        "hnnbio_images_per_s": args.images / seconds,
        "hnnbio_all_scores_images_per_s": args.images / seconds_all,
        "reference_images_per_s": args.reference_images / ref_seconds,
        "hnnbio_ami": float(np.mean(result.metrics["ami"])),
        "reference_ami": float(np.mean(ref_ami)),
        "loop_s_per_image": result.info["loop_seconds"] / args.images,
        "readout_s_per_image": (seconds - result.info["loop_seconds"]) / args.images,
        "reference_s_per_image": ref_seconds / args.reference_images,
    }
    row["speedup"] = row["hnnbio_images_per_s"] / row["reference_images_per_s"]
    # the floor of the steps hnnbio ran (fewer than n_steps when a batch stopped early)
    cycles_run = np.asarray(result.info.get("cycles_run", result.info["cycles"]), dtype=float)
    row["stop"] = result.info["stop"]
    row["hnnbio_cycles_run"] = float(cycles_run.mean())
    steps = int(round(row["hnnbio_cycles_run"] * result.steps_per_cycle))
    row.update(arithmetic_floor(net, min(args.batch_size, args.images), steps))
    row["gap_to_floor"] = (1 / row["hnnbio_images_per_s"]) / row["arithmetic_floor_s_per_image"]
    row["max_speedup_at_floor"] = row["reference_s_per_image"] / (
        row["dense_floor_s_per_image"] + row["readout_s_per_image"])
    row["speedup_all_scores"] = (
        row["hnnbio_all_scores_images_per_s"] / row["reference_images_per_s"]
    )
    if not args.no_rss:
        row["peak_rss_mb_shapes_256"] = peak_rss_mb(args.rss_cycles)
    for key, value in row.items():
        print(f"{key:>28}  {value:.4g}" if isinstance(value, float) else f"{key:>28}  {value}")
    print(json.dumps(row))
    return row


if __name__ == "__main__":
    main()
