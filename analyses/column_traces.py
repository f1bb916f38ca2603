"""Membrane traces of the cortical microcircuit in the binding loop: what each element does.

One binding run of ``models/<name>-microcircuit.toml`` on a few images, with two column elements
set from the flags (``--plateau-threshold``: the NMDA-like plateau dendrite's onset, 0 removes
it; ``--inhibition-steps`` and ``--interneuron-inputs``: one inhibitory interneuron per column;
see :mod:`hnnbio.circuits.column`). The defaults exaggerate them against the shipped files
(onset 0.15 instead of 0.07, 3 silent steps after one relay instead of 1 after 3) so that each
shows in a few cycles of one image. After ``cycles - record`` cycles, Brian2 StateMonitors and
SpikeMonitors are added to the engine's network (``Simulation.network``) for the columns of the
first image and the run goes on for ``record`` cycles; two columns are kept, on the two objects
with the most output spikes (StateMonitors read at the start of a step: a neuron that fired
shows its reset value, its spikes are the ticks). Recorded per
column: the top-down attention (the dendrite's fast drive), the plateau potential ``u`` and Mg
unblock ``m`` of its dendrite, the membrane ``v`` of its pyramidal neurons (one per chain), the
autapse current ``i_self`` of its self-inhibiting neurons (own spikes and the interneuron's
inhibition), the interneuron's input current ``i_syn`` (the chains' relayed spikes) and the
coincidence detector's box potential ``v``; with the raster of the sheet's output spikes on
the first image, pixels ordered by object.

Written: ``column_traces.png`` and ``column_traces.json`` (the traces, spike steps, summary).

    python analyses/column_traces.py --model bars --images 2 --out analyses/out
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

MODELS = Path(__file__).resolve().parents[1] / "models"
TRACED = {  # population -> variables recorded
    "dendrite": ["i_td", "u", "m"],
    "pyramidal": ["v"],
    "self_inhibiting": ["i_self"],
    "interneuron": ["i_syn"],
    "coincidence": ["v"],
}


def model_spec(name: str, plateau_threshold: float, inhibition_steps: int, cycles: int,
               interneuron_inputs: int = 1):
    """The microcircuit spec with the two elements set. A plateau gates out attention below its
    threshold, and the loop's first cycle carries only the random soft assignment (about 1/D per
    slot): the plateau model starts from ``initial = "ones"`` (every pixel attended once)."""
    from hnnbio.binding.spec import _from_raw, load_spec

    spec = load_spec(MODELS / f"{name}-microcircuit.toml")
    change = {"inhibition_steps": int(inhibition_steps),
              "interneuron_inputs": int(interneuron_inputs),
              "plateau_threshold": float(plateau_threshold)}
    spec = spec.replace(sheet_params={**spec.sheet_params, **change},
                        loop={"cycles": cycles, "readout_cycles": min(cycles, 10)})
    if plateau_threshold > 0:
        raw = spec.to_dict()
        raw["units"][spec.attention_name]["initial"] = "ones"
        spec = _from_raw(raw, spec.path)
    return spec


def pick_columns(truth: np.ndarray, units, counts: np.ndarray) -> list[dict]:
    """Two columns of image 0 on two different objects: on each of the two objects with the most
    output spikes, the pixel whose column spiked most (``counts``: output spikes per flat pixel
    of image 0 over the recorded cycles); flat index and neuron index in the sheet."""
    labels = truth[0].ravel()
    objects = [o for o in np.unique(labels[labels > 0])]
    totals = [counts[labels == o].sum() for o in objects]
    chosen = []
    for obj in [objects[k] for k in np.argsort(totals)[::-1][:2]]:
        pixels = np.flatnonzero(labels == obj)
        flat = int(pixels[np.argmax(counts[pixels])])
        neuron = int(np.searchsorted(units, flat)) if units is not None else flat
        chosen.append(dict(object=int(obj), pixel=flat, neuron=neuron))
    return chosen


def run(name: str = "bars", n_images: int = 2, seed: int = 0, cycles: int = 12,
        record: int = 2, plateau_threshold: float = 0.15, inhibition_steps: int = 3,
        interneuron_inputs: int = 1) -> dict:
    from brian2 import SpikeMonitor, StateMonitor, ms

    from hnnbio.ann.autoencoder import load_autoencoder
    from hnnbio.circuits import CIRCUITS
    from hnnbio.data import datasets
    from hnnbio.hnn.engine import Simulation

    spec = model_spec(name, plateau_threshold, inhibition_steps, cycles, interneuron_inputs)
    images, truth = datasets.generate(spec.dataset, n_images, seed)
    graph = spec.graph(load_autoencoder(spec))
    sim = Simulation(graph, images.reshape(n_images, -1), seed=seed, circuits=CIRCUITS)
    D = spec.steps_per_cycle
    sim.run((cycles - record) * D)
    sheet = sim.populations[spec.sheet_name].sheet
    m = sheet.chains
    n_pixels = images[0].size
    # every foreground column of image 0 is recorded; two are kept once the spikes are known
    image0 = np.flatnonzero(sheet.units < n_pixels) if sheet.units is not None \
        else np.arange(n_pixels)
    record_of = {"dendrite": image0, "interneuron": image0, "coincidence": image0,
                 "pyramidal": (image0[:, None] * m + np.arange(m)).ravel(),
                 "self_inhibiting": (image0[:, None] * m + np.arange(m)).ravel()}
    step = sheet.dt * ms
    states, spikes = {}, {}
    for pop, variables in TRACED.items():
        if pop not in sheet.populations:
            continue
        group = sheet.populations[pop]
        states[pop] = StateMonitor(group, variables, record=record_of[pop], dt=step,
                                   name=f"trace_{pop}*")
        if pop != "dendrite":
            spikes[pop] = SpikeMonitor(group, name=f"trace_spikes_{pop}*")
    sim.network.add(*states.values(), *spikes.values())
    start = sim.t
    out = sim.run(record * D)
    sheet_spikes = out.spikes[spec.sheet_name]
    first = sheet_spikes.sample == 0
    raster = dict(step=sheet_spikes.step[first].tolist(),  # steps of the whole run
                  pixel=sheet_spikes.neuron[first].tolist())
    counts = np.bincount(sheet_spikes.neuron[first], minlength=n_pixels)
    columns = pick_columns(truth, sheet.units, counts)
    index = {"dendrite": [c["neuron"] for c in columns],
             "interneuron": [c["neuron"] for c in columns],
             "coincidence": [c["neuron"] for c in columns]}
    for pop in ("pyramidal", "self_inhibiting"):
        index[pop] = [c["neuron"] * m + k for c in columns for k in range(m)]

    traces, summary = {}, {}
    for pop, mon in states.items():
        traces[pop] = {}
        rows = np.searchsorted(record_of[pop], index[pop])
        for var in TRACED[pop]:
            values = np.asarray(getattr(mon, var))[rows]  # (neurons, steps), SI units
            unit = {"i_td": 1e-9, "i_self": 1e-9, "i_syn": 1e-9, "u": 1e-3, "v": 1e-3}.get(var,
                                                                                       1.0)
            traces[pop][var] = (values / unit).round(5).tolist()
    for pop, mon in spikes.items():
        wanted = np.asarray(index[pop])
        steps_of = np.round(np.asarray(mon.t / ms) / sheet.dt).astype(int) - start
        keep = np.isin(mon.i[:], wanted)
        spikes[pop] = {int(i): steps_of[keep][mon.i[:][keep] == i].tolist() for i in wanted}
        summary[pop] = dict(spikes_per_neuron_per_step=float(np.mean(
            [len(v) for v in spikes[pop].values()]) / (record * D)))
    if "dendrite" in traces:
        u = np.asarray(traces["dendrite"]["u"])
        summary["dendrite"] = dict(plateau_fraction=float(np.mean(u > 10.0)))
    return dict(model=f"{name}-microcircuit", images=n_images, seed=seed, cycles=cycles,
                recorded_cycles=record, steps_per_cycle=D, start_step=start,
                sheet_params=dict(spec.sheet_params), chains=m, columns=columns,
                units={"i_td": "nA", "u": "mV", "v": "mV", "i_self": "nA", "i_syn": "nA",
                       "m": "1"},
                traces=traces, spikes=spikes, raster=raster,
                labels=truth[0].ravel().tolist(), summary=summary)


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    traces, cols, m = data["traces"], data["columns"], data["chains"]
    n_steps = data["recorded_cycles"] * data["steps_per_cycle"]
    t = np.arange(n_steps)
    rows = [("dendrite", "i_td", "top-down drive i_td (nA)"),
            ("dendrite", "u", "plateau potential u (mV)"),
            ("pyramidal", "v", "pyramidal v (mV), chains"),
            ("self_inhibiting", "i_self", "self-inhibiting i_self (nA)"),
            ("interneuron", "i_syn", "interneuron input i_syn (nA)"),
            ("coincidence", "v", "coincidence box v (mV)")]
    rows = [r for r in rows if r[0] in traces]
    fig, axes = plt.subplots(len(rows) + 1, 2, figsize=(13, 2.0 * (len(rows) + 1)),
                             sharex=True, squeeze=False)
    for c, col in enumerate(cols):
        for r, (pop, var, label) in enumerate(rows):
            ax = axes[r, c]
            values = np.asarray(traces[pop][var])
            per = m if pop in ("pyramidal", "self_inhibiting") else 1
            for k in range(per):
                ax.plot(t, values[c * per + k, :n_steps], lw=0.8)
            spk = data["spikes"].get(pop, {})
            for k in range(per):
                steps = spk.get(str(col["neuron"] * per + k), spk.get(col["neuron"] * per + k, []))
                ax.plot(steps, np.full(len(steps), values[c * per:(c + 1) * per].max()), "|",
                        color=f"C{k}", ms=6)
            ax.set_ylabel(label, fontsize=7)
            if r == 0:
                ax.set_title(f"column of pixel {col['pixel']} (object {col['object']})",
                             fontsize=9)
    ax = axes[-1, 0]
    labels = np.asarray(data["labels"])
    steps, pixels = np.asarray(data["raster"]["step"]), np.asarray(data["raster"]["pixel"])
    keep = steps >= data["start_step"]
    order = np.argsort(labels, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    ax.scatter(steps[keep] - data["start_step"], rank[pixels[keep]], s=1.5,
               c=labels[pixels[keep]], cmap="tab20")
    ax.set_ylabel("output raster, image 0\n(pixels by object)", fontsize=7)
    ax.set_xlabel("step of the recorded cycles")
    axes[-1, 1].axis("off")
    axes[-1, 1].text(0, 0.5, json.dumps(data["summary"], indent=1)[:600], fontsize=7,
                     family="monospace", va="center")
    shown = {k: v for k, v in data["sheet_params"].items()
             if k in ("refractory_steps", "chains", "up_inputs", "plateau_threshold",
                      "inhibition_steps", "interneuron_inputs")}
    fig.suptitle(f"{data['model']}, {data['images']} image(s), last {data['recorded_cycles']} "
                 f"of {data['cycles']} cycles: {shown}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bars", help="bars, shapes or corners")
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cycles", type=int, default=12)
    parser.add_argument("--record", type=int, default=2, help="cycles recorded at the end")
    parser.add_argument("--plateau-threshold", type=float, default=0.15)
    parser.add_argument("--inhibition-steps", type=int, default=3)
    parser.add_argument("--interneuron-inputs", type=int, default=1)
    parser.add_argument("--out", default="analyses/out")
    args = parser.parse_args(argv)
    if not 1 <= args.record < args.cycles:
        parser.error("--record must lie in [1, cycles)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = run(args.model, args.images, args.seed, args.cycles, args.record,
               args.plateau_threshold, args.inhibition_steps, args.interneuron_inputs)
    (out / "column_traces.json").write_text(json.dumps(data))
    plot(data, out / "column_traces.png")
    print(json.dumps(data["summary"]))
    print(f"wrote {out / 'column_traces.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
