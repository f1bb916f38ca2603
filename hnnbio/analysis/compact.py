"""A compact Neo layout for files: one SpikeTrain per image, the neuron of each spike annotated.

NixIO writes every SpikeTrain as several HDF5 objects with one property per annotation (~20-50 ms
per train here), so the per-neuron layout of :func:`~hnnbio.analysis.neo_convert.to_neo` takes
minutes for a few Bars images (400 trains each). The population layout stores each image as one
SpikeTrain of all its spikes in time order with the array annotation ``pixel`` (the neuron of each
spike; Neo's "spike time array + channel id array" form, cf.
``SpikeTrainList.from_spike_time_array``), and the per-pixel ``input``/``object``/``group`` as
lists on the Segment. The Block carries
``layout = "population"``; :func:`hnnbio.analysis.files.read_result_file` expands it back to the
per-neuron Block, so readers see the same Block whatever the layout.
"""

from __future__ import annotations

import neo
import numpy as np
import quantities as pq

from hnnbio.analysis.neo_convert import to_neo
from hnnbio.analysis.result import BindingResult
from hnnbio.errors import DataError

LAYOUT = "population"


def to_population_block(result: BindingResult, images=None) -> neo.Block:
    """The compact Block of a result: one Segment per image with one SpikeTrain of all its spikes.

    Parameters
    ----------
    result : BindingResult
    images : sequence of int, optional
        Images to include; default all.
    """
    # Block and Segment annotations as in the per-neuron layout, built without the trains
    empty = result.__class__(
        images=result.images[:1],
        spike_image=np.zeros(0, np.int64),
        spike_step=np.zeros(0, np.int64),
        spike_pixel=np.zeros(0, np.int64),
        n_steps=result.n_steps,
        steps_per_cycle=result.steps_per_cycle,
        dt_ms=result.dt_ms,
        model=result.model,
        backend=result.backend,
        info=result.info,
    )
    block = to_neo(empty, images=[])
    block.groups.clear()
    block.annotate(layout=LAYOUT, n_images_total=int(result.n_images))
    chosen = np.arange(result.n_images) if images is None else np.atleast_1d(np.asarray(images))
    if chosen.dtype.kind not in "iu" or (
        chosen.size and (chosen.min() < 0 or chosen.max() >= result.n_images)
    ):
        raise DataError(f"images: indices must be in 0..{result.n_images - 1}, got {images!r}")
    dt = float(result.dt_ms)
    t_stop = result.n_steps * dt * pq.ms
    for image in chosen.tolist():
        keep = result.spike_image == image
        order = np.lexsort((result.spike_pixel[keep], result.spike_step[keep]))
        steps = result.spike_step[keep][order]
        pixels = result.spike_pixel[keep][order].astype(np.int64)
        seg = neo.Segment(name=f"image {image}", index=int(image))
        seg.annotate(
            image=int(image), pixel_input=result.images[image].ravel().astype(int).tolist()
        )
        for key, values in result.metrics.items():
            seg.annotate(**{f"metric_{key}": float(np.asarray(values)[image])})
        if result.truth is not None:
            seg.annotate(pixel_object=result.truth[image].ravel().astype(int).tolist())
        if result.labels is not None:
            seg.annotate(pixel_group=result.labels[image].ravel().astype(int).tolist())
        st = neo.SpikeTrain(
            steps * dt,
            units="ms",
            t_stop=t_stop,
            sampling_rate=(1.0 / (dt * pq.ms)).rescale(pq.Hz),
            name=block.annotations.get("population", "sheet"),
            array_annotations={"pixel": pixels},
        )
        seg.spiketrains.append(st)
        block.segments.append(seg)
    return block


def from_population_block(block: neo.Block) -> BindingResult:
    """The BindingResult of a compact Block (inverse of :func:`to_population_block`)."""
    ann = block.annotations
    try:
        dt = float(ann["dt_ms"])
        height, width = int(ann["height"]), int(ann["width"])
        n_steps, d = int(ann["n_steps"]), int(ann["steps_per_cycle"])
    except KeyError as exc:
        raise DataError(f"block: population layout lacks the annotation {exc.args[0]!r}") from None
    n = len(block.segments)
    images = np.zeros((n, height * width), dtype=np.uint8)
    truth = np.zeros((n, height * width), dtype=np.int64)
    labels = np.zeros((n, height * width), dtype=np.int64)
    has_truth = has_labels = True
    parts: dict[str, list] = {"image": [], "step": [], "pixel": []}
    metrics: dict[str, list] = {}
    for s, seg in enumerate(block.segments):
        sa = seg.annotations
        images[s] = np.asarray(sa.get("pixel_input", np.ones(height * width)), dtype=np.uint8)
        has_truth &= "pixel_object" in sa
        has_labels &= "pixel_group" in sa
        if has_truth:
            truth[s] = np.asarray(sa["pixel_object"])
        if has_labels:
            labels[s] = np.asarray(sa["pixel_group"])
        for key, value in sa.items():
            if key.startswith("metric_"):
                metrics.setdefault(key[len("metric_") :], [np.nan] * n)[s] = float(value)
        for st in seg.spiketrains:
            if "pixel" not in st.array_annotations:
                raise DataError(f"block: segment {s} train has no 'pixel' array annotation")
            steps = np.rint(np.asarray(st.rescale(pq.ms).magnitude) / dt).astype(np.int64)
            parts["image"].append(np.full(steps.size, s))
            parts["step"].append(steps)
            parts["pixel"].append(np.asarray(st.array_annotations["pixel"], dtype=np.int64))
    shape = (n, height, width)

    def cat(key):
        return np.concatenate(parts[key]).astype(np.int64) if parts[key] else np.zeros(0, np.int64)

    return BindingResult(
        images=images.reshape(shape),
        spike_image=cat("image"),
        spike_step=cat("step"),
        spike_pixel=cat("pixel"),
        n_steps=n_steps,
        steps_per_cycle=d,
        dt_ms=dt,
        truth=truth.reshape(shape) if has_truth else None,
        labels=labels.reshape(shape) if has_labels else None,
        metrics={k: np.asarray(v) for k, v in metrics.items()},
        model=str(ann.get("model", "")),
        backend=str(ann.get("backend", "neo")),
        info={"source": "neo", "session_start_time": ann.get("session_start_time")},
    )
