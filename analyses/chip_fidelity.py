"""Chip fidelity: AMI of exported binding models on the emulator vs the float loop (same images).

For each model: export to a program, run the float loop (``hnnbio.bind``, Brian2) and the emulator
on the same generated images with the same seed, score both with ``hnnbio.binding.evaluate`` and
print the mean AMI of each, the paired difference (emulator - float) with its standard error, and
whether |difference| <= 0.01 (the target on 500 images). Models whose weights are missing are
reported and skipped. With ``--run-seeds N`` both back ends also run with the seeds
``seed + 1 .. seed + N - 1`` on the same images (``--seed``'s), and a last line per model gives the
mean over the N runs of each and the difference of those means with its standard error (from
the spread across runs): one seed's difference carries the run-to-run spread of the float loop
itself (about 0.005 on 500 Shapes images).

    python analyses/chip_fidelity.py --models bars shapes --images 500 --json fidelity.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

TOLERANCE = 0.01


def fidelity(model: str, n_images: int, seed: int, batch_size: int, cycles: int | None,
             run_seed: int | None = None) -> dict:
    """Run one model both ways on the same images (of ``seed``; the runs seeded with ``run_seed``,
    default ``seed``); returns the row of the table."""
    from hnnbio.binding.bind import bind
    from hnnbio.binding.emulate import emulate
    from hnnbio.binding.spec import load_spec
    from hnnbio.chip.compiler import export
    from hnnbio.data import datasets

    spec = load_spec(model)
    if not spec.weights_path.exists():
        return {"model": model, "status": f"skipped: no weights at {spec.weights_path.name}"}
    images, labels = datasets.generate(spec.dataset, n_images, seed)
    seed = seed if run_seed is None else run_seed
    with tempfile.TemporaryDirectory() as tmp:
        program = Path(tmp) / f"{Path(model).stem}.hnnc"  # a name or a path
        summary = export(model, program)
        start = time.perf_counter()
        chip = emulate(program, images, seed=seed, truth=labels, batch_size=batch_size,
                       cycles=cycles)
        chip_s = time.perf_counter() - start
    start = time.perf_counter()
    ref = bind(images, spec, seed=seed, truth=labels, batch_size=batch_size, cycles=cycles)
    float_s = time.perf_counter() - start
    diff = chip.metrics["ami"] - ref.metrics["ami"]
    sem = float(np.std(diff, ddof=1) / np.sqrt(n_images)) if n_images > 1 else float("nan")
    row = {"model": model, "images": n_images, "seed": seed,
           "ami_float": float(np.mean(ref.metrics["ami"])),
           "ami_emulator": float(np.mean(chip.metrics["ami"])),
           "ami_diff": float(np.mean(diff)),
           "ami_diff_sem": sem,
           "synchrony_float": float(np.nanmean(ref.metrics["synchrony"])),
           "synchrony_emulator": float(np.nanmean(chip.metrics["synchrony"])),
           "rate_float": float(np.nanmean(ref.metrics["rate"])),
           "rate_emulator": float(np.nanmean(chip.metrics["rate"])),
           "float_images_per_s": n_images / float_s, "emulator_images_per_s": n_images / chip_s,
           "quantization": {k: v for k, v in summary.items() if k.startswith("error_")},
           "energy_uj_per_image": chip.info["counters"]["energy_uj_per_image"]}
    row["within_tolerance"] = abs(row["ami_diff"]) <= TOLERANCE
    row["status"] = "ok"
    return row


def summarise(runs: list[dict]) -> dict:
    """The mean over runs (seeds) of one model: AMI of each back end, their difference and its
    standard error from the spread of the per-run differences."""
    diff = np.array([r["ami_diff"] for r in runs])
    return {"model": runs[0]["model"], "images": runs[0]["images"], "runs": len(runs),
            "status": "mean", "seeds": [r["run_seed"] for r in runs],
            "ami_float": float(np.mean([r["ami_float"] for r in runs])),
            "ami_emulator": float(np.mean([r["ami_emulator"] for r in runs])),
            "ami_diff": float(diff.mean()),
            "ami_diff_sem": float(diff.std(ddof=1) / np.sqrt(diff.size)),
            "within_tolerance": bool(abs(diff.mean()) <= TOLERANCE)}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+",
                        default=["bars", "shapes", "bars-column", "shapes-column"])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--cycles", type=int, default=None, help="default: each spec's cycles")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--run-seeds", type=int, default=1,
                        help="runs per model on the same images (seeds seed .. seed + N - 1)")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the rows here")
    args = parser.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    from hnnbio.config import use_target

    torch.set_num_threads(args.threads)
    use_target()
    rows = []
    with threadpool_limits(args.threads):
        for model in args.models:
            runs = []
            for k in range(args.run_seeds):
                row = fidelity(model, args.images, args.seed, args.batch_size, args.cycles,
                               run_seed=args.seed + k)
                row["run_seed"] = args.seed + k
                rows.append(row)
                if row["status"] != "ok":
                    print(f"{model:<8} {row['status']}")
                    break
                runs.append(row)
                print(f"{model:<8} n={row['images']} seed {row['run_seed']}  AMI float "
                      f"{row['ami_float']:.4f}  emulator {row['ami_emulator']:.4f}  diff "
                      f"{row['ami_diff']:+.4f} +- {row['ami_diff_sem']:.4f}  within {TOLERANCE}: "
                      f"{row['within_tolerance']}  synchrony {row['synchrony_float']:.3f}"
                      f" / {row['synchrony_emulator']:.3f}  rate {row['rate_float']:.3f} / "
                      f"{row['rate_emulator']:.3f}  img/s {row['float_images_per_s']:.2f} / "
                      f"{row['emulator_images_per_s']:.2f}", flush=True)
            if len(runs) > 1:
                mean = summarise(runs)
                rows.append(mean)
                print(f"{model:<8} mean of {mean['runs']} runs  AMI float {mean['ami_float']:.4f}"
                      f"  emulator {mean['ami_emulator']:.4f}  diff {mean['ami_diff']:+.4f} +- "
                      f"{mean['ami_diff_sem']:.4f}  within {TOLERANCE}: "
                      f"{mean['within_tolerance']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
