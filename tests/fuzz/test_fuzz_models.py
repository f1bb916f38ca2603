"""Fuzzed HNN / model files: every mutation of models/*.toml (wrong types, NaN, inf, negative,
missing keys, unknown keys, huge values) loads, or fails with one line (an HnnbioError)."""

import copy
import tempfile
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hnnbio.errors import HnnbioError

from .conftest import bounded, dump_toml

ROOT = Path(__file__).resolve().parents[2]
MODELS = sorted((ROOT / "models").glob("*.toml"))

HOSTILE = st.one_of(
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -1, 0, -4, 2.7, 10**30, 1e308,
                     -(2**63), 2**64, True, False, "six", "", "10", "1 ms", "-1 ms", "inf ms",
                     "nan ms", "1 parsec", [], {}, [1, 2, 3], [float("nan")], {"x": 1},
                     "../../etc/passwd", "/dev/null"]),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.one_of(st.integers(-3, 1000), st.floats(), st.text(max_size=3)), max_size=4),
)


def _paths(raw, prefix=()):
    """Every key path of a parsed file, tables and values."""
    for k, v in raw.items():
        yield (*prefix, k)
        if isinstance(v, dict):
            yield from _paths(v, (*prefix, k))


def _absolute_weights(raw, folder):
    for table in raw.get("networks", {}).values():
        if isinstance(table, dict) and isinstance(table.get("weights"), str):
            table["weights"] = str(folder / table["weights"])


def _mutate(raw, data):
    paths = list(_paths(raw))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(paths), label="path")
        parent = raw
        for k in path[:-1]:
            parent = parent.get(k) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        op = data.draw(st.sampled_from(["delete", "set", "unknown", "set"]), label="op")
        if op == "delete":
            parent.pop(path[-1], None)
        elif op == "set":
            parent[path[-1]] = data.draw(HOSTILE, label="value")
        else:
            parent[data.draw(st.sampled_from(["bogus", "dt_ms", "size2", "Steps"]))] = \
                data.draw(HOSTILE, label="value")
    return raw


def _one_line(exc):
    message = str(exc)
    assert message and "\n" not in message, repr(message)


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
@bounded(40)
@given(data=st.data())
def test_mutated_model_files_load_or_fail_in_one_line(model, data):
    from hnnbio.binding.spec import load_spec
    from hnnbio.hnn.files import load_hnn

    raw = tomllib.loads(model.read_text())
    _absolute_weights(raw, model.parent)
    raw = _mutate(copy.deepcopy(raw), data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / model.name
        path.write_text(dump_toml(raw))
        try:
            load_hnn(path)
        except HnnbioError as exc:
            _one_line(exc)
        experiment = raw.get("experiment")
        if isinstance(experiment, dict) and experiment.get("kind") == "binding":
            try:
                load_spec(path).graph()
            except HnnbioError as exc:
                _one_line(exc)


@bounded(60)
@given(text=st.text(max_size=200))
def test_arbitrary_text_as_a_model_file(text):
    from hnnbio.binding.spec import load_spec
    from hnnbio.hnn.files import load_hnn

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.toml"
        path.write_text(text)
        for load in (load_hnn, load_spec):
            try:
                load(path)
            except HnnbioError as exc:
                _one_line(exc)
