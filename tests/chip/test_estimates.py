"""Energy, latency and utilisation estimates against hand-computed values."""

from types import SimpleNamespace

import pytest

from hnnbio.chip import estimates
from hnnbio.chip.isa import CoreProgram, Instruction
from hnnbio.chip.spec import TIANJIC_LIKE


def _program():
    matvec = Instruction("axon", "matvec", {"x": "x", "weights": "w", "out": "partial"})
    lif = Instruction("soma1", "lif", {"input": "m", "v": "v", "refractory": "r", "spikes": "s",
                                       "rand": "lfsr", "alpha": 0, "v_leak": 0, "v_threshold": 0,
                                       "noise_mask": 255, "reset_mode": "value", "v_reset": 0,
                                       "refractory_steps": 6})
    send = Instruction("router", "send", {"what": "partial", "bits": 32, "delay": 0, "to": [
        {"core": 1, "buffer": "p", "lo": 0, "hi": 256, "at": 0}]})
    a = CoreProgram(0, 0, 0, "dense_1", "tile", (0, 256), (0, 256), {0: [matvec, send]})
    b = CoreProgram(1, 1, 0, "sheet", "sheet", (0, 100), (0, 100), {0: [lif], 1: [lif]})
    routes = [{"src": 0, "dst": 1, "what": "partial", "bits": 32, "values": 256, "packets": 128,
               "hops": 1, "phase": 0, "delay": 0}]
    manifest = {"memory": {"0": 65536, "1": 1100}}
    return SimpleNamespace(chip=TIANJIC_LIKE, cores=[a, b], routes=routes, manifest=manifest)


def test_latency_by_hand():
    # phase 0: max(ceil(256*256 / 128) = 512, ceil(100 / 128) = 1) + route 128 packets + 1 hop
    # phase 1: ceil(100 / 128) = 1; total 642 cycles at 300 MHz
    assert estimates.latency_per_step_s(_program()) == pytest.approx(642 / 300e6)


def test_energy_and_utilisation_by_hand():
    counters = {"steps": 1, "macs": 1000, "sops": 2000, "packets": 0, "packet_hops": 0, "spikes": 0}
    out = estimates.summary(counters, _program())
    assert out["energy_uj"] == pytest.approx((1000 * 4.6 + 2000 * 0.9) * 1e-6)
    use = estimates.utilisation(_program())
    assert use[0]["axons"] == 1.0 and use[1]["neurons"] == pytest.approx(100 / 256)
    assert use[0]["memory"] == pytest.approx(65536 / (144 * 1024))
    assert out["cores"] == 2 and out["max_core_memory_use"] == pytest.approx(65536 / 147456)
