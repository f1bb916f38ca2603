"""Graph validation: every refusal is a ModelSpecError whose message names the node (and field)."""

import math

import numpy as np
import pytest
import torch
from brian2 import ms, mV

from hnnbio.errors import ModelSpecError
from hnnbio.hnn import HNN, HybridUnit, Input, Network, Population, Synapse


def pop(name="pop", size=3, **kwargs):
    return Population(name, size, equations="v : 1", threshold="False", reset="", **kwargs)


def linear(n_in, n_out):
    return torch.nn.Linear(n_in, n_out)


def loop(delay_steps=1, n_out=3, size=3):
    """pop -> read -> net -> write -> pop: a feedback loop closed by ``write``."""
    return HNN("g", populations=[pop(size=size)],
               networks=[Network("net", linear(size, n_out), inputs=("read",))],
               units=[HybridUnit("read", "pop", "net"),
                      HybridUnit("write", "net", "pop", variable="v", delay_steps=delay_steps)])


def refused(match, build):
    with pytest.raises(ModelSpecError, match=match):
        build()


def test_a_valid_loop_and_its_edges():
    g = loop()
    assert {(e.source, e.target, e.via) for e in g.edges} == {
        ("read", "net", ""), ("pop", "net", "read"), ("net", "pop", "write")}
    assert g.unit_direction(g.node("write")) == "ann_to_snn"


def test_unknown_nodes():
    refused("^read: target names no node: 'nope'",
            lambda: HNN("g", populations=[pop()], units=[HybridUnit("read", "pop", "nope")]))
    refused("^net: inputs names no node: 'nope'",
            lambda: HNN("g", populations=[pop()],
                        networks=[Network("net", linear(3, 3), inputs=("nope",))]))
    refused("^pop: input names no node: 'img'",
            lambda: HNN("g", populations=[pop(input="img", input_variable="v")]))
    refused("^s: source names no node: 'ghost'",
            lambda: HNN("g", populations=[pop()], synapses=[Synapse("s", "ghost", "pop")]))
    refused("^g: no node named 'ghost'", lambda: loop().node("ghost"))


def test_wrong_node_types_on_edges():
    net = Network("net", linear(3, 3), inputs=("cue",))
    refused("^s: source 'net' is a network, not a population",
            lambda: HNN("g", inputs=[Input("cue", 3)], populations=[pop()], networks=[net],
                        synapses=[Synapse("s", "net", "pop")]))
    refused("^pop: input 'cue2' is a population, not an input",
            lambda: HNN("g", populations=[pop(input="cue2", input_variable="v"),
                                          pop("cue2")]))
    refused("^net: inputs 'pop' is a population, not a unit, network or input",
            lambda: HNN("g", populations=[pop()],
                        networks=[Network("net", linear(3, 3), inputs=("pop",))]))
    refused("^u: target 'other' is a population, not a network",
            lambda: HNN("g", populations=[pop(), pop("other")],
                        units=[HybridUnit("u", "pop", "other")]))
    refused("^u: source 'cue' is a input, not a population or network",
            lambda: HNN("g", inputs=[Input("cue", 3)], populations=[pop()],
                        units=[HybridUnit("u", "cue", "pop", variable="v")]))
    refused("^read: its target network 'net' does not list it in inputs",
            lambda: HNN("g", inputs=[Input("cue", 3)], populations=[pop()],
                        networks=[net], units=[HybridUnit("read", "pop", "net")]))


def test_feedback_needs_a_delay():
    refused("^write: closes a feedback loop .*delay_steps >= 1", lambda: loop(delay_steps=0))
    assert loop(delay_steps=1).node("write").delay_steps == 1
    assert loop(delay_steps=4).node("write").delay_steps == 4


def test_input_only_network_may_have_no_delay():
    g = HNN("g", inputs=[Input("cue", 3)], populations=[pop()],
            networks=[Network("net", linear(3, 3), inputs=("cue",))],
            units=[HybridUnit("w", "net", "pop", variable="v", delay_steps=0)])
    assert g.node("w").delay_steps == 0


def test_size_mismatches():
    refused("^write: network 'net' gives 4 values per sample, population 'pop' has 3 neurons",
            lambda: loop(n_out=4))
    refused("^net: does not accept 3 inputs per sample",
            lambda: HNN("g", populations=[pop()],
                        networks=[Network("net", linear(5, 3), inputs=("read",))],
                        units=[HybridUnit("read", "pop", "net")]))


def test_network_cycle():
    refused("^(a|b): networks form a cycle",
            lambda: HNN("g", inputs=[Input("cue", 3)], populations=[pop()],
                        networks=[Network("a", linear(6, 3), inputs=("cue", "b")),
                                  Network("b", linear(3, 3), inputs=("a",))]))


def test_duplicate_names():
    refused("^pop: name used twice \\(population and network\\)",
            lambda: HNN("g", populations=[pop()], inputs=[Input("cue", 3)],
                        networks=[Network("pop", linear(3, 3), inputs=("cue",))]))
    refused("^pop: name used twice", lambda: HNN("g", populations=[pop(), pop()]))


def test_graph_level_values():
    refused("^g: the graph has no population", lambda: HNN("g"))
    for bad in (math.nan, math.inf, -1.0, 0, True, "1"):
        refused("^g: dt must be a finite time > 0", lambda bad=bad: HNN("g", [pop()], dt_ms=bad))
    for key in ("steps", "batch_size", "n_samples"):
        for bad in (0, -3, True, 2.5, math.nan):
            refused(f"^g: {key} must be", lambda key=key, bad=bad: HNN("g", [pop()],
                                                                       **{key: bad}))
    refused("^g: population 'x' is not a Population", lambda: HNN("g", ["x"]))


BAD_NUMBERS = (math.nan, math.inf, -math.inf, True, "2")


@pytest.mark.parametrize("field,low", [("gain", None), ("theta", None), ("tau_steps", 0.0),
                                       ("initial", None)])
def test_unit_numbers(field, low):
    for bad in BAD_NUMBERS + ((-1.0,) if low is not None else ()):
        with pytest.raises(ModelSpecError, match=f"^u: {field} must"):
            HybridUnit("u", "a", "b", **{field: bad})


@pytest.mark.parametrize("field,low", [("window", 1), ("delay_steps", 0), ("record_steps", 0),
                                       ("bits", 1)])
def test_unit_integers(field, low):
    for bad in (low - 1, True, 1.5, math.nan, "3"):
        with pytest.raises(ModelSpecError, match=f"^u: {field} must"):
            HybridUnit("u", "a", "b", **{field: bad})


def test_unit_lists_and_choices():
    for keep in ([math.nan, 1, 1], [1.5, 1, 1], [-0.1, 1, 1], [True, True, True], []):
        refused("^u: keep must", lambda keep=keep: HybridUnit("u", "a", "b", window=3,
                                                              kernel="coincidence", keep=keep))
    refused("^u: keep needs one probability per window step",
            lambda: HybridUnit("u", "a", "b", window=2, kernel="coincidence", keep=[1, 1, 1]))
    for kernel in ([1.0, math.nan], [1.0], [True, False], "box"):
        refused("^u: kernel must", lambda kernel=kernel: HybridUnit("u", "a", "b", window=2,
                                                                    kernel=kernel))
    refused("^u: kind must be one of", lambda: HybridUnit("u", "a", "b", kind="gate"))
    refused("^u: nested must be true or false",
            lambda: HybridUnit("u", "a", "b", nested=1))
    refused("^u: module is needed", lambda: HybridUnit("u", "a", "b", kernel="learnable"))


def test_unit_direction_checks():
    refused("^write: variable is needed",
            lambda: HNN("g", populations=[pop()],
                        networks=[Network("net", linear(3, 3), inputs=("read",))],
                        units=[HybridUnit("read", "pop", "net"),
                               HybridUnit("write", "net", "pop")]))
    refused("^read: variable belongs to ANN -> SNN units",
            lambda: HNN("g", populations=[pop()],
                        networks=[Network("net", linear(3, 3), inputs=("read",))],
                        units=[HybridUnit("read", "pop", "net", variable="v")]))
    refused("^write: operation must be one of set, multiply, shift",
            lambda: HNN("g", populations=[pop()],
                        networks=[Network("net", linear(3, 3), inputs=("read",))],
                        units=[HybridUnit("read", "pop", "net"),
                               HybridUnit("write", "net", "pop", variable="v",
                                          kind="modulation", operation="add")]))


def test_input_and_population_fields():
    for bad in (0, True, 2.0, math.nan):
        refused("^cue: size must", lambda bad=bad: Input("cue", bad))
        refused("^p: size must", lambda bad=bad: pop("p", size=bad))
    for bad in (-1, True, 1.5):
        refused("^p: refractory_steps must", lambda bad=bad: pop("p", refractory_steps=bad))
    refused("^p: drop_undriven must be true or false",
            lambda: pop("p", input="i", input_variable="v", drop_undriven=1))
    refused("^p: record must be true or false", lambda: pop("p", record="yes"))
    refused("^p: params.v must be finite", lambda: pop("p", params={"v": math.nan}))
    refused("^p: params.v must be finite", lambda: pop("p", params={"v": [1.0, math.inf]}))
    refused("^p: namespace.tau must be finite", lambda: pop("p", namespace={"tau": math.nan * ms}))
    refused("^p: dtype.v must be one of", lambda: pop("p", dtype={"v": "int8"}))
    refused("^p: model or equations", lambda: Population("p", 3))
    refused("^p: threshold .* go with equations", lambda: Population("p", 3, model="lif",
                                                                    threshold="v > 1"))
    refused("^population name 'a b' is not a valid identifier", lambda: pop("a b"))


def test_synapse_fields():
    for p in (math.nan, -0.1, 1.5, True):
        refused("^s: connect.p must", lambda p=p: Synapse("s", "a", "b", connect={"p": p}))
    refused("^s: connect must be one of", lambda: Synapse("s", "a", "b", connect="some"))
    refused("^s: connect i and j", lambda: Synapse("s", "a", "b", connect={"i": [0, -1],
                                                                           "j": [0, 1]}))
    refused("^s: connect i and j", lambda: Synapse("s", "a", "b", connect={"i": [0.5],
                                                                           "j": [0]}))
    refused("^s: connect must have keys", lambda: Synapse("s", "a", "b", connect={"q": 1}))
    for delay in (-1 * ms, math.nan * ms, math.inf * ms, 2 * mV, 3, True, np.array([1, -1]) * ms):
        refused("^s: delay must", lambda delay=delay: Synapse("s", "a", "b", delay=delay))
    refused("^s: values.w must be finite",
            lambda: Synapse("s", "a", "b", model="w : 1", values={"w": [1.0, math.nan]}))
    assert Synapse("s", "a", "b", delay=0 * ms).delay == 0 * ms


def test_network_fields():
    for bad in (0, True, 1.5):
        refused("^n: every must", lambda bad=bad: Network("n", linear(1, 1), inputs=("x",),
                                                          every=bad))
    refused("^n: module must be a torch.nn.Module", lambda: Network("n", object(), inputs=("x",)))
    refused("^n: inputs must name at least one node", lambda: Network("n", linear(1, 1)))


def test_a_factory_network_is_the_same_however_the_process_got_there(tmp_path):
    """A network made by a factory (random initial weights) is made under a torch seed from its
    name: two loads of one file give the same weights whatever torch drew in between, the
    caller's generator is left as it was, and two networks of one file differ."""
    import torch

    from hnnbio.hnn.files import load_hnn

    path = tmp_path / "f.toml"
    path.write_text('''name = "f"
[simulation]
dt = "1 ms"
[inputs.x]
size = 4
[populations.p]
size = 3
equations = "v : volt"
[networks.a]
factory = "torch.nn:Linear"
kwargs = { in_features = 4, out_features = 3 }
inputs = ["x"]
[networks.b]
factory = "torch.nn:Linear"
kwargs = { in_features = 4, out_features = 3 }
inputs = ["x"]
''')
    first = load_hnn(path)
    torch.rand(1000)
    state = torch.random.get_rng_state()
    second = load_hnn(path)
    assert torch.equal(torch.random.get_rng_state(), state)
    for name in ("a", "b"):
        assert torch.equal(first.node(name).module.weight, second.node(name).module.weight)
    assert not torch.equal(first.node("a").module.weight, first.node("b").module.weight)
