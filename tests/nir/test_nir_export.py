"""HNN -> NIR: round trips (same equations, weights and spikes) and refusals by name."""

import warnings

import nir
import numpy as np
import pytest
import torch
from brian2 import ms, nA, ohm, volt

from hnnbio.errors import NIRError
from hnnbio.hnn import HNN, HybridUnit, Input, Network, Population, Synapse, simulate
from hnnbio.hnn.files import load_hnn
from hnnbio.nir import read_nir, write_nir


def _inp(n):
    return nir.Input(input_type={"input": np.array([n])})


def _out(n):
    return nir.Output(output_type={"output": np.array([n])})


def _rich_graph():
    """input(3) -> affine(4x3, bias) -> lif(4) -> linear(2x4) -> delay -> cuba(2) -> out;
    lif -> lateral -> lif (recurrent); input -> li(3) -> out_li."""
    rng = np.random.default_rng(1)
    w1 = rng.uniform(0.5, 2.0, (4, 3))
    w2 = rng.uniform(-0.05, 0.2, (2, 4))
    lateral = -0.01 * (1 - np.eye(4))
    nodes = {
        "input": _inp(3),
        "affine": nir.Affine(weight=w1, bias=np.array([0.1, 0.0, 0.2, 0.3])),
        "lif": nir.LIF(tau=np.array([0.01, 0.02, 0.015, 0.01]), r=np.full(4, 1.2),
                       v_leak=np.zeros(4), v_threshold=np.full(4, 1.0), v_reset=np.zeros(4)),
        "lateral": nir.Linear(weight=lateral),
        "linear": nir.Linear(weight=w2),
        "delay": nir.Delay(delay=np.array([0.002, 0.0005])),
        "cuba": nir.CubaLIF(tau_syn=np.array([0.005, 0.004]), tau_mem=np.array([0.02, 0.03]),
                            r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.array([0.5, 0.6]),
                            v_reset=np.zeros(2), w_in=np.array([1.0, 2.0])),
        "output": _out(2),
        "li": nir.LI(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3)),
        "out_li": _out(3),
    }
    edges = [("input", "affine"), ("affine", "lif"), ("lif", "lateral"), ("lateral", "lif"),
             ("lif", "linear"), ("linear", "delay"), ("delay", "cuba"), ("cuba", "output"),
             ("input", "li"), ("li", "out_li")]
    return nir.NIRGraph(nodes=nodes, edges=edges), dict(w1=w1, w2=w2, lateral=lateral)


def _effective(graph, src, dst):
    """{delay: W} from neuron src to neuron dst through Linear/Affine/Delay chains, written
    independently of hnnbio: the sum over paths of the weight products, w_in of a CubaLIF
    target folded in."""
    out = {}

    def walk(node, m, delay):
        for a, b in graph.edges:
            if a != node:
                continue
            n = graph.nodes[b]
            if b == dst:
                w_in = getattr(graph.nodes[dst], "w_in", None)
                mm = m if w_in is None else np.asarray(w_in)[:, None] * m
                out[round(delay, 9)] = out.get(round(delay, 9), 0) + mm
            elif isinstance(n, (nir.Linear, nir.Affine)):
                walk(b, n.weight @ m, delay)
            elif isinstance(n, nir.Delay):
                for k in range(n.delay.size):  # one row (channel) at a time: its own delay
                    sel = np.zeros_like(m)
                    sel[k] = m[k]
                    walk(b, sel, delay + float(n.delay[k]))

    size = graph.nodes[src].output_type["output"][0]
    walk(src, np.eye(size), 0.0)
    return {d: w for d, w in out.items() if np.any(w)}


def _same_up_to_description(a, b):
    drop = lambda t: [x for x in t.splitlines() if not x.startswith("description")]  # noqa: E731
    return drop(a) == drop(b)


def test_round_trip_same_equations_weights_and_spikes(tmp_path):
    graph, w = _rich_graph()
    first = tmp_path / "first.nir"
    nir.write(str(first), graph)
    toml = tmp_path / "first.toml"
    toml.write_text(read_nir(first, "0.1 ms", name="g"))
    second_nir = tmp_path / "second.nir"
    report = write_nir(toml, second_nir)
    assert report["left_out"] == []
    back = nir.read(str(second_nir))
    # the same neuron nodes and parameters
    for name in ("lif", "cuba", "li"):
        a, b = graph.nodes[name], back.nodes[name]
        assert type(a) is type(b)
        for field in ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset"):
            if hasattr(a, field):
                np.testing.assert_allclose(getattr(b, field), getattr(a, field), rtol=1e-12)
    # the same effective weights per delay between every pair of neurons, from the input too
    for src, dst in (("lif", "lif"), ("lif", "cuba"), ("input", "lif"), ("input", "li")):
        wa, wb = _effective(graph, src, dst), _effective(back, src, dst)
        assert sorted(wa) == sorted(wb), (src, dst)
        for d in wa:
            np.testing.assert_allclose(wb[d], wa[d], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(_affine_bias(back, "lif"), [0.1, 0.0, 0.2, 0.3], rtol=1e-12)
    # the file of the exported graph is the file of the original, and so are the spikes
    again = read_nir(second_nir, "0.1 ms", name="g")
    assert _same_up_to_description(again, toml.read_text())
    toml2 = tmp_path / "second.toml"
    toml2.write_text(again)
    x = np.array([[0.9, 0.6, 1.1]])
    ra = simulate(load_hnn(toml), x, steps=3000)
    rb = simulate(load_hnn(toml2), x, steps=3000)
    for pop in ("lif", "cuba"):
        assert ra.spikes[pop].step.size > 5
        assert np.array_equal(ra.spikes[pop].step, rb.spikes[pop].step)
        assert np.array_equal(ra.spikes[pop].neuron, rb.spikes[pop].neuron)
    np.testing.assert_allclose(np.asarray(ra.monitors["out_li"].v),
                               np.asarray(rb.monitors["out_li"].v), rtol=1e-12)


def _affine_bias(graph, target):
    biases = [n.bias for a, b in graph.edges for n in [graph.nodes[a]]
              if b == target and isinstance(n, nir.Affine)]
    assert len(biases) == 1
    return biases[0]


def _lif_hnn(t_ref="0 ms", connect="all_to_all", on_pre="i_syn_post += w", extra=None):
    a = Population("a", 3, model="lif", input="drive", input_variable="i_bias",
                   params=dict(t_ref=float(t_ref.split()[0]) * ms, tau_mem=10 * ms,
                               r_mem=1e8 * ohm, v_rest=-0.07 * volt, v_reset=-0.07 * volt,
                               v_threshold=-0.05 * volt))
    b = Population("b", 2, model="lif", params=dict(t_ref=0 * ms, tau_syn=4 * ms))
    s = Synapse("ab", "a", "b", model="w : amp", on_pre=on_pre, connect=connect,
                values=dict(w=np.array([0.3, 0.5, 0.2, 0.6, 0.4, 0.1]) * nA)
                if connect == "all_to_all" else dict(w=0.5 * nA), delay=1 * ms)
    kwargs = dict(inputs=[Input("drive", 3)], populations=[a, b], synapses=[s], dt_ms=0.1,
                  monitors=[dict(name="spikes_b", kind="spikes", population="b")])
    kwargs.update(extra or {})
    return HNN("native", **kwargs)


def test_native_lif_synapse_exports_as_cubalif_and_fires_the_same(tmp_path):
    """hnnbio's own lif synapse i_syn_post += w (w in A) is NIR's CubaLIF jump w_in W / tau_syn
    with W = w tau_syn; the re-imported graph makes the same spikes as the original."""
    h = _lif_hnn()
    out = tmp_path / "native.nir"
    report = write_nir(h, out)
    g = nir.read(str(out))
    assert isinstance(g.nodes["a"], nir.LIF) and isinstance(g.nodes["b"], nir.CubaLIF)
    np.testing.assert_allclose(g.nodes["a"].tau, 0.01)
    np.testing.assert_allclose(g.nodes["a"].v_threshold, -0.05)
    w = g.nodes["ab"].weight  # (2, 3): w[j, i] of connection i -> j, times tau_syn = 4 ms
    expect = np.array([[0.3, 0.2, 0.4], [0.5, 0.6, 0.1]]) * 1e-9 * 4e-3
    np.testing.assert_allclose(w, expect, rtol=1e-12)
    np.testing.assert_allclose(g.nodes["ab_delay"].delay, 1e-3)
    assert set(g.nodes["b"].w_in) == {1.0} and report["left_out"] == []
    assert ("b", "spikes_b") in g.edges
    toml = tmp_path / "native.toml"
    toml.write_text(read_nir(out, "0.1 ms"))
    x = np.array([[0.25, 0.3, 0.4]]) * 1e-9  # A: above the 0.2 nA rheobase
    ra = simulate(h, x, steps=3000)
    rb = simulate(load_hnn(toml), x, steps=3000)
    for pop in ("a", "b"):
        assert ra.spikes[pop].step.size > 3
        assert np.array_equal(ra.spikes[pop].step, rb.spikes[pop].step)
        assert np.array_equal(ra.spikes[pop].neuron, rb.spikes[pop].neuron)


def test_hybrid_parts_are_left_out_and_listed_or_refused_when_strict(tmp_path):
    rate = HybridUnit("rate", source="a", target="net", window=5, kernel="rate")
    fb = HybridUnit("fb", source="net", target="b", kind="modulation", variable="i_bias",
                    delay_steps=1)
    net = Network("net", torch.nn.Linear(3, 2), inputs=["rate"])
    h = _lif_hnn(extra=dict(networks=[net], units=[rate, fb]))
    with pytest.warns(UserWarning, match="left out of the NIR graph: network 'net'"):
        report = write_nir(h, tmp_path / "h.nir")
    assert [x.split(" (")[0] for x in report["left_out"]] == [
        "network 'net'", "transmission unit 'rate'", "modulation unit 'fb'"]
    assert "modulation unit 'fb'" in nir.read(str(tmp_path / "h.nir")).metadata["left_out"]
    with pytest.raises(NIRError, match="network 'net' .* not exported \\(strict\\)"):
        write_nir(h, tmp_path / "strict.nir", strict=True)
    assert not (tmp_path / "strict.nir").exists()


@pytest.mark.parametrize("build, match", [
    (lambda: _lif_hnn(t_ref="2 ms"), r"population 'a': refractoriness \(t_ref"),
    (lambda: _lif_hnn(connect={"p": 0.5}), r"synapse 'ab': connect = \{ p \} is drawn at run"),
    (lambda: _lif_hnn(on_pre="i_syn_post += 2 * w"), r"synapse 'ab': on_pre .* is not a current"),
])
def test_refused_by_name(tmp_path, build, match):
    with pytest.raises(NIRError, match=match):
        write_nir(build(), tmp_path / "x.nir")
    assert not (tmp_path / "x.nir").exists()


def test_refused_models_and_files(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend("docs/examples")  # the factory of ei_feedback.toml
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NIRError, match=r"population 'sheet': model 'stochastic' "
                                           r"\(stochastic units\) has no NIR form"):
            write_nir("models/bars.toml", tmp_path / "bars.nir")
        with pytest.raises(NIRError, match="refractoriness has no NIR form"):
            write_nir("docs/examples/ei_feedback.toml", tmp_path / "ei.nir")
    own = Population("p", 2, equations="dv/dt = -v / (5 * ms) : volt", threshold="v > 1 * volt",
                     reset="v = 0 * volt")
    with pytest.raises(NIRError, match="population 'p': its equations are not one of the NIR"):
        write_nir(HNN("own", populations=[own]), tmp_path / "own.nir")
    prog = tmp_path / "x.hnnc"
    prog.write_bytes(b"\0")
    with pytest.raises(NIRError, match="integer semantics"):
        write_nir(prog, tmp_path / "p.nir")
    lonely = Population("q", 1, model="lif", params=dict(t_ref=0 * ms, i_bias=1 * nA))
    with pytest.raises(NIRError, match="population 'q': a bias current .* no input edge"):
        write_nir(HNN("lonely", populations=[lonely]), tmp_path / "q.nir")
    (tmp_path / "exists.nir").write_text("keep")
    with pytest.raises(NIRError, match="exists"):
        write_nir(_lif_hnn(), tmp_path / "exists.nir")
    assert (tmp_path / "exists.nir").read_text() == "keep"
