"""AMI against cycles, and with adaptive stopping (``loop.stop = "stable"``), over seeds.

Per model and seed, the images are bound once for the spec's full ``cycles`` exactly as
:func:`hnnbio.binding.bind.bind` does (the same batches and batch seeds), with a
:class:`~hnnbio.binding.bind.StableStop` that records its statistic every cycle but never stops.
A run that stops after ``c`` cycles draws the same random numbers as the first ``c`` cycles of the
full run (``tests/binding/test_bind.py`` checks the spikes are identical), so the AMI of a stop at
cycle ``c`` is the readout of the full run's spikes up to step ``c * D`` (the last
``readout_cycles`` cycles before it). Printed per model: the AMI at fixed cycle counts and, per
``stable_cycles``, the mean cycles run and the AMI, as mean +- std over seeds of the per-seed mean.

    python analyses/adaptive_stop.py --models bars,corners,shapes --seeds 0 1 2 --images 256
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch


def run_full(spec, images, seed, batch_size):
    """Spikes of the full run and, per image, its batch's ``quiet`` counts per cycle."""
    from hnnbio.ann.autoencoder import load_autoencoder
    from hnnbio.binding.bind import StableStop
    from hnnbio.circuits import CIRCUITS
    from hnnbio.hnn.engine import Simulation

    graph = spec.graph(load_autoencoder(spec))
    D, cycles = spec.steps_per_cycle, int(spec.loop["cycles"])
    readout = int(spec.loop["readout_cycles"])
    flat = images.reshape(len(images), -1)
    parts, quiet = [], np.zeros((len(images), cycles), dtype=np.int64)
    for b, first in enumerate(range(0, len(images), batch_size)):
        batch = flat[first : first + batch_size]
        batch_seed = int(np.random.SeedSequence([seed, b]).generate_state(1)[0])
        sim = Simulation(graph, batch, seed=batch_seed, circuits=CIRCUITS)
        recorder = StableStop(spec.attention_name, batch, D, 10**9, readout)
        out = sim.run(cycles * D, until=recorder, check_every=D)
        s = out.spikes[spec.sheet_name]
        parts.append((s.sample + first, s.step, s.neuron))
        quiet[first : first + len(batch)] = recorder.quiet
    return [np.concatenate(p) for p in zip(*parts, strict=True)], quiet


def ami_at(spec, images, truth, spikes, cycles_per_image, seed):
    """Mean AMI of the readout of the spikes up to each image's cycle count."""
    from hnnbio.analysis.result import BindingResult
    from hnnbio.binding.evaluate import evaluate

    D, total = spec.steps_per_cycle, int(spec.loop["cycles"])
    image, step, pixel = spikes
    end = np.asarray(cycles_per_image)[image] * D
    keep = step < end
    step = step[keep] + (total * D - end[keep])  # aligned at the end, as bind does
    result = BindingResult(images=images, spike_image=image[keep], spike_step=step,
                           spike_pixel=pixel[keep], n_steps=total * D, steps_per_cycle=D,
                           dt_ms=float(spec.loop["dt_ms"]), truth=truth, model=spec.name,
                           backend="brian2",
                           info=dict(readout_cycles=int(spec.loop["readout_cycles"]),
                                     smoothing=list(spec.readout["smoothing"])))
    evaluate(result, seed=seed, scores=("ami",))
    return float(np.mean(result.metrics["ami"]))


def stop_cycles(quiet, stable_cycles, min_cycles):
    """The cycle at which each image's batch stops (the full length when it never does)."""
    n_cycles = quiet.shape[1]
    c = np.arange(1, n_cycles + 1)
    ok = (quiet >= stable_cycles) & (c >= min_cycles)
    return np.where(ok.any(1), ok.argmax(1) + 1, n_cycles)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="bars,corners,shapes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--cycles", type=int, nargs="+", default=[10, 15, 20, 30, 40, 50])
    parser.add_argument("--stable", type=int, nargs="+", default=[3, 5, 8, 12])
    parser.add_argument("--json", default=None, help="write the table here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("HNNBIO_TARGET", "numpy")
    from hnnbio.binding.spec import load_spec
    from hnnbio.data import datasets

    table = {}
    for model in args.models.split(","):
        spec = load_spec(model)
        readout = int(spec.loop["readout_cycles"])
        rows = {f"cycles={c}": [] for c in args.cycles}
        rows.update({f"stable_cycles={n}": [] for n in args.stable})
        ran = {n: [] for n in args.stable}
        for seed in args.seeds:
            start = time.perf_counter()
            images, truth = datasets.generate(spec.dataset, args.images, seed=1000 + seed)
            spikes, quiet = run_full(spec, images, seed, args.batch_size)
            for c in args.cycles:
                rows[f"cycles={c}"].append(ami_at(spec, images, truth, spikes,
                                                  np.full(len(images), c), seed))
            for n in args.stable:
                at = stop_cycles(quiet, n, readout)
                ran[n].append(float(at.mean()))
                rows[f"stable_cycles={n}"].append(ami_at(spec, images, truth, spikes, at, seed))
            print(f"# {model} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
        print(f"{model}: {args.images} images x {len(args.seeds)} seeds; AMI mean +- std over "
              "seeds of the per-seed mean")
        for key, values in rows.items():
            n = int(key.split("=")[1])
            extra = f"  cycles run {np.mean(ran[n]):5.1f}" if key.startswith("stable") else ""
            print(f"  {key:>17}  AMI {np.mean(values):.4f} +- {np.std(values):.4f}{extra}")
        table[model] = dict(rows=rows, cycles_run={str(k): v for k, v in ran.items()})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(table, f, indent=1)
    return table


if __name__ == "__main__":
    main()
