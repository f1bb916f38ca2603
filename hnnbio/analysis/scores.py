r"""Synchrony and rate scores cycle by cycle, and how they track binding quality image by image.

The synchrony score of a cycle is the silhouette of the final predicted groups over object pixels
with the Victor-Purpura distance at :math:`q = 1/3` per step on that cycle's spikes; the rate score
is the same at :math:`q = 0` (spike counts only). Both come from
:func:`hnnbio.analysis.metrics.spike_silhouette` (the binding metrics, not re-implemented here);
this module only applies them to every cycle, which shows synchrony building up over the loop's
iterations while the rate score stays near 0.
"""

from __future__ import annotations

import numpy as np

from hnnbio.errors import DataError, ParameterError

SYNCHRONY_Q = 1.0 / 3.0


def scores_by_cycle(result, cycles=None, images=None, progress: bool = False) -> dict:
    """Synchrony (q = 1/3) and rate (q = 0) scores of each image at each chosen cycle.

    Parameters
    ----------
    result : BindingResult
        With predicted ``labels`` and ground-truth ``truth`` (object pixels are ``truth > 0``).
    cycles : sequence of int, optional
        Cycle indices (0-based); default every cycle.
    images : sequence of int, optional
        Default all.
    progress : bool
        tqdm progress bar over images.

    Returns
    -------
    dict
        ``cycles`` (n_cycles,), ``synchrony`` and ``rate`` (n_images, n_cycles); NaN where the
        silhouette is undefined.
    """
    from tqdm.auto import tqdm

    from hnnbio.analysis.metrics import spike_silhouette

    if result.labels is None or result.truth is None:
        raise DataError("result: needs predicted labels and ground truth (run bind with truth=...)")
    d = int(result.steps_per_cycle)
    n_cycles = result.n_steps // d
    chosen = np.arange(n_cycles) if cycles is None else np.asarray(cycles, dtype=np.int64)
    if chosen.size == 0 or chosen.min() < 0 or chosen.max() >= n_cycles:
        raise ParameterError(f"cycles: must be cycle indices in 0..{n_cycles - 1}")
    imgs = np.arange(result.n_images) if images is None else np.asarray(images, dtype=np.int64)
    if imgs.size == 0 or imgs.min() < 0 or imgs.max() >= result.n_images:
        raise DataError(f"images: indices must be in 0..{result.n_images - 1}")
    sync = np.full((imgs.size, chosen.size), np.nan)
    rate = np.full((imgs.size, chosen.size), np.nan)
    for row, image in enumerate(tqdm(imgs.tolist(), desc="scores", disable=not progress)):
        raster = result.raster(int(image))
        labels = result.labels[image].reshape(-1)
        objects = result.truth[image].reshape(-1) > 0
        for col, c in enumerate(chosen.tolist()):
            part = raster[c * d : (c + 1) * d]
            sync[row, col] = spike_silhouette(part, labels, objects, SYNCHRONY_Q)
            rate[row, col] = spike_silhouette(part, labels, objects, 0.0)
    return {"cycles": chosen, "images": imgs, "synchrony": sync, "rate": rate}


def pearson_with(reference, values) -> float:
    """Pearson r of ``values`` against ``reference`` over entries finite in both.

    NaN when fewer than 3 entries are finite in both or either is constant.
    """
    x = np.asarray(reference, dtype=float).ravel()
    y = np.asarray(values, dtype=float).ravel()
    if x.shape != y.shape:
        raise DataError(f"values: shape {y.shape} differs from reference {x.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    from scipy.stats import pearsonr

    return float(pearsonr(x[ok], y[ok]).statistic)
