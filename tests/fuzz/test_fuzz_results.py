"""Fuzzed result files: mutated ``result.npz`` (binding and HNN results) and result folders read
by ``hnnbio analyze`` and ``HNNResult.load`` load, or fail with one line (an HnnbioError)."""

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from hnnbio.errors import HnnbioError

from .conftest import bounded

DTYPES = st.sampled_from([np.int64, np.int32, np.uint8, np.float64, np.float32, np.bool_, "U3"])
ARRAYS = st.one_of(
    arrays(DTYPES, array_shapes(min_dims=0, max_dims=4, max_side=4)),
    st.sampled_from([np.array([]), np.array([-1]), np.array([10**9]), np.array([np.nan]),
                     np.array(["x"])]),
)
META_VALUES = st.one_of(st.integers(-10, 10**12), st.floats(), st.text(max_size=4),
                        st.booleans(), st.none(), st.lists(st.integers(), max_size=3),
                        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _binding_file(path):
    from tests.analysis.conftest import make_result

    make_result(n_images=2, height=4, width=4, n_objects=2, steps_per_cycle=8, cycles=3).save(path)


def _hnn_file(path):
    from hnnbio.hnn.result import HNNResult, Spikes

    spikes = {"a": Spikes(np.array([0, 0, 1]), np.array([0, 3, 2]), np.array([1, 0, 1]), 2)}
    HNNResult(name="g", n_samples=2, n_steps=5, dt_ms=1.0, spikes=spikes, applied={},
              metrics={}).save(path)


def _mutate_npz(path, data):
    with np.load(path, allow_pickle=False) as f:
        arrays_ = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays_["meta"]))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        op = data.draw(st.sampled_from(["drop", "array", "meta", "meta_drop", "add", "meta_raw"]))
        keys = sorted(arrays_)
        if op == "drop":
            arrays_.pop(data.draw(st.sampled_from(keys)), None)
        elif op == "array":
            arrays_[data.draw(st.sampled_from(keys))] = data.draw(ARRAYS, label="array")
        elif op == "add":
            arrays_[data.draw(st.sampled_from(["bogus", "metric_x", "spikes/b/step",
                                               "applied/u"]))] = data.draw(ARRAYS)
        elif op == "meta" and meta:
            meta[data.draw(st.sampled_from(sorted(meta)))] = data.draw(META_VALUES, label="meta")
        elif op == "meta_drop" and meta:
            meta.pop(data.draw(st.sampled_from(sorted(meta))))
        elif op == "meta_raw":
            arrays_["meta"] = np.array(data.draw(st.sampled_from(
                ["[]", "{", "null", "3", '{"n_steps": 1}'])))
            meta = None
        if meta is not None and "meta" in arrays_:
            arrays_["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays_)


def _flip_bytes(path, data):
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        i = data.draw(st.integers(0, len(raw) - 1), label="offset")
        raw[i] ^= data.draw(st.integers(1, 255), label="xor")
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[: data.draw(st.integers(0, len(raw)), label="length")]
    path.write_bytes(bytes(raw))


def _one_line(exc):
    assert str(exc) and "\n" not in str(exc), repr(str(exc))


@bounded(40)
@given(data=st.data())
def test_mutated_binding_results_load_or_fail_in_one_line(data):
    from hnnbio.analysis.report import load_result

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "result.npz"
        _binding_file(path)
        if data.draw(st.booleans(), label="bytes"):
            _flip_bytes(path, data)
        else:
            _mutate_npz(path, data)
        target = path.parent if data.draw(st.booleans(), label="folder") else path
        try:
            load_result(target)
        except HnnbioError as exc:
            _one_line(exc)


@bounded(12)
@given(data=st.data())
def test_mutated_binding_results_through_analyze(data):
    """The whole of ``hnnbio analyze`` on results that still load: a report or one line."""
    from hnnbio.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "result.npz"
        _binding_file(path)
        _mutate_npz(path, data)
        out = Path(tmp) / "rep"
        status = main(["analyze", str(path.parent), "--out", str(out), "--quiet"])
        assert status in (0, 2)
        if status == 2:
            assert not out.exists()


@bounded(40)
@given(data=st.data())
def test_mutated_hnn_results_load_or_fail_in_one_line(data):
    from hnnbio.hnn.result import HNNResult

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "result.npz"
        _hnn_file(path)
        if data.draw(st.booleans(), label="bytes"):
            _flip_bytes(path, data)
        else:
            _mutate_npz(path, data)
        try:
            HNNResult.load(path)
        except HnnbioError as exc:
            _one_line(exc)


@pytest.mark.parametrize("name", ["result.npz", "result.nix"])
def test_a_folder_with_a_damaged_result(tmp_path, name):
    from hnnbio.analysis.report import load_result

    (tmp_path / name).write_bytes(b"\x89HDF\r\n\x1a\nnot really")
    with pytest.raises(HnnbioError) as info:
        load_result(tmp_path)
    _one_line(info.value)
