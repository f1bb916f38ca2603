"""A cortical column sheet on one sample image, with attention cycling over its objects.

Used by ``hnnbio column --image shapes --steps 200 --plot raster.png``. No autoencoder runs here:
the top-down attention is an oracle that attends each ground-truth object in turn, for
``phase_steps`` steps each (attention 1 on that object's pixels, ``baseline`` elsewhere), so the
raster shows what the sheet does with attention: the columns of the attended object fire together,
the others stay nearly silent, background columns never fire.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from brian2 import Network, NetworkOperation, SpikeMonitor, ms

from hnnbio.circuits.column import POPULATIONS, ColumnParams, ColumnSheet
from hnnbio.config import seed_everything
from hnnbio.errors import DataError, ParameterError
from hnnbio.outputs import atomic_file, check_file


def oracle_attention(labels: np.ndarray, step: int, phase_steps: int,
                     baseline: float) -> np.ndarray:
    """Attention of one step: 1 on the object attended in this phase, ``baseline`` elsewhere.

    Parameters
    ----------
    labels : ndarray, shape (n_pixels,), int
        Object numbers 1..K (0 background / overlap).
    step : int
        Step number; object ``(step // phase_steps) % K + 1`` is attended.

    Returns
    -------
    ndarray, shape (n_pixels,), float
    """
    n_obj = max(int(labels.max()), 1)
    attended = (step // phase_steps) % n_obj + 1
    return np.where(labels == attended, 1.0, baseline)


def run_column_demo(image: str = "shapes", steps: int = 200, plot: str | None = None, seed: int = 0,
                    params: ColumnParams | None = None, phase_steps: int = 10,
                    baseline: float = 0.0, overwrite: bool = False) -> dict:
    """Simulate a column sheet on one generated image and count (and optionally plot) its spikes.

    Parameters
    ----------
    image : str
        Data set of the sample image (``bars``, ``shapes``, ``corners``).
    steps : int
        Steps of 1 ms to simulate (>= 1).
    plot : str, optional
        Write a PNG raster to this file (``.png``; not an existing one unless ``overwrite``):
        one panel per population, time in ms on x, foreground columns on y sorted by object.
    seed : int
        Seed of the image and of the simulation.
    params : ColumnParams, optional
    phase_steps : int
        Steps each object is attended in turn.
    baseline : float
        Attention of unattended pixels.
    overwrite : bool
        Replace an existing ``plot`` file.

    Returns
    -------
    dict
        ``spikes_<population>`` (spike counts), ``pixels``, ``foreground``, ``objects``, ``steps``,
        ``sync_attended`` (fraction of output spikes of object pixels that fall in their object's
        attention phase, shifted by the sheet's 2-step latency), ``seconds``.
    """
    from hnnbio.data.datasets import generate
    from hnnbio.hnn.engine import check_seed

    check_seed(seed)
    if plot is not None:
        plot = check_file(plot, overwrite, what="plot", parents=False)
        if plot.suffix.lower() != ".png":
            raise DataError(f"plot: {plot} must be a .png file")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ParameterError(f"steps: must be an integer >= 1, got {steps!r}")
    if isinstance(phase_steps, bool) or not isinstance(phase_steps, (int, np.integer)) \
            or phase_steps < 1:
        raise ParameterError(f"phase_steps: must be an integer >= 1, got {phase_steps!r}")
    start = time.perf_counter()
    images, labels = generate(image, 1, seed=seed, cache=False)
    x = images[0].reshape(1, -1).astype(float)
    lab = labels[0].reshape(-1).astype(int)
    seed_everything(seed)
    sheet = ColumnSheet(1, x.shape[1], params, dt=1.0)
    sheet.set_input(x)
    sheet.set_attention(oracle_attention(lab, 0, phase_steps, baseline)[None])
    monitors = {name: SpikeMonitor(group) for name, group in sheet.populations.items()}
    state = {"t": 0}

    def attend():
        state["t"] += 1
        sheet.set_attention(oracle_attention(lab, state["t"], phase_steps, baseline)[None])

    op = NetworkOperation(attend, dt=1 * ms, when="end")
    Network(*sheet.objects, *monitors.values(), op).run(steps * ms)
    spikes = {name: (np.asarray(m.i[:]), np.round(np.asarray(m.t / ms)).astype(int))
              for name, m in monitors.items()}

    out_i, out_t = spikes[sheet.params.output]
    latency = 2 if sheet.params.output == "coincidence" else 1
    obj = lab[out_i]
    attended = (np.maximum(out_t - latency, 0) // phase_steps) % max(lab.max(), 1) + 1
    on_object = obj > 0
    sync = (float(np.mean(obj[on_object] == attended[on_object])) if on_object.any()
            else float("nan"))
    rows = {f"spikes_{name}": int(i.size) for name, (i, _) in spikes.items()}
    rows.update(pixels=int(x.shape[1]), foreground=int(x.sum()), objects=int(lab.max()),
                steps=int(steps), sync_attended=sync)
    if plot:
        _plot_raster(plot, spikes, x[0], lab, steps, image)
    rows["seconds"] = time.perf_counter() - start
    return rows


def _plot_raster(path: Path, spikes: dict, x: np.ndarray, labels: np.ndarray, steps: int,
                 image: str) -> None:
    import matplotlib.pyplot as plt  # the caller's backend (Agg without a display)

    foreground = np.flatnonzero(x > 0)
    order = foreground[np.argsort(labels[foreground], kind="stable")]
    row_of = np.full(x.size, -1)
    row_of[order] = np.arange(order.size)
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(len(POPULATIONS), 1, figsize=(10, 2.2 * len(POPULATIONS)),
                             sharex=True, constrained_layout=True)
    for ax, name in zip(axes, POPULATIONS, strict=True):
        i, t = spikes[name]
        keep = row_of[i] >= 0
        obj = labels[i[keep]]
        ax.scatter(t[keep], row_of[i[keep]], s=1.5, marker="s",
                   c=[colours(o % 10) if o else "0.5" for o in obj],
                   linewidths=0)
        ax.set_ylabel(f"{name}\ncolumn (by object)")
        ax.set_facecolor("white")
        ax.set_ylim(-1, order.size)
        ax.set_title(f"{name}: {i.size} spikes", fontsize=9, loc="left")
    axes[-1].set_xlim(0, steps)
    axes[-1].set_xlabel("time (ms)")
    fig.suptitle(f"Column sheet on one '{image}' image: foreground columns sorted and coloured by "
                 f"object (grey: overlaps); attention cycles over objects", fontsize=10)
    try:  # written beside the target and renamed: a failed plot leaves no half PNG
        with atomic_file(path, what="plot", suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
