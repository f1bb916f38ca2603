"""Bad NIR input: one NIRError line naming the node and the problem; nothing written."""

import h5py
import nir
import numpy as np
import pytest

from hnnbio.errors import HnnbioError, NIRError
from hnnbio.nir import import_nir, read_nir


def _write(tmp_path, nodes, edges, name="bad"):
    path = tmp_path / f"{name}.nir"
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    return path


def _chain(nodes, tmp_path, *extra_edges):
    names = list(nodes)
    edges = [(a, b) for a, b in zip(names, names[1:], strict=False)]
    return _write(tmp_path, nodes, edges + list(extra_edges))


def _inp(n):
    return nir.Input(input_type={"input": np.array([n])})


def _lif(n, tau=0.01):
    return nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n),
                   v_threshold=np.ones(n), v_reset=np.zeros(n))


def _refused(path, match, dt="0.1 ms"):
    with pytest.raises(NIRError, match=match) as info:
        read_nir(path, dt)
    assert "\n" not in str(info.value) and isinstance(info.value, HnnbioError)


def test_unsupported_nodes_are_named(tmp_path):
    conv = nir.Conv2d(input_shape=(4, 4), weight=np.ones((1, 1, 2, 2)), stride=1, padding=0,
                      dilation=1, groups=1, bias=np.zeros(1))
    path = _write(tmp_path, {"input": nir.Input(input_type={"input": np.array([1, 4, 4])}),
                             "conv": conv}, [("input", "conv")])
    _refused(path, r"node 'conv': Conv2d is not supported")
    flat = nir.Flatten(input_type={"input": np.array([2, 2])}, start_dim=0, end_dim=-1)
    path = _write(tmp_path, {"input": nir.Input(input_type={"input": np.array([2, 2])}),
                             "flat": flat}, [("input", "flat")], "flat")
    _refused(path, r"node 'flat': Flatten is not supported")
    pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                         padding=np.array([0, 0]))
    path = _write(tmp_path, {"pool": pool}, [], "pool")
    _refused(path, r"node 'pool': SumPool2d is not supported")


def test_subgraph_is_refused(tmp_path):
    inner = nir.NIRGraph(nodes={"input": _inp(2), "lif": _lif(2),
                                "output": nir.Output(output_type={"output": np.array([2])})},
                         edges=[("input", "lif"), ("lif", "output")])
    path = _write(tmp_path, {"input": _inp(2), "sub": inner}, [("input", "sub")])
    _refused(path, r"node 'sub': NIRGraph subgraphs are not supported")


def test_mismatched_shapes(tmp_path):
    path = _chain({"input": _inp(3), "w": nir.Linear(weight=np.ones((2, 4))), "lif": _lif(2)},
                  tmp_path)
    _refused(path, r"edge input -> w: input gives 3 values, w takes 4")
    path = _chain({"input": _inp(2), "w": nir.Affine(weight=np.ones((2, 2)),
                                                     bias=np.zeros(3)), "lif": _lif(2)},
                  tmp_path)
    _refused(path, r"node 'w': bias has shape \(3,\)")
    # a parameter of another length, edited into the file (nir's constructor would refuse it)
    path = _chain({"input": _inp(2), "lif": _lif(2)}, tmp_path)
    with h5py.File(path, "r+") as f:
        del f["node/nodes/lif/tau"]
        f["node/nodes/lif/tau"] = np.full(3, 0.01)
    _refused(path, r"node 'lif': LIF does not load")


def test_missing_dt_and_bad_dt(tmp_path):
    path = _chain({"input": _inp(1), "lif": _lif(1)}, tmp_path)
    _refused(path, r"dt: NIR graphs carry no time step", dt=None)
    _refused(path, r"dt: must be a time", dt="3 mV")
    _refused(path, r"dt: must be a finite time > 0", dt="-1 ms")
    _refused(path, r"dt: must be a time", dt=0.1)


def test_non_positive_time_constants(tmp_path):
    path = _chain({"input": _inp(2), "lif": _lif(2, tau=0.0)}, tmp_path)
    _refused(path, r"node 'lif': tau must be > 0")
    cuba = nir.CubaLIF(tau_syn=np.array([-1e-3]), tau_mem=np.array([0.01]), r=np.ones(1),
                       v_leak=np.zeros(1), v_threshold=np.ones(1))
    path = _chain({"input": _inp(1), "c": cuba}, tmp_path)
    _refused(path, r"node 'c': tau_syn must be > 0")


def test_delays(tmp_path):
    path = _chain({"input": _inp(1), "a": _lif(1), "d": nir.Delay(delay=np.array([1.5e-4])),
                   "b": _lif(1)}, tmp_path)
    _refused(path, r"node 'd': delay .* is not a whole number of steps of dt = 0.1 ms")
    path = _chain({"input": _inp(1), "a": _lif(1), "d": nir.Delay(delay=np.array([-1e-3])),
                   "b": _lif(1)}, tmp_path)
    _refused(path, r"node 'd': delay must be >= 0")
    path = _chain({"input": _inp(1), "d": nir.Delay(delay=np.array([1e-3])), "b": _lif(1)},
                  tmp_path)
    _refused(path, r"node 'd': delays the values of 'input' \(a Input\); only spike paths")


def test_graph_structure(tmp_path):
    # an algebraic loop: two weight nodes feeding each other, no neuron on the loop
    path = _write(tmp_path, {"input": _inp(1), "a": nir.Linear(weight=np.ones((1, 1))),
                             "b": nir.Linear(weight=np.ones((1, 1))), "lif": _lif(1)},
                  [("input", "a"), ("a", "b"), ("b", "a"), ("b", "lif")])
    _refused(path, r"a cycle through weight nodes only")
    path = _write(tmp_path, {"input": _inp(1), "lif": _lif(1),
                             "w": nir.Linear(weight=np.ones((1, 1))),
                             "out": nir.Output(output_type={"output": np.array([1])})},
                  [("input", "lif"), ("lif", "w"), ("w", "out")])
    _refused(path, r"node 'w': Linear feeds only Output nodes")
    th = nir.Threshold(threshold=np.ones(1))
    path = _chain({"input": _inp(1), "a": _lif(1), "th": th}, tmp_path)
    _refused(path, r"node 'th': Threshold is fed the spikes of 'a'")
    path = _write(tmp_path, {"input": _inp(1),
                             "out": nir.Output(output_type={"output": np.array([1])})},
                  [("input", "out")])
    _refused(path, r"no neuron node")
    path = _write(tmp_path, {"input": _inp(1), "lif": _lif(1)}, [("input", "lif"),
                                                                  ("input", "ghost")])
    _refused(path, r"no node named 'ghost'")


def test_recurrent_spiking_loop_is_accepted(tmp_path):
    """A cycle through a neuron (lif -> w -> lif) is a synapse, not an algebraic loop."""
    path = _write(tmp_path, {"input": _inp(2), "lif": _lif(2),
                             "w": nir.Linear(weight=np.array([[0.0, -0.5], [-0.5, 0.0]]))},
                  [("input", "lif"), ("lif", "w"), ("w", "lif")])
    text = read_nir(path, "0.1 ms")
    assert "[synapses.lif_to_lif]" in text


def test_unreadable_files_and_nothing_written(tmp_path):
    junk = tmp_path / "junk.nir"
    junk.write_bytes(b"not hdf5 at all")
    _refused(junk, r"junk.nir: not a readable NIR file")
    _refused(tmp_path / "missing.nir", r"NIR file not found")
    bad = _chain({"input": _inp(1), "lif": _lif(1, tau=-1.0)}, tmp_path)
    out = tmp_path / "out.toml"
    with pytest.raises(NIRError, match="tau must be > 0"):
        import_nir(bad, "0.1 ms", out)
    assert not out.exists() and not list(tmp_path.glob(".nir-*"))
    good = _chain({"input": _inp(1), "lif": _lif(1)}, tmp_path)
    out.write_text("keep me")
    with pytest.raises(NIRError, match="exists"):
        import_nir(good, "0.1 ms", out)
    assert out.read_text() == "keep me"
    assert import_nir(good, "0.1 ms", out, overwrite=True)["populations"] == 1
