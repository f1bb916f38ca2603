"""Binding results as standard neuroscience files through ``neo.io``: NIX (.nix) and NWB (.nwb).

Two layouts: ``"neurons"`` writes the per-neuron Block of
:func:`~hnnbio.analysis.neo_convert.to_neo` (one SpikeTrain per pixel; NixIO needs ~20-50 ms per
train, minutes for 16 Bars images); ``"population"`` (NIX only) writes one SpikeTrain per image
with a per-spike ``pixel`` array annotation (:mod:`hnnbio.analysis.compact`; under a second for
the same data) and is expanded back to the per-neuron Block on reading.

What survives a round trip (tested in ``tests/analysis/test_files.py``):

- NIX (``neo.io.NixIO``): everything of :func:`~hnnbio.analysis.neo_convert.to_neo` -- spike times
  and units, ``t_start``/``t_stop``, names, all Block, Segment and SpikeTrain annotations, the
  population Groups. NIX does not store ``SpikeTrain.sampling_rate``: :func:`read_result_file`
  sets it again from the Block's ``dt_ms`` annotation.
- NWB (``neo.io.NWBIO``): spike times (NWB stores seconds; trains are rescaled to ms on reading),
  ``t_stop``, Block, Segment and SpikeTrain names, ``rec_datetime`` (NWB's session start). NWBIO
  drops annotations and Groups: the Block annotations are kept as JSON in NWB's
  ``session_description`` and restored on reading, and each train's ``pixel`` comes back from its
  name (``"pixel 12"``); per-train ``row``/``col`` are recomputed from ``width``. Lost: per-train
  ``input``/``object``/``group`` and per-image metrics (Segment annotations). Use NIX to keep them.

Integrity (NIX): :func:`write_result_file` stores ``hnnbio_sha256``, a Block annotation holding the
SHA-256 of what it wrote (:func:`content_digest`: every spike time, ``t_start``/``t_stop``, unit and
name, every annotation and array annotation of the Block, its Segments, SpikeTrains and Groups), and
:func:`read_result_file` recomputes it from what it read and refuses a file whose contents no
longer match (a flipped byte in a spike time or a ``pixel`` property) with a
:class:`~hnnbio.errors.DataError` naming the file. A NIX file without the annotation (written
before it existed, or by another tool) is read without the check. NWB files carry no checksum:
NWBIO converts times to seconds and drops annotations, so what is read is not what was written.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import neo
import numpy as np
import quantities as pq

from hnnbio.analysis.compact import from_population_block, to_population_block
from hnnbio.analysis.neo_convert import DEFAULT_SESSION_START, from_neo, to_neo
from hnnbio.analysis.result import BindingResult
from hnnbio.errors import DataError

FORMATS = {".nix": "nix", ".nwb": "nwb"}
_NWB_TAG = "hnnbio block annotations: "
CHECKSUM_KEY = "hnnbio_sha256"


def write_result_file(
    result,
    path,
    format: str | None = None,
    overwrite: bool = False,
    images=None,
    layout: str = "neurons",
) -> Path:
    """Write a binding result (or a Neo Block) to a NIX or NWB file.

    Parameters
    ----------
    result : BindingResult or neo.Block
        What to write; a BindingResult is converted with
        :func:`~hnnbio.analysis.neo_convert.to_neo`.
    path : str or Path
        File to write; its suffix (``.nix`` or ``.nwb``) chooses the format unless ``format``
        is given.
    format : {"nix", "nwb"}, optional
        Overrides the suffix.
    overwrite : bool
        Replace an existing file; otherwise an existing file is an error.
    images : sequence of int, optional
        Write only these images of a BindingResult.
    layout : {"neurons", "population"}
        ``"neurons"``: one SpikeTrain per neuron (the Block of ``to_neo``; NixIO needs ~20-50 ms
        per train). ``"population"`` (NIX only): one SpikeTrain per image with a per-spike
        ``pixel`` array annotation (:mod:`hnnbio.analysis.compact`), ~1000x faster to write;
        :func:`read_result_file` expands it back to the per-neuron Block.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    DataError
        Unknown format, an existing file without ``overwrite``, or a failed write (naming the file).
    """
    path = Path(path)
    fmt = _format(path, format)
    if path.exists() and not overwrite:
        raise DataError(f"{path}: file exists; pass overwrite=True to replace it")
    if layout not in ("neurons", "population"):
        raise DataError(f"layout: {layout!r} is not 'neurons' or 'population'")
    if layout == "population":
        if fmt != "nix":
            raise DataError(
                f"layout: 'population' needs a .nix file (NWBIO drops annotations): {path}"
            )
        if isinstance(result, neo.Block):
            result = from_neo(result)
        if not isinstance(result, BindingResult):
            raise DataError(
                f"result: expected a BindingResult or neo.Block, got {type(result).__name__}"
            )
        block = to_population_block(result, images=images)
    elif isinstance(result, BindingResult):
        block = to_neo(result, images=images)
    elif isinstance(result, neo.Block):
        block = result
    else:
        raise DataError(
            f"result: expected a BindingResult or neo.Block, got {type(result).__name__}"
        )
    if path.exists():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if fmt == "nix":
            from neo.io import NixIO

            previous = block.annotations.get(CHECKSUM_KEY)
            block.annotations[CHECKSUM_KEY] = content_digest(block)
            try:
                with NixIO(str(path), mode="ow") as io:
                    io.write_block(block)
            finally:  # a caller's Block is left as it was
                block.annotations.pop(CHECKSUM_KEY)
                if previous is not None:
                    block.annotations[CHECKSUM_KEY] = previous
        else:
            _write_nwb(block, path)
    except Exception as exc:
        if path.exists():
            path.unlink()
        raise DataError(
            f"{path}: could not write {fmt.upper()} ({exc.__class__.__name__}: {exc})"
        ) from None
    return path


def read_result_file(path) -> neo.Block:
    """Read a Block written by :func:`write_result_file` (or any NIX/NWB file with spike trains).

    Raises
    ------
    DataError
        Missing file, unknown suffix, a file that is not valid NIX/NWB, or a NIX file whose
        contents do not match the checksum it was written with (naming the file).
    """
    path = Path(path)
    fmt = _format(path, None)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        if fmt == "nix":
            from neo.io import NixIO

            with NixIO(str(path), mode="ro") as io:
                block = io.read_block()
        else:
            block = _read_nwb(path)
    except Exception as exc:
        raise DataError(
            f"{path}: not a readable {fmt.upper()} file ({exc.__class__.__name__})"
        ) from None
    if block is None:
        raise DataError(f"{path}: contains no Neo Block")
    for obj in _annotated(block):
        obj.annotations.pop("nix_name", None)
    stored = block.annotations.pop(CHECKSUM_KEY, None)
    if stored is not None and str(stored) != content_digest(block):
        raise DataError(
            f"{path}: contents do not match the checksum written with them (the file is corrupt "
            "or was changed after writing); write it again from the result"
        )
    if block.annotations.get("layout") == "population":
        block = _expand(block)
    if "dt_ms" in block.annotations:
        rate = (1.0 / (float(block.annotations["dt_ms"]) * pq.ms)).rescale(pq.Hz)
        for seg in block.segments:
            for st in seg.spiketrains:
                st.sampling_rate = rate
    return block


def content_digest(block: neo.Block) -> str:
    """SHA-256 (hex) of a Block's spike trains and annotations, as a file stores them.

    Covers, in order, the Block's name and annotations; each Segment's name and annotations and
    each of its SpikeTrains' name, unit, ``t_start``, ``t_stop``, spike times (float64 bytes),
    annotations and array annotations; each Group's name, annotations and number of trains.
    Values are taken in a form that survives NIX (numpy scalars as Python numbers, arrays as
    float64, int64 or text), so the digest of a Block read back equals that of the Block written.
    ``nix_name`` and the checksum annotation itself are left out.
    """
    digest = hashlib.sha256()

    def add(*values):
        digest.update(json.dumps(_canonical(values), sort_keys=True).encode())
        digest.update(b"\x00")

    add("block", block.name, _annotations_of(block))
    for seg in block.segments:
        add("segment", seg.name, _annotations_of(seg))
        for st in seg.spiketrains:
            add(
                "spiketrain",
                st.name,
                st.dimensionality.string,
                float(st.t_start.magnitude),
                float(st.t_stop.magnitude),
                _annotations_of(st),
                sorted(st.array_annotations),
            )
            digest.update(np.ascontiguousarray(st.magnitude, dtype="<f8").tobytes())
            for key in sorted(st.array_annotations):
                digest.update(_array_bytes(st.array_annotations[key]))
    for group in block.groups:
        add("group", group.name, _annotations_of(group), len(group.spiketrains))
    return digest.hexdigest()


def _annotated(block: neo.Block) -> list:
    return [
        block,
        *block.segments,
        *block.groups,
        *(st for s in block.segments for st in s.spiketrains),
    ]


def _annotations_of(obj) -> dict:
    return {
        k: v for k, v in obj.annotations.items() if k not in ("nix_name", CHECKSUM_KEY)
    }


def _canonical(obj):
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, pq.Quantity):
        return [_canonical(obj.magnitude), obj.dimensionality.string]
    if isinstance(obj, np.ndarray):
        return _canonical(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _array_bytes(values) -> bytes:
    a = np.asarray(values)
    if a.dtype.kind in "iub":
        return np.ascontiguousarray(a, dtype="<i8").tobytes()
    if a.dtype.kind == "f":
        return np.ascontiguousarray(a, dtype="<f8").tobytes()
    return json.dumps([str(v) for v in a.ravel()]).encode()


def _expand(compact: neo.Block) -> neo.Block:
    """The per-neuron Block of a population-layout Block, keeping image indices and names."""
    block = to_neo(from_population_block(compact))
    for seg, original in zip(block.segments, compact.segments, strict=True):
        seg.name, seg.index = original.name, original.index
        seg.annotations["image"] = original.annotations.get("image", seg.annotations["image"])
    for key in ("n_images_total", "session_start_time"):
        if key in compact.annotations:
            block.annotations[key] = compact.annotations[key]
    return block


def _format(path: Path, format: str | None) -> str:
    if format is not None:
        if format not in FORMATS.values():
            raise DataError(
                f"{path}: format {format!r} is not one of {', '.join(FORMATS.values())}"
            )
        return format
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: unknown file type {suffix or '(none)'!r}; use .nix or .nwb")
    return FORMATS[suffix]


def _write_nwb(block: neo.Block, path: Path) -> None:
    import warnings

    from neo.io import NWBIO

    saved_annotations, saved_description = dict(block.annotations), block.description
    start = block.rec_datetime or _parse_time(block.annotations.get("session_start_time"))
    try:
        block.description = _NWB_TAG + json.dumps(_plain(saved_annotations))
        block.annotations.clear()
        block.annotations["session_start_time"] = start
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            NWBIO(str(path), mode="w").write_all_blocks([block])
    finally:
        block.annotations.clear()
        block.annotations.update(saved_annotations)
        block.description = saved_description


def _read_nwb(path: Path) -> neo.Block:
    from neo.io import NWBIO

    blocks = NWBIO(str(path), mode="r").read_all_blocks()
    if not blocks:
        return None
    block = blocks[0]
    text = str(block.annotations.get("session_description", ""))
    if text.startswith(_NWB_TAG):
        block.annotations.update(json.loads(text[len(_NWB_TAG) :]))
        block.description = None
    width = int(block.annotations.get("width", 0))
    for seg in block.segments:
        for _j, st in enumerate(seg.spiketrains):
            st.annotations.pop("nwb_group", None)
            name = str(st.name or "")
            if name.startswith("pixel "):
                pixel = int(name.split()[1])
                st.annotate(pixel=pixel)
                if width:
                    st.annotate(row=pixel // width, col=pixel % width)
        if "dt_ms" in block.annotations:
            seg.spiketrains = neo.core.spiketrainlist.SpikeTrainList(
                items=[_to_ms(st) for st in seg.spiketrains], parent=seg
            )
    return block


def _to_ms(st: neo.SpikeTrain) -> neo.SpikeTrain:
    out = st.rescale(pq.ms)
    out.name, out.annotations = st.name, dict(st.annotations)
    return out


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, datetime):
        return obj.isoformat()
    if hasattr(obj, "item"):
        return obj.item()
    return obj


def _parse_time(text) -> datetime:
    if isinstance(text, datetime):
        return text
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return DEFAULT_SESSION_START


__all__ = ["write_result_file", "read_result_file", "content_digest", "FORMATS", "CHECKSUM_KEY"]
