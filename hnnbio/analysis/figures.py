"""Figures of the synchrony report (PNG, matplotlib's Agg backend).

Each function draws one figure and writes it to ``path``; every axis has a label with its unit.
"""

from __future__ import annotations

import numpy as np

from hnnbio.analysis.objects import phase_histogram
from hnnbio.analysis.scores import pearson_with


def _plt():
    # the backend is the caller's (inline in notebooks; Agg without a display)
    import matplotlib.pyplot as plt

    return plt


def _colours(n: int):
    plt = _plt()
    base = plt.get_cmap("tab20" if n > 10 else "tab10")
    return [base(i % base.N) for i in range(n)]


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def plot_raster(result, labels: np.ndarray, image: int, path, cycles: int = 3):
    """Spikes of the last ``cycles`` cycles, object pixels sorted and coloured by object."""
    plt = _plt()
    lab = labels[image]
    d = int(result.steps_per_cycle)
    first = max(result.n_steps - cycles * d, 0)
    objects = np.unique(lab[lab > 0])
    order = np.flatnonzero(lab > 0)[np.argsort(lab[lab > 0], kind="stable")]
    row_of = np.full(lab.size, -1)
    row_of[order] = np.arange(order.size)
    keep = (
        (result.spike_image == image)
        & (result.spike_step >= first)
        & (row_of[result.spike_pixel] >= 0)
    )
    t = result.spike_step[keep] * result.dt_ms
    pix = result.spike_pixel[keep]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for colour, obj in zip(_colours(objects.size), objects, strict=False):
        sel = lab[pix] == obj
        ax.scatter(t[sel], row_of[pix[sel]], s=4, color=colour, marker="|", label=f"object {obj}")
    for c in range(first // d, result.n_steps // d + 1):
        ax.axvline(c * d * result.dt_ms, color="0.8", lw=0.6, zorder=0)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("object pixel (sorted by object)")
    ax.set_title(f"Spike raster, image {image}, last {cycles} cycles (grey lines: cycle starts)")
    if objects.size <= 12:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, markerscale=3)
    return _save(fig, path)


def plot_sttc_matrix(
    sttc: np.ndarray, object_of_row: np.ndarray, image: int, window_ms: float, path
):
    """STTC of every pair of object pixels, rows and columns sorted by object."""
    plt = _plt()
    order = np.argsort(object_of_row, kind="stable")
    m = sttc[np.ix_(order, order)]
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    im = ax.imshow(m, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    fig.colorbar(im, ax=ax, label="STTC (dimensionless)")
    bounds = np.flatnonzero(np.diff(object_of_row[order])) + 0.5
    for b in bounds:
        ax.axhline(b, color="k", lw=0.5)
        ax.axvline(b, color="k", lw=0.5)
    ax.set_xlabel("object pixel (sorted by object)")
    ax.set_ylabel("object pixel (sorted by object)")
    ax.set_title(f"STTC matrix, image {image} (window ±{window_ms:g} ms)")
    return _save(fig, path)


def plot_spike_contrast(curves: list, path):
    """Spike-contrast synchrony against bin size, one line per image."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, (image, curve) in enumerate(curves):
        ax.plot(
            curve["bin_size"],
            curve["synchrony"],
            lw=1.2 if k == 0 else 0.6,
            alpha=1 if k == 0 else 0.5,
            label=f"image {image}" if k < 8 else None,
        )
    ax.set_xscale("log")
    ax.set_xlabel("bin size (ms)")
    ax.set_ylabel("spike-contrast synchrony (0-1)")
    ax.set_title("Spike contrast of object pixels (Elephant)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_cch(lags_ms, within, across, steps_per_cycle: int, dt_ms: float, path):
    """Mean normalised CCH of within-object and across-object pairs."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(lags_ms, within, color="C3", label="within object")
    ax.plot(lags_ms, across, color="C0", label="across objects")
    ax.axvline(0, color="0.7", lw=0.6)
    ax.set_xlabel("lag (ms)")
    ax.set_ylabel(r"CCH / $\sqrt{n_i n_j}$ (coincidences per spike)")
    ax.set_title(
        f"Cross-correlograms, mean over pairs and images (cycle {steps_per_cycle * dt_ms:g} ms)"
    )
    ax.legend()
    return _save(fig, path)


def plot_scores(result, summary, path):
    """Synchrony and rate scores against AMI per image (if present), and STTC within vs across."""
    plt = _plt()
    m = result.metrics
    has_scores = "ami" in m and ("synchrony" in m or "rate" in m)
    fig, axes = plt.subplots(1, 2 if has_scores else 1, figsize=(10 if has_scores else 5, 4))
    axes = np.atleast_1d(axes)
    if has_scores:
        ax = axes[0]
        ami = np.asarray(m["ami"])[summary.images]
        for key, colour in (("synchrony", "C3"), ("rate", "C0")):
            if key in m:
                y = np.asarray(m[key])[summary.images]
                r = pearson_with(ami, y)
                ax.scatter(ami, y, s=12, color=colour, label=f"{key} score (Pearson r = {r:.2f})")
        ax.set_xlabel("AMI of predicted groups")
        ax.set_ylabel("silhouette score (-1 to 1)")
        ax.set_title("Synchrony vs rate score per image")
        ax.legend(fontsize=8)
    ax = axes[-1]
    ax.scatter(summary.sttc_across, summary.sttc_within, s=12, color="C2")
    ax.plot([-1, 1], [-1, 1], color="0.6", lw=0.8, label="within = across")
    ax.set_xlim(-0.5, 1.02)
    ax.set_ylim(-0.5, 1.02)
    ax.set_xlabel("mean STTC, across-object pairs")
    ax.set_ylabel("mean STTC, within-object pairs")
    ax.set_title("STTC per image")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_phases(result, image: int, by: str, path):
    """Fraction of each object's spikes at each phase of the cycle."""
    plt = _plt()
    hist, objects = phase_histogram(result, image, by=by)
    phase_ms = np.arange(hist.shape[1]) * result.dt_ms
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for colour, obj, h in zip(_colours(objects.size), objects, hist, strict=False):
        ax.plot(phase_ms, h, color=colour, label=f"object {obj}")
    ax.set_xlabel("phase within the cycle (ms)")
    ax.set_ylabel("fraction of the object's spikes")
    ax.set_title(
        f"Phase histograms, image {image} "
        f"({'ground truth' if by == 'truth' else 'predicted'} objects)"
    )
    if objects.size <= 12:
        ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)
