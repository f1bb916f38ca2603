"""The synchrony report of a saved binding result: ``hnnbio analyze RESULT --out report/``.

Reads a result (``.npz`` from :meth:`BindingResult.save`, or a ``.nix``/``.nwb`` file from
:func:`hnnbio.analysis.files.write_result_file`), computes the per-image synchrony summary
(:func:`hnnbio.analysis.summary.summarise`) and writes ``report.md`` with PNG figures: a raster
coloured by object, the STTC matrix sorted by object, spike-contrast curves, CCHs within versus
across objects, phase histograms, and synchrony versus rate scores per image.

A result is checked on reading (:func:`check_result`: every array present, of its shape, spikes
inside the recording, attention finite): a damaged file is one line, not a traceback or a report
of nonsense. The report is written into a hidden temporary folder beside ``out`` and moved into
place at the end, so a failed or interrupted analysis leaves no half report.
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


#: The files of a result folder (``hnnbio bind --out`` / ``hnnbio run --out``) that
#: ``hnnbio analyze DIR`` reads, the first one present.
RESULT_NAMES = ("result.npz", "result.nix", "result.nwb")


def result_folder(path) -> Path:
    """The result file to read for ``path``: itself, or in a result folder its ``result.npz``
    (else ``result.nix``, ``result.nwb``)."""
    path = Path(path)
    if not path.is_dir():
        return path
    for name in RESULT_NAMES:
        if (path / name).is_file():
            return path / name
    raise DataError(f"{path}: a folder without a result ({', '.join(RESULT_NAMES)}); give the "
                    "folder `hnnbio bind --out` wrote, or a result file")


def load_result(path):
    """Read a BindingResult from ``.npz`` (BindingResult.save) or ``.nix``/``.nwb`` (via Neo), or
    from a result folder (:func:`result_folder`)."""
    from hnnbio.analysis.result import BindingResult

    path = result_folder(path)
    if path.suffix.lower() == ".npz":
        try:
            result = BindingResult.load(path)
        except TypeError as exc:  # a key missing from the file, or one that is not the format's
            raise DataError(f"{path}: not a complete binding result ({exc})") from None
    elif path.suffix.lower() in (".nix", ".nwb"):
        from hnnbio.analysis.files import read_result_file
        from hnnbio.analysis.neo_convert import from_neo

        result = from_neo(read_result_file(path))
    else:
        raise DataError(
            f"{path}: unknown result file type {path.suffix or '(none)'!r}; use .npz, .nix or .nwb"
        )
    return check_result(result, path)


def _bad(path, what: str) -> DataError:
    return DataError(f"{path}: not a valid binding result: {what}")


def check_result(result, path="result"):
    """Check a result read from a file before analysing it; returns it. Raises DataError naming
    the file and the first thing wrong: a missing or misshapen array, a spike outside the
    recording (image, step or pixel out of range), a non-finite attention or step length."""
    images = result.images
    if not isinstance(images, np.ndarray) or images.ndim != 3 or 0 in images.shape:
        raise _bad(path, f"images must have shape (n_images, height, width), got "
                   f"{getattr(images, 'shape', None)}")
    if images.dtype.kind not in "biu" or not np.isin(images, (0, 1)).all():
        raise _bad(path, "images must be binary (0/1)")
    n_images, height, width = images.shape
    for key in ("n_steps", "steps_per_cycle"):
        v = getattr(result, key)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise _bad(path, f"{key} must be an integer >= 1, got {v!r}")
    dt = result.dt_ms
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not 0 < dt < float("inf"):
        raise _bad(path, f"dt_ms must be a finite number > 0, got {dt!r}")
    spikes = {k: getattr(result, k) for k in ("spike_image", "spike_step", "spike_pixel")}
    n = {np.shape(v) for v in spikes.values()}
    if len(n) != 1 or len(next(iter(n))) != 1:
        raise _bad(path, f"spike_image, spike_step and spike_pixel must be 1-D of one length, "
                   f"got shapes {sorted(n)}")
    limits = {"spike_image": n_images, "spike_step": result.n_steps,
              "spike_pixel": height * width}
    for key, v in spikes.items():
        if v.dtype.kind not in "iu":
            raise _bad(path, f"{key} must be integers, got {v.dtype}")
        if v.size and (v.min() < 0 or v.max() >= limits[key]):
            bad = v[(v < 0) | (v >= limits[key])][0]
            raise _bad(path, f"{key} {bad} is outside 0..{limits[key] - 1}")
    if result.attention is not None:
        att = np.asarray(result.attention)
        shape = (n_images, result.steps_per_cycle, height, width)
        if att.shape != shape:
            raise _bad(path, f"attention must have shape {shape}, got {att.shape}")
        if att.dtype.kind not in "biuf" or not np.isfinite(att).all():
            raise _bad(path, "attention holds NaN or infinite values")
    for key in ("labels", "truth"):
        v = getattr(result, key)
        if v is None:
            continue
        v = np.asarray(v)
        if v.shape != images.shape or v.dtype.kind not in "biu" or (v.size and v.min() < 0):
            raise _bad(path, f"{key} must be non-negative integers of shape {images.shape}, got "
                       f"{v.dtype} {v.shape}")
    for key, v in result.metrics.items():
        if np.shape(v) != (n_images,):
            raise _bad(path, f"metric {key} must have one value per image, got shape "
                       f"{np.shape(v)}")
    return result


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
        ``result.npz`` (``hnnbio bind --out``), a ``.nix``/``.nwb`` result file, or the folder
        ``hnnbio bind --out`` wrote (its ``result.npz``).
    out_dir : str or Path
        Report folder; created. An existing non-empty folder is refused unless ``overwrite``.
        The report is written into a hidden temporary folder beside it first and moved in at
        the end: an error or an interrupt leaves the folder as it was.
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
    from hnnbio.outputs import OutputFolder

    start = time.perf_counter()
    result_path = result_folder(result_path)
    with OutputFolder(out_dir, overwrite, what="out", kind="report", owned=REPORT_FILES) as folder:
        rows = _analyse(result_path, folder.path, images, example_image, sttc_window_steps,
                        progress)
        folder.commit()
    rows["seconds"] = time.perf_counter() - start
    rows["report"] = str(Path(out_dir) / "report.md")
    return rows


def _analyse(result_path, out: Path, images, example_image, sttc_window_steps, progress):
    """The analysis of :func:`write_report`, its files written into ``out``; returns the rows."""
    import quantities as pq

    from hnnbio.analysis import figures
    from hnnbio.analysis.objects import image_spiketrains, image_trainset
    from hnnbio.analysis.scores import pearson_with
    from hnnbio.analysis.sttc import sttc_of_times
    from hnnbio.analysis.summary import object_labels, summarise
    from hnnbio.analysis.synchrony import spike_contrast

    start = time.perf_counter()
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
