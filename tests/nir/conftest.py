"""Fixtures of the NIR tests: graphs written with nir's own API and nir.write (files "written by
someone else"), read with hnnbio.nir.read_nir and loaded as HNN files."""

import numpy as np
import pytest


def lif(n, tau=0.02, r=2.0, v_th=1.0, v_leak=0.0, v_reset=0.0):
    import nir

    full = lambda v: np.full(n, v, dtype=float)  # noqa: E731
    return nir.LIF(tau=full(tau), r=full(r), v_leak=full(v_leak), v_threshold=full(v_th),
                   v_reset=full(v_reset))


def io(n):
    import nir

    return nir.Input(input_type={"input": np.array([n])}), nir.Output(
        output_type={"output": np.array([n])})


@pytest.fixture
def nodes():
    """The helpers above: nodes.lif(n, ...), nodes.io(n)."""
    from types import SimpleNamespace

    return SimpleNamespace(lif=lif, io=io)


@pytest.fixture
def imported(tmp_path):
    """graph -> (the HNN graph loaded from the imported file, the file's text)."""
    import nir

    from hnnbio.hnn.files import load_hnn
    from hnnbio.nir import read_nir

    def make(graph, dt="0.1 ms", name="g"):
        path = tmp_path / f"{name}.nir"
        nir.write(str(path), graph)
        text = read_nir(path, dt)
        toml = tmp_path / f"{name}.toml"
        toml.write_text(text)
        return load_hnn(toml), text

    return make
