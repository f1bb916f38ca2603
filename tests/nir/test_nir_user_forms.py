"""HNN -> NIR for the LIF equations users write (hnnbio.nir.user_forms): a driven population
``dv/dt = (K * X * M - v) / tau``, a leaky one ``dv/dt = -v / tau`` with jumps ``v_post += w *
mV`` (delayed), an integrator ``v : volt``, per-neuron parameters. References written here: the
NIR parameters and edge weights by hand (r = K M, weight = J tau / r), and the round trip
(written, read back by the reader as NIR's own equations, simulated in Brian2) giving the same
spikes as the file's own equations."""

import json

import nir
import numpy as np
import pytest

from hnnbio.errors import NIRError
from hnnbio.hnn import simulate
from hnnbio.hnn.files import load_hnn
from hnnbio.nir import read_nir, write_nir

TAU_ENC = [4.0, 5.0, 6.0, 8.0]  # ms
TH_ENC = [20.0, 22.0, 18.0, 25.0]  # mV
TAU_HID = [8.0, 12.0, 10.0]
W_ENC_HID = np.array([[9.0, 4.0, 0.0], [3.0, 8.0, 6.0], [7.0, 0.0, 9.0], [2.0, 5.0, 8.0]])

TOML = f"""
name = "user-forms"
[simulation]
dt = "1 ms"
steps = 200
[inputs.pixels]
size = 4
[populations.enc]
size = 4
equations = '''
dv/dt = (v_drive * i_in * att - v) / tau_mem : volt
i_in : 1
att : 1
tau_mem : second (constant)
v_threshold : volt (constant)
'''
threshold = "v > v_threshold"
reset = "v = v_reset"
method = "exact"
namespace = {{ v_drive = "60 mV", v_reset = "0 mV" }}
params = {{ att = 0.8, tau_mem = {json.dumps([f"{t} ms" for t in TAU_ENC])}, v_threshold = {
    json.dumps([f"{t} mV" for t in TH_ENC])} }}
input = "pixels"
input_variable = "i_in"
[populations.hid]
size = 3
equations = '''
dv/dt = -v / tau_mem : volt
tau_mem : second (constant)
'''
threshold = "v > v_threshold"
reset = "v = v_reset"
method = "exact"
namespace = {{ v_threshold = "20 mV", v_reset = "0 mV" }}
params = {{ tau_mem = {json.dumps([f"{t} ms" for t in TAU_HID])} }}
[populations.out]
size = 3
equations = "v : volt"
[populations.box]
size = 2
equations = "b : 1"
[synapses.enc_hid]
source = "enc"
target = "hid"
model = "w : 1"
on_pre = "v_post += w * mV"
connect = "all_to_all"
delay = "2 ms"
values = {{ w = {json.dumps(W_ENC_HID.reshape(-1).tolist())} }}
[synapses.hid_out]
source = "hid"
target = "out"
model = "w : 1"
on_pre = "v_post += w * mV"
connect = "one_to_one"
values = {{ w = 1.5 }}
"""


@pytest.fixture
def written(tmp_path):
    path = tmp_path / "user.toml"
    path.write_text(TOML)
    with pytest.warns(UserWarning, match="population 'box' \\(declarations only"):
        report = write_nir(path, tmp_path / "user.nir")
    return path, report, nir.read(str(tmp_path / "user.nir"))


def test_parameters_and_weights_by_hand(written):
    """enc: LIF(tau, r = K M = 60 mV x 0.8, v_leak 0, per-neuron thresholds); hid: LIF(r = 1);
    out: I(r = 1); the enc -> hid edge J tau_hid / r (J = w mV) behind a 2 ms delay; hid -> out
    the jump itself (1.5 mV); the passive population is left out and listed."""
    _, report, g = written
    enc, hid, out = g.nodes["enc"], g.nodes["hid"], g.nodes["out"]
    assert isinstance(enc, nir.LIF) and isinstance(hid, nir.LIF) and isinstance(out, nir.I)
    np.testing.assert_allclose(enc.tau, np.array(TAU_ENC) * 1e-3)
    np.testing.assert_allclose(enc.r, 0.060 * 0.8)
    np.testing.assert_allclose(enc.v_threshold, np.array(TH_ENC) * 1e-3)
    np.testing.assert_allclose(enc.v_leak, 0.0)
    np.testing.assert_allclose(hid.r, 1.0)
    np.testing.assert_allclose(g.nodes["enc_hid"].weight,
                               W_ENC_HID.T * 1e-3 * (np.array(TAU_HID)[:, None] * 1e-3))
    np.testing.assert_allclose(g.nodes["enc_hid_delay"].delay, 0.002)
    np.testing.assert_allclose(g.nodes["hid_out"].weight, np.eye(3) * 1.5e-3)
    np.testing.assert_allclose(g.nodes["pixels_to_enc"].weight, np.eye(4))
    assert "box" not in g.nodes
    assert report["left_out"] == ["population 'box' (declarations only: the value a network "
                                  "writes)"]


def test_round_trip_gives_the_same_spikes_and_readout(written, tmp_path):
    """Read back (NIR's equations, as the reader writes them) and simulated in Brian2: the same
    spikes per neuron as the file's own equations, and the integrator's v (the hid spikes
    times 1.5 mV)."""
    from brian2 import mV

    path, _, _ = written
    back = tmp_path / "back.toml"
    back.write_text(read_nir(tmp_path / "user.nir", "1 ms", steps=200))
    x = np.random.default_rng(0).uniform(0.6, 1.0, (5, 4))
    own = simulate(load_hnn(path), {"pixels": x}, steps=200).spike_counts()
    read = simulate(load_hnn(back), {"pixels": x}, steps=200).spike_counts()
    for name in ("enc", "hid"):
        assert np.array_equal(own[name], read[name]), name
    assert own["enc"].sum() > 100 and own["hid"].sum() > 20
    assert len(set(own["enc"][0].tolist())) > 2  # the per-neuron parameters act
    from hnnbio.hnn import Simulation

    sim = Simulation(load_hnn(back), {"pixels": x[:1]})
    res = sim.run(200)
    v = sim.populations["out"].group.v[:] / mV
    np.testing.assert_allclose(v, 1.5 * res.spike_counts()["hid"][0], rtol=1e-9)


def test_refused_by_name(tmp_path):
    cases = [
        (TOML.replace('[populations.out]\nsize = 3\nequations = "v : volt"',
                      '[populations.out]\nsize = 3\nequations = "v : volt"\nparams = { v = '
                      '"1 mV" }'), "population 'out': initial v differs from rest"),
        (TOML.replace('on_pre = "v_post += w * mV"\nconnect = "one_to_one"',
                      'on_pre = "v_post += 2 * w * mV"\nconnect = "one_to_one"'),
         "synapse 'hid_out': on_pre 'v_post += 2 * w * mV' is not a jump of v"),
        (TOML.replace('params = { tau_mem = ["8.0 ms", "12.0 ms", "10.0 ms"] }',
                      'params = { tau_mem = ["8.0 ms", "12.0 ms"] }'),
         "population 'hid': tau_mem has 2 values for 3 neurons"),
    ]
    for k, (text, match) in enumerate(cases):
        assert text != TOML, match
        path = tmp_path / f"bad{k}.toml"
        path.write_text(text)
        with pytest.raises(NIRError) as err:
            write_nir(path, tmp_path / f"bad{k}.nir")
        assert match in str(err.value) and "\n" not in str(err.value)
        assert not (tmp_path / f"bad{k}.nir").exists()
    path = tmp_path / "strict.toml"
    path.write_text(TOML)
    with pytest.raises(NIRError, match="population 'box' .* not exported \\(strict\\)"):
        write_nir(path, tmp_path / "strict.nir", strict=True)


def test_nir_export_of_a_trained_model_carries_its_trained_weights(tmp_path, capsys):
    """`hnnbio nir export models/modulation-continual.toml` writes the trained graph (as
    `hnnbio export` compiles it): its edges are the trained synapses, not the file's zeros."""
    from hnnbio.cli import main
    from hnnbio.run import chip_model

    out = tmp_path / "mc.nir"
    assert main(["nir", "export", "models/modulation-continual.toml", "-o", str(out)]) == 0
    capsys.readouterr()
    g = nir.read(str(out))
    trained = chip_model("models/modulation-continual.toml")
    syn = trained.synapses[0]
    edge = g.nodes[syn.name]
    assert np.abs(edge.weight).max() > 0
    raw = load_hnn("models/modulation-continual.toml")
    assert not np.any(np.asarray(next(s for s in raw.synapses if s.name == syn.name)
                                 .values.get("w", 0.0)))
