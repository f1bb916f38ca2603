"""The engine: store/restore, the caller's settings and generators, devices, monitors, results."""

import numpy as np
import pytest
import torch
from brian2 import prefs

from hnnbio.errors import DataError, ModelSpecError, ParameterError
from hnnbio.hnn import HNN, HNNResult, HybridUnit, Input, Network, Population, Simulation, simulate


class Flip(torch.nn.Module):
    """1 - x: a fixed network, no parameters to train."""

    def forward(self, x):
        return 1.0 - x


def stochastic_loop(size=5):
    """Random spikes (rand() < x * c), a coincidence unit with random coins, a network and an
    ANN -> SNN unit with a Bernoulli quantiser: every random stream of the engine is used."""
    sheet = Population("sheet", size, equations="x : 1 (constant)\nc : 1",
                       threshold="rand() < x * c", reset="", refractory_steps=1, input="img",
                       input_variable="x")
    return HNN("st", inputs=[Input("img", size)], populations=[sheet],
               networks=[Network("net", Flip(), inputs=("win",))],
               units=[HybridUnit("win", "sheet", "net", window=3, kernel="coincidence",
                                 keep=(1.0, 0.5, 0.25)),
                      HybridUnit("att", "net", "sheet", kind="modulation", variable="c",
                                 quantiser="bernoulli", delay_steps=2, initial=0.7)],
               monitors=[{"name": "sp", "kind": "spikes", "population": "sheet"},
                         {"name": "st", "kind": "state", "population": "sheet",
                          "variables": ["c"], "record": [0, 7]},
                         {"name": "rt", "kind": "rate", "population": "sheet"}])


IMAGES = np.array([[1.0, 0.8, 0.0, 0.6, 1.0], [0.5, 1.0, 1.0, 0.0, 0.9]])


def same_spikes(a, b):
    for key in ("sample", "step", "neuron"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


@pytest.mark.parametrize("first", [0, 7])
def test_store_restore_then_run_again_gives_identical_spikes(first):
    sim = Simulation(stochastic_loop(), IMAGES, seed=4)
    if first:
        sim.run(first)
    sim.store()
    one = sim.run(20)
    sim.restore()
    two = sim.run(20)
    assert one.spikes["sheet"].step.size > 10
    assert one.start_step == two.start_step == first
    same_spikes(one.spikes["sheet"], two.spikes["sheet"])
    # and the same as one simulation that never stored: store/restore draw nothing
    fresh = Simulation(stochastic_loop(), IMAGES, seed=4)
    if first:
        fresh.run(first)
    same_spikes(fresh.run(20).spikes["sheet"], one.spikes["sheet"])


@pytest.mark.slow
def test_cython_rand_is_the_simulations_own():
    # Brian2's Cython rand() reads a process-wide buffer; store/restore and another simulation
    # run in between must not change a simulation's spikes (a compile of ~15 s once per machine)
    from hnnbio.config import _cython_works

    if not _cython_works():
        pytest.skip("Brian2's Cython target does not compile here")
    sim = Simulation(stochastic_loop(), IMAGES, seed=4, target="cython")
    other = Simulation(stochastic_loop(), IMAGES, seed=8, target="cython")
    sim.store()
    one = sim.run(20)
    other.run(20)
    sim.restore()
    two = sim.run(20)
    assert one.spikes["sheet"].step.size > 10
    same_spikes(one.spikes["sheet"], two.spikes["sheet"])
    fresh = Simulation(stochastic_loop(), IMAGES, seed=4, target="cython")
    same_spikes(fresh.run(20).spikes["sheet"], one.spikes["sheet"])


def test_restore_of_nothing_stored():
    with pytest.raises(ParameterError, match="restore: nothing stored under 'x'"):
        Simulation(stochastic_loop(), IMAGES).restore("x")


def test_same_seed_same_spikes_and_two_runs_equal_one():
    a = simulate(stochastic_loop(), IMAGES, steps=30, seed=9).spikes["sheet"]
    b = simulate(stochastic_loop(), IMAGES, steps=30, seed=9).spikes["sheet"]
    same_spikes(a, b)
    sim = Simulation(stochastic_loop(), IMAGES, seed=9)
    first, second = sim.run(12).spikes["sheet"], sim.run(18).spikes["sheet"]
    assert second.step.min() >= 12
    joined = [np.concatenate([getattr(first, k), getattr(second, k)])
              for k in ("sample", "step", "neuron")]
    for got, want in zip(joined, (a.sample, a.step, a.neuron), strict=True):
        np.testing.assert_array_equal(got, want)
    c = simulate(stochastic_loop(), IMAGES, steps=30, seed=10).spikes["sheet"]
    assert not np.array_equal(a.step, c.step) or not np.array_equal(a.neuron, c.neuron)


@pytest.mark.parametrize("target", ["numpy", "cython"])
def test_the_users_codegen_target_survives(target):
    if target == "cython":
        pytest.importorskip("Cython")
    prefs.codegen.target = target
    try:
        simulate(stochastic_loop(), IMAGES, steps=3, target="numpy")
        assert prefs.codegen.target == target
        Simulation(stochastic_loop(), IMAGES, target="numpy").run(2)
        assert prefs.codegen.target == target
    finally:
        prefs.codegen.target = "numpy"


def test_global_generators_are_left_alone():
    np.random.seed(123)
    torch.manual_seed(321)
    np_before, torch_before = np.random.get_state(), torch.get_rng_state()
    sim = Simulation(stochastic_loop(), IMAGES, seed=1)
    sim.store()
    sim.run(10)
    sim.restore()
    sim.run(5)
    np_after = np.random.get_state()
    assert np_before[0] == np_after[0] and np_before[2:] == np_after[2:]
    np.testing.assert_array_equal(np_before[1], np_after[1])
    assert torch.equal(torch_before, torch.get_rng_state())


def test_devices():
    assert simulate(stochastic_loop(), IMAGES, steps=3, device="cpu").n_steps == 3
    with pytest.raises(ParameterError, match="device: 'bogus' is not a torch device"):
        Simulation(stochastic_loop(), IMAGES, device="bogus")
    with pytest.raises(ParameterError, match="device: expected a string"):
        Simulation(stochastic_loop(), IMAGES, device=0)
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="device: cuda asked for"):
            Simulation(stochastic_loop(), IMAGES, device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_gives_the_cpu_result():
    # Flip (1 - x on 0/1 values) is exact on any device: the same spikes
    cpu = simulate(stochastic_loop(), IMAGES, steps=20, seed=2, device="cpu")
    gpu = simulate(stochastic_loop(), IMAGES, steps=20, seed=2, device="cuda")
    same_spikes(cpu.spikes["sheet"], gpu.spikes["sheet"])


def test_monitors_hold_the_expected_data():
    steps = 25
    result = simulate(stochastic_loop(), IMAGES, steps=steps, seed=3)
    s = result.spikes["sheet"]
    mon = result.monitors["sp"]
    # the SpikeMonitor sees the group of B * size neurons, index sample * size + neuron
    np.testing.assert_array_equal(np.asarray(mon.i), s.sample * 5 + s.neuron)
    np.testing.assert_array_equal(np.round(np.asarray(mon.t / (result.dt_ms * 1e-3))), s.step)
    st = result.monitors["st"]
    assert np.asarray(st.c).shape == (2, steps)
    values = np.unique(np.asarray(st.c)[:, 2:])
    assert set(values) <= {0.0, 1.0}  # Bernoulli outputs applied from step 2 (delay 2)
    np.testing.assert_array_equal(np.asarray(st.c)[:, :2], np.float32(0.7))  # initial, float32
    rate = np.asarray(result.monitors["rt"].rate)  # Hz, per step over the 10 neurons
    assert rate.shape == (steps,)
    counts = np.bincount(s.step, minlength=steps)
    np.testing.assert_allclose(rate, counts / 10 / (result.dt_ms * 1e-3), rtol=1e-12)


def test_bad_monitors():
    for spec, match in (({"kind": "spikes", "population": "nope"}, "population names no"),
                        ({"kind": "voltage", "population": "sheet"}, "kind must be one of"),
                        ({"kind": "state", "population": "sheet"}, "variables must list"),
                        ({"kind": "state", "population": "sheet", "variables": ["q"]},
                         "population 'sheet' has no variable 'q'"),
                        ({"kind": "rate", "population": "sheet", "every": 2}, "unknown key")):
        with pytest.raises(ModelSpecError, match=f"^bad: {match}"):
            Simulation(stochastic_loop(), IMAGES, monitors=[dict(name="bad", **spec)])


def test_to_neo_one_segment_per_sample_one_group_per_population():
    result = simulate(stochastic_loop(), IMAGES, steps=20, seed=5)
    block = result.to_neo()
    assert len(block.segments) == 2
    assert [g.name for g in block.groups] == ["sheet"]
    assert len(block.groups[0].spiketrains) == 2 * 5
    s = result.spikes["sheet"]
    for b, seg in enumerate(block.segments):
        assert len(seg.spiketrains) == 5
        for n, train in enumerate(seg.spiketrains):
            want = np.sort(s.step[(s.sample == b) & (s.neuron == n)]) * result.dt_ms
            np.testing.assert_array_equal(train.rescale("ms").magnitude, want)
            assert float(train.t_stop.rescale("ms")) == 20 * result.dt_ms


def test_save_and_load_round_trip(tmp_path):
    result = simulate(stochastic_loop(), IMAGES, steps=15, seed=6)
    result.metrics["score"] = np.array([0.25, 0.5])
    path = tmp_path / "r.npz"
    result.save(path)
    back = HNNResult.load(path)
    assert (back.name, back.n_samples, back.n_steps, back.dt_ms, back.start_step) == (
        result.name, result.n_samples, result.n_steps, result.dt_ms, result.start_step)
    same_spikes(back.spikes["sheet"], result.spikes["sheet"])
    assert back.spikes["sheet"].size == 5
    np.testing.assert_array_equal(back.metrics["score"], [0.25, 0.5])
    np.testing.assert_array_equal(back.spike_counts()["sheet"], result.spike_counts()["sheet"])
    with pytest.raises(DataError, match="result file not found"):
        HNNResult.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not an HNN result file"):
        HNNResult.load(tmp_path / "junk.npz")


def test_nonsense_arguments():
    g = stochastic_loop()
    with pytest.raises(ParameterError, match="graph: expected an HNN"):
        Simulation("g", IMAGES)
    for seed in (-1, 2**32, 1.5, True):
        with pytest.raises(ParameterError, match="seed: must be an integer"):
            Simulation(g, IMAGES, seed=seed)
    with pytest.raises(DataError, match="inputs: 'img' must have shape"):
        Simulation(g, IMAGES[:, :3])
    with pytest.raises(DataError, match="NaN"):
        Simulation(g, np.full((1, 5), np.nan))
    with pytest.raises(DataError, match="inputs: 'other' is not an input"):
        Simulation(g, {"img": IMAGES, "other": IMAGES})
    with pytest.raises(DataError, match="no values given for input 'img'"):
        Simulation(g)
    with pytest.raises(DataError, match="has 4 steps, the run needs 5"):
        Simulation(g, np.ones((2, 4, 5))).run(5)
    with pytest.raises(ParameterError, match="steps: not given"):
        simulate(g, IMAGES)
    with pytest.raises((ParameterError, ModelSpecError), match="steps:? must"):
        Simulation(g, IMAGES).run(0)
    plain = HNN("p", populations=[Population("a", 2, equations="v : 1", threshold="False",
                                             reset="")])
    with pytest.raises(ModelSpecError, match="n_samples must be >= 1"):
        Simulation(plain, n_samples=0)
    assert Simulation(plain, n_samples=3).n_samples == 3


def recording_loop():
    """stochastic_loop with the attention's last 3 applied steps recorded."""
    g = stochastic_loop()
    units = [u if u.name != "att" else HybridUnit(
        "att", "net", "sheet", kind="modulation", variable="c", quantiser="bernoulli",
        delay_steps=2, initial=0.7, record_steps=3) for u in g.units]
    return HNN("st", inputs=list(g.inputs), populations=list(g.populations),
               networks=[Network("net", Flip(), inputs=("win",))], units=units)


def test_until_ends_the_run_after_the_step_it_names_and_the_steps_before_are_unchanged():
    full = Simulation(recording_loop(), IMAGES, seed=9).run(30)
    short = Simulation(recording_loop(), IMAGES, seed=9).run(12)
    asked = []

    def until(sim):
        asked.append(sim.t)
        return sim.t == 12

    sim = Simulation(recording_loop(), IMAGES, seed=9)
    part = sim.run(30, until=until, check_every=4)
    assert asked == [4, 8, 12] and part.n_steps == 12 and sim.t == 12
    same_spikes(part.spikes["sheet"], short.spikes["sheet"])
    # the applied values of the last 3 steps run (9, 10, 11), as a run of exactly 12 steps
    assert part.applied["att"].shape == (2, 3, 5)
    np.testing.assert_array_equal(part.applied["att"], short.applied["att"])
    rest = sim.run(18).spikes["sheet"]  # the simulation goes on where the stop left it
    keep = full.spikes["sheet"].step >= 12
    for key in ("sample", "step", "neuron"):
        np.testing.assert_array_equal(getattr(rest, key), getattr(full.spikes["sheet"], key)[keep])
    never = Simulation(recording_loop(), IMAGES, seed=9).run(30, until=lambda sim: False)
    same_spikes(never.spikes["sheet"], full.spikes["sheet"])
    np.testing.assert_array_equal(never.applied["att"], full.applied["att"])
    with pytest.raises(ParameterError, match="until: must be callable"):
        Simulation(recording_loop(), IMAGES).run(5, until=3)
    with pytest.raises(ParameterError, match="check_every"):
        Simulation(recording_loop(), IMAGES).run(5, until=until, check_every=0)
    with pytest.raises(ParameterError, match="'win' is not an ANN -> SNN unit"):
        sim.pending("win")
    assert sim.pending("att").shape == (2, 10)


def integrator_graph(window_source="drive"):
    """A driven LIF and a threshold-less integrator ``v : volt`` (recorded, as by default) that
    sums its spikes; a window unit on ``window_source``."""
    drive = Population("drive", 3, equations="dv/dt = (60*mV * x - v) / (5*ms) : volt\nx : 1",
                       threshold="v > 20*mV", reset="v = 0*mV", method="exact", input="img",
                       input_variable="x")
    total = Population("total", 3, equations="v : volt")
    from hnnbio.hnn import Synapse

    syn = Synapse("s", "drive", "total", model="w : 1", on_pre="v_post += w * mV",
                  values={"w": 1.0})
    return HNN("integ", inputs=[Input("img", 3)], populations=[drive, total], synapses=[syn],
               networks=[Network("net", Flip(), inputs=("win",))],
               units=[HybridUnit("win", window_source, "net", window=2)])


def test_a_population_without_threshold_has_no_spikes_and_its_v_counts_the_inputs_spikes():
    """Brian2 gives a threshold-less group no spike space: the run records no spikes for it
    (it used to end in KeyError '_spikespace'), and its v is the number of input spikes in mV
    (one_to_one, w = 1)."""
    from brian2 import mV

    graph = integrator_graph()
    sim = Simulation(graph, {"img": np.array([[1.0, 0.6, 0.0]])})
    result = sim.run(50)
    assert set(result.spike_counts()) == {"drive"}
    counts = result.spike_counts()["drive"][0]
    assert counts[0] > counts[1] > 0 == counts[2]
    np.testing.assert_allclose(sim.populations["total"].group.v[:] / mV, counts)


def test_a_window_on_a_population_without_threshold_is_refused_by_name():
    with pytest.raises(ModelSpecError, match="win: its source 'total' has no threshold"):
        Simulation(integrator_graph("total"), {"img": np.ones((1, 3))})
