"""docs/hnn.md runs as written: every ```python block in order, in one namespace, from the
repository root; the files it shows are the files in docs/examples; its quoted numbers are the
ones the code measures; and the TOML example loads and runs on its own."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "hnn.md"
EXAMPLES = ROOT / "docs" / "examples"


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", TUTORIAL.read_text(), re.S | re.M)


@pytest.fixture
def clean_imports(monkeypatch):
    """The tutorial puts docs/examples on sys.path and imports tiny_net: undo both after."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    sys.modules.pop("tiny_net", None)


def test_the_files_shown_are_the_example_files():
    python, toml = blocks("python"), blocks("toml")
    assert python[0] == (EXAMPLES / "tiny_net.py").read_text()
    assert toml == [(EXAMPLES / "ei_feedback.toml").read_text()]


@pytest.mark.slow
def test_every_python_block_runs_and_the_quoted_numbers_hold(monkeypatch, clean_imports):
    monkeypatch.chdir(ROOT)
    namespace = {"__name__": "hnn_tutorial"}
    for k, code in enumerate(blocks("python")):
        exec(compile(code, f"docs/hnn.md, python block {k}", "exec"), namespace)
    text = TUTORIAL.read_text()
    seconds = namespace["seconds"]
    counts, open_counts = namespace["counts"], namespace["open_counts"]
    with_hz, without_hz = counts.mean(axis=1) / seconds, open_counts.mean(axis=1) / seconds
    np.testing.assert_allclose(without_hz, [97.25, 153.5])
    np.testing.assert_allclose(with_hz, [51.75, 93.25])
    assert list((counts == 0).sum(axis=1)) == [5, 1]
    assert not (open_counts == 0).any()
    assert (counts[0, 8], open_counts[0, 8]) == (10, 19)
    assert (counts[0, -1], open_counts[0, -1]) == (21, 28)
    for quoted in ("97.25 Hz", "153.5 Hz", "51.75 Hz", "93.25 Hz", "5 of 20", "1 of 20",
                   "10 times instead of 19", "21 of its 28"):
        assert quoted in text
    drop = 1 - with_hz / without_hz
    assert 0.39 <= drop.min() and drop.max() <= 0.47  # "drops by 39-47 %"
    assert "drops by 39-47 %" in text
    late = namespace["trace"].i_fb[0][namespace["late"]].mean()
    assert -0.3 < late < -0.2  # "about a quarter of a nA"


def test_the_toml_example_loads_and_runs_a_few_steps(monkeypatch, clean_imports):
    from hnnbio.hnn import simulate
    from hnnbio.hnn.files import load_hnn

    monkeypatch.syspath_prepend(str(EXAMPLES))
    graph = load_hnn(EXAMPLES / "ei_feedback.toml")
    assert [u.name for u in graph.units] == ["rate", "feedback"]
    assert graph.unit_direction(graph.node("feedback")) == "ann_to_snn"
    drive = np.full((3, 20), 2.0)  # 2 nA: the first spikes come after ~4 steps
    result = simulate(graph, drive, steps=20, seed=0)
    assert (result.n_samples, result.n_steps) == (3, 20)
    assert result.spike_counts()["exc"].shape == (3, 20)
    assert result.spikes["exc"].step.size > 0
    trace = result.monitors["trace"]
    assert trace.v.shape == (1, 20) and trace.i_fb.shape == (1, 20)
