"""The gamma rhythm of a PING binding sheet (models/{bars,shapes}-gamma.toml), measured two ways.

One run of the binding loop (the shipped model, ``--images`` held-out images of its data set,
seed 1, until every image made ``cycles x slots`` gamma cycles) with the engine, then:

- the interneurons' period: mean interval between the spikes of each image's interneuron over the
  last ``readout_cycles`` cycles (what ``bind`` reports as ``rhythm.period_steps``; D = slots x
  period);
- independently, the peak of the power spectrum of the excitatory population rate (per image,
  the spike count per step over the same steps, mean removed, Welch-free periodogram averaged over
  images) between 20 and 250 Hz.

Writes ``gamma_rhythm.png`` (raster of one image's last attention cycle coloured by object, with
its interneuron's spikes; the population-rate spectrum with both estimates) and
``gamma_rhythm.json`` to ``--out``.

Run: ``python analyses/gamma_rhythm.py --model shapes-gamma [--images 16] [--out analyses/out]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

MODELS = Path(__file__).resolve().parents[1] / "models"


def measure(model: str, n_images: int, cycles: int | None = None, seed: int = 1) -> dict:
    from hnnbio.ann.autoencoder import load_autoencoder
    from hnnbio.binding.bind import GammaCycles
    from hnnbio.binding.spec import load_spec
    from hnnbio.circuits import CIRCUITS
    from hnnbio.circuits.ping import rhythm
    from hnnbio.data.datasets import generate
    from hnnbio.hnn.engine import Simulation

    spec = load_spec(MODELS / f"{model}.toml")
    images, labels = generate(spec.dataset, n_images, seed)
    slots = int(spec.sheet_params["slots"])
    cycles = int(cycles or spec.loop["cycles"])
    sim = Simulation(spec.graph(load_autoencoder(spec)), images.reshape(n_images, -1), seed=seed,
                     circuits=CIRCUITS)
    out = sim.run(cycles * spec.steps_per_cycle, until=GammaCycles("sheet", cycles * slots),
                  check_every=GammaCycles.CHECK_EVERY)
    sheet = sim.populations["sheet"].sheet
    first_guess = rhythm(sheet.cycle_starts, n_images, dt_ms=spec.loop["dt_ms"])
    d = int(round(slots * first_guess["period_steps"]))
    first = max(0, out.n_steps - int(spec.loop["readout_cycles"]) * d)
    inter = rhythm(sheet.cycle_starts, n_images, first, spec.loop["dt_ms"])
    spikes = out.spikes["sheet"]
    keep = spikes.step >= first
    counts = np.zeros((n_images, out.n_steps - first))
    np.add.at(counts, (spikes.sample[keep], spikes.step[keep] - first), 1)
    counts -= counts.mean(axis=1, keepdims=True)
    power = (np.abs(np.fft.rfft(counts, axis=1)) ** 2).mean(axis=0)
    freq = np.fft.rfftfreq(counts.shape[1], d=spec.loop["dt_ms"] / 1000.0)
    band = (freq >= 20) & (freq <= 250)
    peak = float(freq[band][np.argmax(power[band])])
    return dict(model=model, images=n_images, seed=seed, steps=int(out.n_steps),
                slots=slots, interneuron_period_steps=inter["period_steps"],
                interneuron_frequency_hz=inter["frequency_hz"],
                period_sd_over_images=inter["period_sd"],
                steps_per_cycle=int(round(slots * inter["period_steps"])),
                spectrum_peak_hz=peak, first_step=int(first),
                _plot=dict(freq=freq, power=power, spikes=spikes, labels=labels,
                           starts=sheet.cycle_starts, first=first, n_steps=int(out.n_steps)))


def plot(row: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = row["_plot"]
    spikes, labels = p["spikes"], p["labels"].reshape(len(p["labels"]), -1)
    last = p["n_steps"] - row["steps_per_cycle"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    m = (spikes.sample == 0) & (spikes.step >= last)
    obj = labels[0][spikes.neuron[m]]
    order = np.argsort(np.argsort(labels[0]))  # pixels grouped by object on the y axis
    ax.scatter(spikes.step[m], order[spikes.neuron[m]], c=obj, cmap="tab10", s=4, vmin=0, vmax=9)
    for step, images in p["starts"]:
        if step >= last and 0 in images:
            ax.axvline(step, color="k", lw=0.6, alpha=0.5)
    ax.set_xlabel("step (1 ms); vertical lines: the image's interneuron spikes")
    ax.set_ylabel("pixel (sorted by object)")
    ax.set_title(f"{row['model']}: image 0, last cycle (D = {row['steps_per_cycle']} steps, "
                 f"{row['slots']} gamma cycles)", fontsize=10)
    band = (p["freq"] > 0) & (p["freq"] <= 300)
    bx.semilogy(p["freq"][band], p["power"][band], lw=1)
    bx.axvline(row["spectrum_peak_hz"], color="C1", ls="--",
               label=f"spectrum peak {row['spectrum_peak_hz']:.1f} Hz")
    bx.axvline(row["interneuron_frequency_hz"], color="C2", ls=":",
               label=f"1 / interneuron period {row['interneuron_frequency_hz']:.1f} Hz")
    bx.set_xlabel("frequency (Hz)")
    bx.set_ylabel("power of the excitatory population rate")
    bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="shapes-gamma")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--cycles", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("analyses/out"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    row = measure(args.model, args.images, args.cycles)
    plot(row, args.out / "gamma_rhythm.png")
    row.pop("_plot")
    (args.out / "gamma_rhythm.json").write_text(json.dumps(row, indent=1))
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
