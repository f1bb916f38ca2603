"""Chip fidelity: AMI of exported binding models on the emulator vs the float loop (same images).

For each model: export to a program, run the float loop (``hnnbio.bind``, Brian2) and the emulator
on the same generated images with the same seed, score both with ``hnnbio.binding.evaluate`` and
print the mean AMI of each, the paired difference (emulator - float) with its standard error, and
whether |difference| <= 0.03 (the target). Models whose weights are missing are reported and
skipped.

    python analyses/chip_fidelity.py --models bars shapes --images 500 --json fidelity.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

TOLERANCE = 0.03


def fidelity(model: str, n_images: int, seed: int, batch_size: int, cycles: int | None) -> dict:
    """Run one model both ways on the same images; returns the row of the table."""
    from hnnbio.binding.bind import bind
    from hnnbio.binding.emulate import emulate
    from hnnbio.binding.spec import load_spec
    from hnnbio.chip.compiler import export
    from hnnbio.data import datasets

    spec = load_spec(model)
    if not spec.weights_path.exists():
        return {"model": model, "status": f"skipped: no weights at {spec.weights_path.name}"}
    images, labels = datasets.generate(spec.dataset, n_images, seed)
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


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+",
                        default=["bars", "shapes", "bars-column", "shapes-column"])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--cycles", type=int, default=None, help="default: each spec's cycles")
    parser.add_argument("--threads", type=int, default=1)
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
            row = fidelity(model, args.images, args.seed, args.batch_size, args.cycles)
            rows.append(row)
            if row["status"] != "ok":
                print(f"{model:<8} {row['status']}")
                continue
            print(f"{model:<8} n={row['images']}  AMI float {row['ami_float']:.4f}  emulator "
                  f"{row['ami_emulator']:.4f}  diff {row['ami_diff']:+.4f} +- "
                  f"{row['ami_diff_sem']:.4f}  within {TOLERANCE}: {row['within_tolerance']}  "
                  f"synchrony {row['synchrony_float']:.3f}"
                  f" / {row['synchrony_emulator']:.3f}  rate {row['rate_float']:.3f} / "
                  f"{row['rate_emulator']:.3f}  img/s {row['float_images_per_s']:.2f} / "
                  f"{row['emulator_images_per_s']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
