"""Energy, latency, utilisation and counters against hand-computed values."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from hnnbio.chip import estimates
from hnnbio.chip.isa import CoreProgram, Instruction, routes_of
from hnnbio.chip.spec import TIANJIC_LIKE


def _buffer(size, bits, signed=False, **extra):
    return {"size": size, "bits": bits, "signed": signed, **extra}


def _program(chip=TIANJIC_LIKE):
    """Core 0 (0, 0): a 256 x 256 tile whose partial sums go to core 1 (1, 0); core 1: a LIF of
    100 neurons whose spikes return to core 0's input 3 steps later."""
    matvec = Instruction("axon", "matvec", {"x": "x", "weights": "c0.weight", "out": "partial"})
    send_partial = Instruction("router", "send", {"what": "partial", "bits": 32, "delay": 0, "to": [
        {"core": 1, "buffer": "p", "lo": 0, "hi": 256, "at": 0}]})
    lif = Instruction("soma1", "lif", {"input": "m", "v": "v", "refractory": "r", "spikes": "s",
                                       "rand": "lfsr", "alpha": 0, "v_leak": 0, "v_threshold": 0,
                                       "noise_mask": 255, "reset_mode": "value", "v_reset": 0,
                                       "refractory_steps": 6})
    send_spikes = Instruction("router", "send", {"what": "s", "bits": 1, "delay": 3, "to": [
        {"core": 0, "buffer": "x", "lo": 0, "hi": 100, "at": 0}]})
    a = CoreProgram(0, 0, 0, "dense_1", "tile", (0, 256), (0, 256), {0: [matvec, send_partial]},
                    {"x": _buffer(256, 1), "partial": _buffer(256, 32, True)})
    b = CoreProgram(1, 1, 0, "sheet", "sheet", (0, 100), (0, 100), {1: [lif, send_spikes]},
                    {"p": _buffer(256, 32, True), "m": _buffer(100, 8),
                     "v": _buffer(100, 28, True), "r": _buffer(100, 4), "s": _buffer(100, 1),
                     "lfsr": _buffer(100, 32, stream=0)})
    cores = [a, b]
    routes = routes_of(cores, chip.packet_bytes)
    manifest = {"cores": [c.to_dict() for c in cores], "routes": routes}
    arrays = {"c0.weight": np.zeros((256, 256), dtype=np.int8)}
    return SimpleNamespace(chip=chip, cores=cores, routes=routes, manifest=manifest, arrays=arrays)


def test_routes_by_hand():
    # 256 values x 32 bits = 1024 bytes = 128 packets of 8 bytes; 100 bits = 13 bytes = 2 packets
    rows = {(r["src"], r["dst"]): (r["packets"], r["hops"]) for r in _program().routes}
    assert rows == {(0, 1): (128, 1), (1, 0): (2, 1)}


def test_latency_by_hand():
    # phase 0: core 0's matvec 256 * 256 / 128 = 512 cycles + its route 128 packets + 1 hop
    # phase 1: core 1's lif ceil(100 / 128) = 1 cycle + its route 2 packets + 1 hop
    # 512 + 129 + 1 + 3 = 645 cycles at 300 MHz
    assert estimates.latency_per_step_s(_program()) == pytest.approx(645 / 300e6)
    slow = replace(TIANJIC_LIKE, clock_hz=100e6, macs_per_cycle=64)
    # 1024 + 129 + 2 + 3 = 1158 cycles at 100 MHz
    assert estimates.latency_per_step_s(_program(slow)) == pytest.approx(1158 / 100e6)


def test_energy_by_hand():
    counters = {"steps": 1, "macs": 1000, "sops": 2000, "packets": 40, "packet_hops": 300,
                "spikes": 0}
    out = estimates.summary(counters, _program())
    # 1000 * 4.6 + 2000 * 0.9 = 6400 pJ compute, 300 packet-hops * 1 pJ routing
    assert estimates.energy_pj(counters, TIANJIC_LIKE) == pytest.approx(
        {"compute": 6400.0, "routing": 300.0, "total": 6700.0})
    assert out["energy_uj"] == pytest.approx(6700e-6)
    costly = replace(TIANJIC_LIKE, pj_per_packet_hop=2.5)
    assert estimates.energy_pj(counters, costly) == pytest.approx(
        {"compute": 6400.0, "routing": 750.0, "total": 7150.0})
    # 645 cycles = 2.15 us: below Tianjic's synchronous step of 16.8 us
    assert out["latency_us_per_step"] == pytest.approx(2.15)
    assert out["step_us_synchronous"] == pytest.approx(16.8)


def test_utilisation_by_hand():
    use = estimates.utilisation(_program())
    # core 0: buffers x 256 bits = 32 B, partial 256 x 4 B = 1024 B; weights 65536 B; a ring of
    # 3 slots for the 100 one-byte values routed to it with delay 3: 300 B
    assert use[0]["memory_bytes"] == 32 + 1024 + 65536 + 300
    # core 1: p 1024 B, m 100 B, v ceil(100 * 28 / 8) = 350 B, r 50 B, s 13 B, lfsr 400 B
    assert use[1]["memory_bytes"] == 1024 + 100 + 350 + 50 + 13 + 400
    assert use[0]["memory"] == pytest.approx(66892 / (144 * 1024))
    assert use[0]["axons"] == 1.0 and use[1]["neurons"] == pytest.approx(100 / 256)
    out = estimates.summary({"macs": 0, "sops": 0, "packet_hops": 0}, _program())
    assert out["cores"] == 2 and out["max_core_memory_use"] == pytest.approx(66892 / 147456)
    assert out["mean_core_axon_use"] == pytest.approx((1 + 100 / 256) / 2)


@pytest.mark.emulator
def test_counters_of_the_tiny_program_by_hand(tiny_blob):
    """Packets, packet-hops and MACs of the tiny program (conftest) counted by hand from its
    placement on the 4 x 4 mesh (core k at (k % 4, k // 4)), over 3 images x 5 steps."""
    from hnnbio.chip.program import from_bytes
    from hnnbio.chip.run import emulate

    program = from_bytes(tiny_blob)
    images = (np.random.default_rng(0).random((3, 4, 4)) < 0.5).astype(np.int64)
    counters = emulate(program, images, seed=1, batch_size=2, cycles=1).info["counters"]
    # per image and step, (packets, hops) of each send destination:
    # sheet core 0 (0,0) -> tiles 2 (2,0), 3 (3,0); core 1 (1,0) -> 4 (0,1), 5 (1,1): 8 bits, 1
    # packet each; dense_1 reducers 2 -> 6 (2,1), 7 (3,1) and 3 -> 8 (0,2), 9 (1,2): 8 or 4
    # bytes, 1 packet; partial sums 4 (0,1) -> 2: 8 x 4 B = 4 packets, 5 (1,1) -> 3: 2 packets,
    # 8 (0,2) -> 6, 9 (1,2) -> 7: 4 packets; dense_2 reducers 6 -> 0, 7 -> 1: 1 packet
    sends = [(1, 2), (1, 3), (1, 2), (1, 1), (1, 1), (1, 2), (1, 5), (1, 4), (4, 3), (2, 3),
             (4, 3), (4, 3), (1, 3), (1, 3)]
    steps = 3 * 5
    assert counters["packets"] == steps * sum(p for p, _ in sends) == steps * 24
    assert counters["packet_hops"] == steps * sum(p * h for p, h in sends) == steps * 68
    # MACs: the sheet's Hadamard products (16 pixels) and dense_2's 8-bit inputs (cores 6, 7:
    # 8 x 8; cores 8, 9: 4 x 8); dense_1 reads binary window bits (SOPs, not MACs)
    assert counters["macs"] == steps * (16 + 2 * 64 + 2 * 32) == 3120
    # SOPs: each window bit of sheet core 0 reaches tiles of 8 + 4 outputs, likewise core 1
    assert counters["sops"] % 12 == 0 and counters["sops"] <= steps * 16 * 12
    energy = estimates.energy_pj(counters, program.chip)
    assert energy["total"] == pytest.approx(3120 * 4.6 + counters["sops"] * 0.9 + 1020 * 1.0)


def test_per_image_by_hand():
    totals = {"steps": 40, "macs": 1000, "sops": 2000, "packets": 40, "packet_hops": 300,
              "spikes": 7}
    out = estimates.per_image(totals, _program(), n_images=4, n_steps=10)
    assert out["energy_uj_per_image"] == pytest.approx(6700e-6 / 4)
    assert out["energy_uj_per_image_compute"] == pytest.approx(6400e-6 / 4)
    assert out["energy_uj_per_image_routing"] == pytest.approx(300e-6 / 4)
    assert "energy_uj" not in out and out["steps"] == 10 and out["spikes"] == 7
    # 10 steps of 645 cycles at 300 MHz
    assert out["latency_ms_per_image"] == pytest.approx(10 * 645 / 300e6 * 1e3)
