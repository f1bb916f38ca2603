"""The synchrony report of a saved binding result: ``hnnbio analyze RESULT --out report/``.

Reads a result (``.npz`` from :meth:`BindingResult.save`, or a ``.nix``/``.nwb`` file from
:func:`hnnbio.analysis.files.write_result_file`), computes the per-image synchrony summary
(:func:`hnnbio.analysis.summary.summarise`) and writes ``report.md`` with PNG figures: a raster
coloured by object, the STTC matrix sorted by object, spike-contrast curves, CCHs within versus
across objects, phase histograms, and synchrony versus rate scores per image.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from hnnbio.errors import DataError

REPORT_FILES = (
    "report.md",
    "raster.png",
    "sttc_matrix.png",
    "spike_contrast.png",
    "cch.png",
    "phases.png",
    "scores.png",
)


def load_result(path):
    """Read a BindingResult from ``.npz`` (BindingResult.save) or ``.nix``/``.nwb`` (via Neo)."""
    from hnnbio.analysis.result import BindingResult

    path = Path(path)
    if path.suffix.lower() == ".npz":
        return BindingResult.load(path)
    if path.suffix.lower() in (".nix", ".nwb"):
        from hnnbio.analysis.files import read_result_file
        from hnnbio.analysis.neo_convert import from_neo

        return from_neo(read_result_file(path))
    raise DataError(
        f"{path}: unknown result file type {path.suffix or '(none)'!r}; use .npz, .nix or .nwb"
    )


def write_report(
    result_path,
    out_dir,
    overwrite: bool = False,
    progress: bool = True,
    images=None,
    example_image: int = 0,
    sttc_window_steps: int = 2,
) -> dict:
    """Analyse a saved binding result and write a markdown report with figures.

    Parameters
    ----------
    result_path : str or Path
        ``result.npz`` (``hnnbio bind --out``), or a ``.nix``/``.nwb`` result file.
    out_dir : str or Path
        Report folder; created. An existing non-empty folder is refused unless ``overwrite``.
    overwrite : bool
        Write into an existing folder, replacing the report's files.
    progress : bool
        Show a tqdm progress bar over images.
    images : sequence of int, optional
        Images to analyse; default all.
    example_image : int
        Image of the raster, STTC-matrix and phase figures.
    sttc_window_steps : int
        STTC coincidence window in steps.

    Returns
    -------
    dict
        Summary numbers (means over images), counts, seconds and the report path.
    """
    import quantities as pq

    from hnnbio.analysis import figures
    from hnnbio.analysis.objects import image_spiketrains, image_trainset
    from hnnbio.analysis.scores import pearson_with
    from hnnbio.analysis.sttc import sttc_of_times
    from hnnbio.analysis.summary import object_labels, summarise
    from hnnbio.analysis.synchrony import spike_contrast

    start = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError(f"out: {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DataError(
            f"out: {out} exists and is not empty; pass overwrite (--overwrite) to replace it"
        )
    result = load_result(result_path)
    if images is not None:
        images = np.asarray(images, dtype=np.int64)
        if images.size == 0 or images.min() < 0 or images.max() >= result.n_images:
            raise DataError(f"images: indices must be in 0..{result.n_images - 1}")
    if not 0 <= example_image < result.n_images:
        raise DataError(f"example_image: must be in 0..{result.n_images - 1}, got {example_image}")
    summary = summarise(
        result, images=images, sttc_window_steps=sttc_window_steps, progress=progress
    )
    labels, grouping = object_labels(result)
    out.mkdir(parents=True, exist_ok=True)
    dt = float(result.dt_ms)

    ex = example_image
    pixels = np.flatnonzero(labels[ex] > 0)
    written = [figures.plot_raster(result, labels, ex, out / "raster.png")]
    if pixels.size >= 2:
        sttc = sttc_of_times(image_trainset(result, ex, pixels), sttc_window_steps * dt, dt)
        written.append(
            figures.plot_sttc_matrix(
                sttc, labels[ex][pixels], ex, sttc_window_steps * dt, out / "sttc_matrix.png"
            )
        )
    curves = []
    for image in summary.images[:8].tolist():
        px = np.flatnonzero(labels[image] > 0)
        counts = np.bincount(
            result.spike_pixel[result.spike_image == image], minlength=result.n_pixels
        )
        if px.size >= 2 and counts[px].max() >= 2:
            trains = image_spiketrains(result, image, px)
            curves.append(
                (image, spike_contrast(trains, min_bin=max(dt, 1.0) * pq.ms, return_trace=True)[1])
            )
    if curves:
        written.append(figures.plot_spike_contrast(curves, out / "spike_contrast.png"))
    written.append(
        figures.plot_cch(
            summary.cch_lags_ms,
            summary.cch_within,
            summary.cch_across,
            result.steps_per_cycle,
            dt,
            out / "cch.png",
        )
    )
    written.append(figures.plot_phases(result, ex, grouping, out / "phases.png"))
    written.append(figures.plot_scores(result, summary, out / "scores.png"))

    rows = summary.means()
    for key in ("ami", "synchrony", "rate"):
        if key in result.metrics:
            rows[key] = float(np.nanmean(np.asarray(result.metrics[key])[summary.images]))
    if "ami" in result.metrics:
        ami = np.asarray(result.metrics["ami"])[summary.images]
        for key in ("synchrony", "rate"):
            if key in result.metrics:
                rows[f"pearson_r_{key}_ami"] = pearson_with(
                    ami, np.asarray(result.metrics[key])[summary.images]
                )
    rows.update(images=int(summary.images.size), model=result.model, grouping=grouping)
    rows["seconds"] = time.perf_counter() - start
    (out / "report.md").write_text(_markdown(result, rows, summary, [p.name for p in written]))
    rows["report"] = str(out / "report.md")
    return rows


def _markdown(result, rows: dict, summary, figure_names: list) -> str:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    s = summary.settings
    lines = [
        f"# Synchrony report: {result.model or 'result'} ({result.backend})",
        "",
        f"{rows['images']} images, {result.n_steps} steps of {result.dt_ms:g} ms "
        f"({result.n_steps // result.steps_per_cycle} cycles of {result.steps_per_cycle} steps); "
        "pixels grouped by "
        f"{'ground-truth objects' if rows['grouping'] == 'truth' else 'predicted groups'}.",
        "",
        "| quantity | value |",
        "|---|---|",
    ]
    described = {
        "sttc_within": f"mean STTC, within-object pairs (window ±{s['sttc_window_ms']:g} ms)",
        "sttc_across": "mean STTC, across-object pairs",
        "images_sttc_within_gt_across": "fraction of images with within > across STTC",
        "cch_peak_within": f"zero-lag CCH peak (±{s['peak_window_ms']:g} ms), within-object pairs",
        "cch_peak_across": "zero-lag CCH peak, across-object pairs",
        "spike_contrast": f"spike-contrast synchrony (first {s['contrast_images']} images)",
        "ami": "AMI",
        "synchrony": "synchrony score (VP silhouette, q = 1/3 per step)",
        "rate": "rate score (VP silhouette, q = 0)",
        "pearson_r_synchrony_ami": "Pearson r, synchrony score vs AMI over images",
        "pearson_r_rate_ami": "Pearson r, rate score vs AMI over images",
        "seconds": "analysis time (s)",
    }
    for key, text in described.items():
        if key in rows:
            lines.append(f"| {text} | {fmt(rows[key])} |")
    captions = {
        "raster.png": "Spike raster coloured by object",
        "sttc_matrix.png": "STTC matrix sorted by object",
        "spike_contrast.png": "Spike-contrast synchrony against bin size",
        "cch.png": "Cross-correlograms within vs across objects",
        "phases.png": "Phase of each object's spikes in the cycle",
        "scores.png": "Synchrony vs rate score per image, STTC within vs across",
    }
    for name in figure_names:
        lines += [
            "",
            f"## {captions.get(name, name)}",
            "",
            f"![{captions.get(name, name)}]({name})",
        ]
    return "\n".join(lines) + "\n"
