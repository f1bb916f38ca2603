"""Figures of a binding result: input and groups, raster by object, attention through a cycle."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    # the backend is the caller's (inline in notebooks; Agg without a display)
    import matplotlib.pyplot as plt

    return plt


def _cmap(n: int):
    from matplotlib.colors import ListedColormap

    plt = _plt()
    base = plt.get_cmap("tab20" if n > 10 else "tab10")
    colours = [(0.1, 0.1, 0.1, 1.0)] + [base(i % base.N) for i in range(max(n, 1))]
    return ListedColormap(colours)


def plot_groups(result, image: int = 0, path=None):
    """Input, ground truth (if any) and predicted groups of one image side by side."""
    plt = _plt()
    panels = [("input", result.images[image], "gray")]
    n = int(
        max(
            result.labels[image].max() if result.labels is not None else 0,
            result.truth[image].max() if result.truth is not None else 0,
        )
    )
    if result.truth is not None:
        panels.append(("ground truth", result.truth[image], _cmap(n)))
    if result.labels is not None:
        title = "predicted groups"
        if "ami" in result.metrics:
            title += f" (AMI {result.metrics['ami'][image]:.2f})"
        panels.append((title, result.labels[image], _cmap(n)))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4))
    for ax, (title, data, cmap) in zip(np.atleast_1d(axes), panels, strict=True):
        ax.imshow(
            data, cmap=cmap, interpolation="nearest", vmin=0, vmax=None if cmap == "gray" else n
        )
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle(f"{result.model}: image {image}", fontsize=11)
    return _finish(fig, path)


def plot_raster(result, image: int = 0, cycles: int = 3, path=None):
    """Spikes of the last ``cycles`` cycles, pixels sorted and coloured by object (or group)."""
    plt = _plt()
    groups = result.truth if result.truth is not None else result.labels
    first = max(0, result.n_steps - cycles * result.steps_per_cycle)
    raster = result.raster(image, first)
    group = groups[image].reshape(-1) if groups is not None else np.ones(result.n_pixels, int)
    fg = np.flatnonzero(result.images[image].reshape(-1) > 0)
    order = fg[np.argsort(group[fg], kind="stable")]
    t, row = np.nonzero(raster[:, order])
    n = int(group.max(initial=1))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.scatter(t + first, row, c=group[order][row], cmap=_cmap(n), vmin=0, vmax=n, s=4, marker="|")
    for c in range(first, result.n_steps + 1, result.steps_per_cycle):
        ax.axvline(c, color="0.8", lw=0.5, zorder=0)
    ax.set_xlabel(f"step (cycle = {result.steps_per_cycle} steps)")
    ax.set_ylabel("foreground pixel (sorted by object)")
    ax.set_title(
        f"{result.model}: spikes of image {image}, last {cycles} cycles, "
        f"coloured by {'object' if result.truth is not None else 'group'}",
        fontsize=10,
    )
    return _finish(fig, path)


def plot_attention(result, image: int = 0, path=None):
    """The top-down attention maps applied at each step of the last cycle, tiled in one image."""
    plt = _plt()
    maps = result.attention[image]
    d, h, w = maps.shape
    cols = int(np.ceil(np.sqrt(d * 1.5)))
    rows = int(np.ceil(d / cols))
    gap = 2
    mosaic = np.full((rows * (h + gap), cols * (w + gap)), np.nan, dtype=np.float32)
    for k in range(d):
        r, c = divmod(k, cols)
        mosaic[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = maps[k]
    fig, ax = plt.subplots(figsize=(1.2 * cols, 1.25 * rows + 0.6))
    im = ax.imshow(mosaic, cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    for k in range(d):
        r, c = divmod(k, cols)
        ax.text(c * (w + gap) + 1, r * (h + gap) + 1, f"{k}", color="w", fontsize=6, va="top")
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.02, label="attention c")
    ax.set_title(
        f"{result.model}: attention at each step of the last cycle (image {image})", fontsize=10
    )
    return _finish(fig, path)


def write_figures(result, folder, image: int = 0) -> list[Path]:
    """Write groups.png, raster.png and attention.png (if attention is recorded) into ``folder``."""
    folder = Path(folder)
    paths = [folder / "groups.png", folder / "raster.png"]
    plot_groups(result, image, paths[0])
    plot_raster(result, image, path=paths[1])
    if result.attention is not None:
        paths.append(folder / "attention.png")
        plot_attention(result, image, paths[2])
    return paths


def _finish(fig, path):
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return Path(path)


#: Colours of the label images: background black, then groups 1, 2, ... (tab10, then repeated).
PALETTE = np.array([[0, 0, 0], [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40],
                    [148, 103, 189], [140, 86, 75], [227, 119, 194], [127, 127, 127],
                    [188, 189, 34], [23, 190, 207]], dtype=np.uint8)


def write_label_images(result, folder, scale: int = 8) -> Path:
    """Write the predicted groups of every image as ``labels/NNNN.png`` in ``folder`` (background
    black, group k colour ``PALETTE[k]``, each pixel a ``scale`` x ``scale`` block); returns the
    folder. Nothing is written when the result has no labels."""
    from PIL import Image

    out = Path(folder) / "labels"
    if result.labels is None:
        return out
    out.mkdir()
    width = max(4, len(str(result.n_images - 1)))
    for i, lab in enumerate(np.asarray(result.labels)):
        colours = np.where(lab > 0, (lab - 1) % (len(PALETTE) - 1) + 1, 0)
        rgb = PALETTE[colours].repeat(scale, axis=0).repeat(scale, axis=1)
        Image.fromarray(rgb).save(out / f"{i:0{width}d}.png")
    return out
