"""Per-image synchrony summary of a binding result: the numbers behind the report.

For every image, over its object pixels (ground truth ``truth > 0``; predicted groups when there is
no ground truth):

- STTC matrix (:func:`hnnbio.analysis.sttc.sttc_matrix`, window ``sttc_window_steps`` steps) and its
  mean over within-object and across-object pairs;
- normalised CCHs (counts divided by :math:`\\sqrt{n_i n_j}`, 1-step bins)
  averaged over within- and across-object pairs (at most ``max_pairs`` of each, drawn at random;
  lags up to half a cycle),
  and their zero-lag peaks (largest value within ``peak_window_steps`` of lag 0);
- spike-contrast synchrony of the object pixels (Elephant).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import quantities as pq

from hnnbio.analysis.cch import cch_pairs, zero_lag_peak
from hnnbio.analysis.objects import image_spiketrains, image_trainset, object_pairs, within_across
from hnnbio.analysis.sttc import sttc_of_times
from hnnbio.analysis.synchrony import spike_contrast
from hnnbio.errors import DataError


@dataclass
class SynchronySummary:
    """Per-image synchrony numbers; arrays have shape (n_images,) unless stated."""

    images: np.ndarray
    sttc_within: np.ndarray
    sttc_across: np.ndarray
    cch_peak_within: np.ndarray
    cch_peak_across: np.ndarray
    spike_contrast: np.ndarray
    #: mean normalised CCH over all images, shape (2 L + 1,), and lags in ms
    cch_within: np.ndarray
    cch_across: np.ndarray
    cch_lags_ms: np.ndarray
    grouping: str = "truth"
    settings: dict = field(default_factory=dict)

    def means(self) -> dict:
        """Means over images (NaN-aware) and the fraction of images with within > across STTC."""
        ok = ~np.isnan(self.sttc_within) & ~np.isnan(self.sttc_across)
        return {
            "sttc_within": _nanmean(self.sttc_within),
            "sttc_across": _nanmean(self.sttc_across),
            "cch_peak_within": _nanmean(self.cch_peak_within),
            "cch_peak_across": _nanmean(self.cch_peak_across),
            "spike_contrast": _nanmean(self.spike_contrast),
            "images_sttc_within_gt_across": float(
                np.mean(self.sttc_within[ok] > self.sttc_across[ok])
            )
            if ok.any()
            else float("nan"),
        }


def _nanmean(x) -> float:
    x = np.asarray(x, dtype=float)
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def object_labels(result) -> tuple[np.ndarray, str]:
    """Object label per pixel, shape (n_images, n_pixels), and which source was used."""
    if result.truth is not None:
        return np.asarray(result.truth).reshape(result.n_images, -1), "truth"
    if result.labels is not None:
        return np.asarray(result.labels).reshape(result.n_images, -1), "labels"
    raise DataError(
        "result: has neither truth nor predicted labels; cannot group pixels into objects"
    )


def summarise(
    result,
    images=None,
    sttc_window_steps: int = 2,
    peak_window_steps: int = 1,
    max_pairs: int = 300,
    contrast_images: int = 20,
    seed: int = 0,
    progress: bool = False,
) -> SynchronySummary:
    """Compute the per-image synchrony summary (see the module docstring).

    Parameters
    ----------
    result : BindingResult
    images : sequence of int, optional
        Images to analyse; default all.
    sttc_window_steps : int
        STTC coincidence window in steps (``dt = sttc_window_steps * dt_ms``).
    peak_window_steps : int
        Half width of the zero-lag CCH peak, in steps.
    max_pairs : int
        At most this many within- and across-object pairs per image for the CCHs.
    contrast_images : int
        Spike contrast (~0.1 s per image) for the first this many images only; NaN for the rest.
    seed : int
        Seed of the pair sampling.
    progress : bool
        Show a tqdm progress bar.
    """
    from tqdm.auto import tqdm

    labels, grouping = object_labels(result)
    chosen = np.arange(result.n_images) if images is None else np.asarray(images, dtype=np.int64)
    rng = np.random.default_rng(seed)
    d = int(result.steps_per_cycle)
    max_lag = min(max(d // 2, 1), result.n_steps - 1)
    dt = float(result.dt_ms)
    n = chosen.size
    out = {
        k: np.full(n, np.nan)
        for k in (
            "sttc_within",
            "sttc_across",
            "cch_peak_within",
            "cch_peak_across",
            "spike_contrast",
        )
    }
    sums = {"within": np.zeros(2 * max_lag + 1), "across": np.zeros(2 * max_lag + 1)}
    n_curves = {"within": 0, "across": 0}
    for row, image in enumerate(tqdm(chosen.tolist(), desc="synchrony", disable=not progress)):
        lab = labels[image]
        pixels = np.flatnonzero(lab > 0)
        if pixels.size < 2:
            continue
        sttc = sttc_of_times(image_trainset(result, image, pixels), sttc_window_steps * dt, dt)
        w, a = within_across(sttc, lab[pixels])
        out["sttc_within"][row], out["sttc_across"][row] = _nanmean(w), _nanmean(a)
        # spikes are on the step grid: 1-step bins are the raster itself (Elephant's binning)
        counts = result.raster(image)[:, pixels].T.astype(np.int64)
        spikes = counts.sum(axis=1).astype(float)
        for kind, pairs in zip(("within", "across"), object_pairs(lab[pixels]), strict=False):
            if len(pairs) == 0:
                continue
            if len(pairs) > max_pairs:
                pairs = pairs[rng.choice(len(pairs), max_pairs, replace=False)]
            norm = np.sqrt(spikes[pairs[:, 0]] * spikes[pairs[:, 1]])
            active = norm > 0
            if not active.any():
                continue
            h = cch_pairs(counts, pairs[active], max_lag=max_lag) / norm[active, None]
            out[f"cch_peak_{kind}"][row] = float(zero_lag_peak(h, peak_window_steps).mean())
            sums[kind] += h.sum(axis=0)
            n_curves[kind] += h.shape[0]
        if row < contrast_images and spikes.max() >= 2:
            trains = image_spiketrains(result, image, pixels)
            out["spike_contrast"][row] = spike_contrast(trains, min_bin=max(dt, 1.0) * pq.ms)
    curves = {
        k: sums[k] / n_curves[k] if n_curves[k] else np.full(2 * max_lag + 1, np.nan) for k in sums
    }
    return SynchronySummary(
        images=chosen,
        cch_within=curves["within"],
        cch_across=curves["across"],
        cch_lags_ms=np.arange(-max_lag, max_lag + 1) * dt,
        grouping=grouping,
        settings={
            "sttc_window_ms": sttc_window_steps * dt,
            "peak_window_ms": peak_window_steps * dt,
            "max_pairs": max_pairs,
            "contrast_images": contrast_images,
        },
        **out,
    )
