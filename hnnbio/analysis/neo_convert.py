"""Conversion between binding results (sparse spikes on a step grid) and Neo Blocks.

Layout of a Block made by :func:`to_neo`::

    Block (annotations: model, backend, steps_per_cycle, dt_ms, n_steps, height, width, ...)
      Segment "image 0"  (annotations: image, metric_ami, metric_synchrony, ...)
        SpikeTrain "pixel 0" ... "pixel P-1"  (ms, t_start 0, t_stop n_steps*dt, sampling_rate 1/dt;
                                               annotations: pixel, row, col, input, object, group)
      Segment "image 1" ...
      Group "sheet": every SpikeTrain of the population, across segments

A spike at step ``k`` has time ``k * dt_ms`` ms. Silent neurons are kept as empty trains, so train
``p`` of a segment is always pixel ``p``. :func:`from_neo` maps any Block of trains on a ``dt`` grid
back to a :class:`~hnnbio.analysis.result.BindingResult`, so the analyses run on recorded data too.
"""

from __future__ import annotations

from datetime import UTC, datetime

import neo
import numpy as np
import quantities as pq

from hnnbio.analysis.result import BindingResult
from hnnbio.analysis.trains import positive_time
from hnnbio.errors import DataError, ParameterError

#: Session start written when a result has none (NWB needs one); see ``session_start_time``.
DEFAULT_SESSION_START = datetime(2000, 1, 1, tzinfo=UTC)


def to_neo(
    result: BindingResult,
    images=None,
    population: str = "sheet",
    session_start_time: datetime | None = None,
) -> neo.Block:
    """Convert a binding result (or some of its images) to a Neo Block.

    Parameters
    ----------
    result : BindingResult
        The result to convert.
    images : sequence of int or None
        Indices of the images to convert (one Segment each); ``None`` converts all. A 1000-image
        Bars result has 400,000 trains: convert the few you analyse.
    population : str
        Name of the Group that collects the trains (the population, e.g. ``"sheet"``).
    session_start_time : datetime, optional
        Written as the Block's ``rec_datetime`` and ``session_start_time`` annotation (NWB needs
        one); default ``result.info["session_start_time"]`` (ISO string) or 2000-01-01 UTC.

    Returns
    -------
    neo.Block
        One Segment per image, one SpikeTrain (ms) per pixel, one Group per population.

    Raises
    ------
    DataError
        An image index out of range.
    """
    n_images, n_pixels = result.n_images, result.n_pixels
    if images is None:
        chosen = np.arange(n_images)
    else:
        chosen = np.atleast_1d(np.asarray(images))
        if chosen.size == 0:
            chosen = chosen.astype(np.int64)
        if chosen.dtype.kind not in "iu" or chosen.ndim != 1:
            raise DataError(f"images: expected integer image indices, got {images!r}")
        if chosen.size and (chosen.min() < 0 or chosen.max() >= n_images):
            raise DataError(f"images: indices must be in 0..{n_images - 1}, got {images!r}")
    start = session_start_time or _session_start(result)
    height, width = result.shape
    dt = float(result.dt_ms)
    block = neo.Block(
        name=f"hnnbio {result.model}".strip(),
        rec_datetime=start,
        description="binding result of hnnbio",
    )
    block.annotate(
        model=result.model,
        backend=result.backend,
        steps_per_cycle=int(result.steps_per_cycle),
        dt_ms=dt,
        n_steps=int(result.n_steps),
        height=int(height),
        width=int(width),
        n_images_total=int(n_images),
        session_start_time=start.isoformat(),
        population=population,
    )
    t_stop = result.n_steps * dt * pq.ms
    rate = (1.0 / (dt * pq.ms)).rescale(pq.Hz)
    order = np.lexsort((result.spike_step, result.spike_pixel, result.spike_image))
    s_image = result.spike_image[order]
    s_pixel = result.spike_pixel[order]
    s_step = result.spike_step[order]
    rows, cols = np.divmod(np.arange(n_pixels), width)
    group_trains = []
    for image in chosen.tolist():
        lo, hi = np.searchsorted(s_image, [image, image + 1])
        bounds = np.searchsorted(s_pixel[lo:hi], np.arange(n_pixels + 1)) + lo
        seg = neo.Segment(name=f"image {image}", index=int(image))
        seg.annotate(image=int(image))
        for key, values in result.metrics.items():
            seg.annotate(**{f"metric_{key}": float(np.asarray(values)[image])})
        flat_input = result.images[image].ravel()
        flat_truth = None if result.truth is None else result.truth[image].ravel()
        flat_group = None if result.labels is None else result.labels[image].ravel()
        for p in range(n_pixels):
            times = s_step[bounds[p] : bounds[p + 1]] * dt
            st = neo.SpikeTrain(
                times,
                units="ms",
                t_start=0 * pq.ms,
                t_stop=t_stop,
                sampling_rate=rate,
                name=f"pixel {p}",
            )
            st.annotate(pixel=p, row=int(rows[p]), col=int(cols[p]), input=int(flat_input[p]))
            if flat_truth is not None:
                st.annotate(object=int(flat_truth[p]))
            if flat_group is not None:
                st.annotate(group=int(flat_group[p]))
            seg.spiketrains.append(st)
            group_trains.append(st)
        block.segments.append(seg)
    block.groups.append(neo.Group(group_trains, name=population, allowed_types=[neo.SpikeTrain]))
    block.check_relationships()
    return block


def from_spike_monitor(
    monitor,
    n_images: int = 1,
    t_stop=None,
    population: str | None = None,
    session_start_time: datetime | None = None,
) -> neo.Block:
    """Convert any Brian2 ``SpikeMonitor`` to a Neo Block (one Segment per image of a batch).

    Neuron ``i`` of the monitored group is pixel ``i % n_pixels`` of image ``i // n_pixels`` with
    ``n_pixels = len(group) / n_images`` (hnnbio batches images as one group).

    Parameters
    ----------
    monitor : brian2.SpikeMonitor
        A monitor after a run.
    n_images : int
        Images batched in the monitored group; must divide its size.
    t_stop : brian2 Quantity (time), optional
        End of the recording; default the monitor clock's current time.
    population : str, optional
        Group name; default the monitored group's name.
    session_start_time : datetime, optional
        As in :func:`to_neo`.

    Returns
    -------
    neo.Block
        As :func:`to_neo`, without images, truth or predicted groups; trains in ms.
    """
    source = monitor.source
    n_neurons = len(source)
    if not isinstance(n_images, (int, np.integer)) or n_images < 1 or n_neurons % n_images:
        raise ParameterError(
            f"n_images: must be a positive divisor of the group size {n_neurons}, got {n_images!r}"
        )
    from brian2 import have_same_dimensions, second

    if t_stop is not None and not have_same_dimensions(t_stop, second):
        raise ParameterError(f"t_stop: must be a Brian2 time such as 100 * ms, got {t_stop!r}")
    dt = float(monitor.clock.dt / second) * 1e3
    stop = float((monitor.clock.t if t_stop is None else t_stop) / second) * 1e3
    indices = np.asarray(monitor.i[:], dtype=np.int64)
    steps = np.rint(np.asarray(monitor.t_[:]) * 1e3 / dt).astype(np.int64)
    if steps.size and steps.max() * dt > stop:
        raise ParameterError(f"t_stop: {stop} ms is before the last spike at {steps.max() * dt} ms")
    n_pixels = n_neurons // n_images
    result = BindingResult(
        images=np.ones((n_images, 1, n_pixels), dtype=np.uint8),
        spike_image=indices // n_pixels,
        spike_step=steps,
        spike_pixel=indices % n_pixels,
        n_steps=int(np.ceil(stop / dt - 1e-9)),
        steps_per_cycle=max(int(np.ceil(stop / dt - 1e-9)), 1),
        dt_ms=dt,
        model=population or source.name,
        backend="brian2",
    )
    block = to_neo(
        result, population=population or source.name, session_start_time=session_start_time
    )
    block.annotate(source=source.name)
    return block


def from_neo(block: neo.Block, dt=None, steps_per_cycle: int | None = None) -> BindingResult:
    """Map a Block of spike trains on a time grid back to a BindingResult (sparse spikes).

    Every Segment is one image; the trains of a Segment are its neurons in order (their ``pixel``
    annotation, if present, gives the index). Images, truth and predicted groups come back from the
    ``input``, ``object`` and ``group`` annotations written by :func:`to_neo`; a Block without them
    gets images of ones (every neuron an input pixel) shaped (1, n_trains), no truth, no labels.

    Parameters
    ----------
    block : neo.Block
        E.g. from :func:`to_neo` or :func:`hnnbio.analysis.files.read_result_file`.
    dt : quantities.Quantity (time), optional
        Grid step; default the Block's ``dt_ms`` annotation, else the trains' ``sampling_rate``.
    steps_per_cycle : int, optional
        Default the Block's annotation, else one cycle spanning the recording.

    Raises
    ------
    DataError
        No segments, segments with different numbers of trains, no known grid, spikes off the grid.
    """
    if not isinstance(block, neo.Block):
        raise DataError(f"block: expected a neo.Block, got {type(block).__name__}")
    segments = block.segments
    if not segments or not segments[0].spiketrains:
        raise DataError("block: has no segments with spike trains")
    n_trains = len(segments[0].spiketrains)
    for s, seg in enumerate(segments):
        if len(seg.spiketrains) != n_trains:
            raise DataError(
                f"block: segment {s} has {len(seg.spiketrains)} trains, segment 0 has {n_trains}"
            )
    first = segments[0].spiketrains[0]
    dt_ms = _grid_ms(block, first, dt)
    t_start = float(first.t_start.rescale(pq.ms).magnitude)
    n_steps = int(round((float(first.t_stop.rescale(pq.ms).magnitude) - t_start) / dt_ms))
    ann = block.annotations
    height, width = int(ann.get("height", 1)), int(ann.get("width", n_trains))
    if height * width != n_trains:
        height, width = 1, n_trains
    images = np.ones((len(segments), n_trains), dtype=np.uint8)
    truth = np.zeros((len(segments), n_trains), dtype=np.int64)
    labels = np.zeros((len(segments), n_trains), dtype=np.int64)
    has = {"input": True, "object": True, "group": True}
    spike_image, spike_step, spike_pixel = [], [], []
    metrics: dict[str, list] = {}
    for s, seg in enumerate(segments):
        for key, value in seg.annotations.items():
            if key.startswith("metric_"):
                metrics.setdefault(key[len("metric_") :], [np.nan] * len(segments))[s] = float(
                    value
                )
        for j, st in enumerate(seg.spiketrains):
            p = int(st.annotations.get("pixel", j))
            if not 0 <= p < n_trains:
                raise DataError(
                    f"block: segment {s} train {j} has pixel {p} outside 0..{n_trains - 1}"
                )
            t = np.asarray(st.rescale(pq.ms).magnitude, dtype=np.float64) - t_start
            k = np.rint(t / dt_ms)
            if np.any(np.abs(k * dt_ms - t) > 1e-6 * dt_ms):
                raise DataError(
                    f"block: segment {s} train {j} has spikes off the dt = {dt_ms} ms grid; "
                    "pass the grid step as dt"
                )
            spike_image.append(np.full(k.size, s))
            spike_step.append(k.astype(np.int64))
            spike_pixel.append(np.full(k.size, p))
            for key, arr in (("input", images), ("object", truth), ("group", labels)):
                if key in st.annotations:
                    arr[s, p] = int(st.annotations[key])
                else:
                    has[key] = False

    def cat(parts):
        return np.concatenate(parts).astype(np.int64)

    shape = (len(segments), height, width)
    return BindingResult(
        images=(images if has["input"] else np.ones_like(images)).reshape(shape),
        spike_image=cat(spike_image),
        spike_step=cat(spike_step),
        spike_pixel=cat(spike_pixel),
        n_steps=n_steps,
        steps_per_cycle=int(steps_per_cycle or ann.get("steps_per_cycle", n_steps)),
        dt_ms=dt_ms,
        truth=truth.reshape(shape) if has["object"] else None,
        labels=labels.reshape(shape) if has["group"] else None,
        metrics={k: np.asarray(v) for k, v in metrics.items()},
        model=str(ann.get("model", block.name or "")),
        backend=str(ann.get("backend", "neo")),
        info={"source": "neo"},
    )


def _grid_ms(block: neo.Block, first: neo.SpikeTrain, dt) -> float:
    if dt is not None:
        return positive_time(dt, "dt", pq.ms)
    if "dt_ms" in block.annotations:
        return float(block.annotations["dt_ms"])
    rate = getattr(first, "sampling_rate", None)
    if rate is not None:
        return float((1.0 / rate).rescale(pq.ms).magnitude)
    raise DataError("block: no dt_ms annotation and no sampling_rate; pass the grid step as dt")


def _session_start(result: BindingResult) -> datetime:
    text = result.info.get("session_start_time") if isinstance(result.info, dict) else None
    if text:
        try:
            return datetime.fromisoformat(str(text))
        except ValueError:
            pass
    return DEFAULT_SESSION_START
