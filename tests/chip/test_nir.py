"""NIR side exit: written with nir.write, read back with nir.read, dropped parts listed."""

import numpy as np
import pytest

from hnnbio.chip.compiler import export
from hnnbio.chip.nir_export import DROPPED
from hnnbio.errors import ProgramError


def test_nir_export_reads_back(tmp_path, tiny_spec):
    import nir

    out = tmp_path / "tiny.nir"
    rows = export(tiny_spec, out, format="nir")
    assert rows["format"] == "nir" and rows["dropped"] == len(DROPPED)
    graph = nir.read(str(out))
    assert set(graph.nodes) == {"input", "drive", "sheet", "output"}
    edges = [("input", "drive"), ("drive", "sheet"), ("sheet", "output")]
    assert sorted(graph.edges) == sorted(edges)
    lif = graph.nodes["sheet"]
    assert isinstance(lif, nir.LIF) and lif.tau.shape == (16,)
    assert np.allclose(graph.nodes["drive"].bias, 0.5)
    assert np.array_equal(graph.nodes["drive"].weight, np.eye(16))
    dropped = graph.metadata["dropped"]
    for word in ("stochastic threshold", "refractoriness", "delay ring", "modulation", "integer"):
        assert word in dropped
    with pytest.raises(ProgramError, match="exists"):
        export(tiny_spec, out, format="nir")


def test_cli_nir_export(tmp_path, capsys):
    import nir

    from hnnbio.cli import main

    out = tmp_path / "bars.nir"
    assert main(["export", "--model", "bars", "-o", str(out), "--format", "nir"]) == 0
    assert "dropped" in capsys.readouterr().out
    assert nir.read(str(out)).nodes["sheet"].tau.shape == (400,)
