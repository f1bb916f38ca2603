"""The emulator against an independent per-core, per-neuron reference in plain Python integers."""

import numpy as np
import pytest

from hnnbio.chip.compiler import compile_model
from hnnbio.chip.emulator import Emulator
from hnnbio.chip.run import emulate, initial_attention
from hnnbio.errors import DataError, ParameterError

pytestmark = pytest.mark.emulator

M64 = (1 << 64) - 1


def sat(x, bits):
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return low if x < low else high if x > high else x


def splitmix_seed(seed, stream):
    z = (stream + (seed & 0xFFFFFFFF) * 0x9E3779B97F4A7C15) & M64
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    z ^= z >> 31
    return (z & 0xFFFFFFFF) or 1


def lfsr(s, shifts):
    for _ in range(shifts):
        s = (s >> 1) ^ (0x80200003 if s & 1 else 0)
    return s


def find(core, op):
    for phase in sorted(core.phases):
        for ins in core.phases[phase]:
            if ins.op == op:
                return ins.args
    return None


def reference_run(program, image, ring, seed, image_index, n_steps):
    """Run one image through the program core by core, neuron by neuron (Python ints only)."""
    m = program.manifest
    n = m["sheet"]["n_pixels"]
    d_ring = m["sheet"]["delay_steps"]
    shifts = m["lfsr_shifts_per_step"]
    acc_bits, mem_bits = program.chip.accumulator_bits, program.chip.membrane_bits
    cores = {c.core: c for c in program.cores}
    arr = {k: v.tolist() for k, v in program.arrays.items()}
    v, ref, age = [0] * n, [0] * n, [15] * n
    # nested coins: kept[p][a] = the spike of age a is still kept (K[t, a] of the float unit)
    kept = [[False] * 16 for _ in range(n)]
    state = [splitmix_seed(seed, image_index * n + p) for p in range(n)]
    ring = [list(row) for row in ring]
    spikes_out, window_out = [], []
    for t in range(n_steps):
        slot = t % d_ring
        window = [0] * n
        spikes = [False] * n
        for core in (c for c in program.cores if c.role == "sheet"):
            had, lif, win = find(core, "hadamard"), find(core, "lif"), find(core, "window")
            for p in range(*core.neurons):
                state[p] = lfsr(state[p], shifts)
                mm = min(255, max(0, (image[p] * ring[slot][p]) >> had["shift"]))
                if ref[p] > 0:
                    ref[p] -= 1
                else:
                    v[p] = sat(((v[p] * lif["alpha"]) >> 8) + lif["v_leak"] + mm, mem_bits)
                    th = sat(lif["v_threshold"] + (state[p] & lif["noise_mask"]), mem_bits)
                    if v[p] > th:
                        spikes[p] = True
                        mode = lif["reset_mode"]
                        if mode == "value":
                            v[p] = lif["v_reset"]
                        elif mode == "subtract":
                            v[p] = sat(v[p] - th, mem_bits)
                        elif mode == "subtract_constant":
                            v[p] = sat(v[p] - lif["v_reset"], mem_bits)
                        ref[p] = lif["refractory_steps"]
                    else:
                        ref[p] = 0
                age[p] = 0 if spikes[p] else min(age[p] + 1, 15)
                coin = (state[p] >> win["rand_shift"]) & 255
                keep = win["keep"]
                if win.get("nested", False):
                    # K[t, 0] = s[t] and coin < keep[0]; K[t, a] = K[t-1, a-1] and coin < keep[a]
                    new = [spikes[p] and coin < keep[0]]
                    new += [kept[p][a - 1] and coin < keep[a] for a in range(1, len(keep))]
                    kept[p] = new
                    window[p] = 1 if any(new) else 0
                else:
                    window[p] = 1 if age[p] < len(keep) and coin < keep[age[p]] else 0
        spikes_out.append(spikes)
        window_out.append(list(window))
        x = window
        for layer in m["layers"][1:]:
            partial = {}
            for _a, _b, cid in layer["grid"]:
                core = cores[cid]
                w = arr[find(core, "matvec")["weights"]]
                lo, hi = core.axons
                partial[cid] = [sat(sum(x[lo + i] * w[i][j] for i in range(hi - lo)), acc_bits)
                                for j in range(core.neurons[1] - core.neurons[0])]
            y = [0] * max(cores[cid].neurons[1] for _, _, cid in layer["grid"])
            for a, b, cid in layer["grid"]:
                if a:
                    continue
                # the reducer's own partial sum and those routed from tile (a2, b)
                source = {"partial": cid} | {f"partial_{a2}": c2 for a2, b2, c2 in layer["grid"]
                                             if b2 == b and a2}
                acc_args, lut_args = find(cores[cid], "accumulate"), find(cores[cid], "lut")
                bias, table = arr[acc_args["bias"]], arr[lut_args["table"]]
                lo, hi = cores[cid].neurons
                for j in range(hi - lo):
                    acc = partial[source[acc_args["sources"][0]]][j]
                    for src in acc_args["sources"][1:]:
                        acc = sat(acc + partial[source[src]][j], acc_bits)
                    acc = sat(acc + bias[j], acc_bits)
                    index = min(127, max(-128, acc >> arr[lut_args["shift"]][j])) + 128
                    y[lo + j] = table[index]
            x = y
        ring[slot] = x
    return spikes_out, ring, window_out


@pytest.fixture
def tiny_program(tiny_spec, small_chip, tiny_samples):
    return compile_model(tiny_spec, small_chip, samples=tiny_samples)


#: Keep probabilities whose nested coins are not powers of two: 0.9, 2/3, 1/3 -> 230, 171, 85
NESTED_KEEP = (0.9, 0.6, 0.2)


@pytest.fixture
def nested_program(tmp_path, small_chip, tiny_samples):
    from .conftest import write_tiny_model

    path = write_tiny_model(tmp_path, keep=NESTED_KEEP, nested=True)
    return compile_model(path, small_chip, samples=tiny_samples)


def _images(n, seed=3):
    rng = np.random.default_rng(seed)
    images = (rng.random((n, 16)) < 0.6).astype(np.int64)
    images[:, 0] = 1
    return images


@pytest.mark.parametrize("nested", [False, True], ids=["independent", "nested"])
@pytest.mark.parametrize("extreme, leaky, drive, sparse", [
    (False, False, 0, ""), (True, False, 0, ""), (False, True, 0, ""), (False, False, 5, ""),
    (False, False, 0, "events"), (False, False, 0, "columns")])
def test_emulator_bit_exact_against_reference(request, monkeypatch, extreme, leaky, drive,
                                              sparse, nested):
    import hnnbio.chip.emulator as emulator_module

    tiny_program = request.getfixturevalue("nested_program" if nested else "tiny_program")
    window = [ins.args for core in tiny_program.cores for ins in core.phases.get(1, [])
              if ins.op == "window"]
    assert all(w["nested"] == nested for w in window)
    if nested:
        assert window[0]["keep"] == [230, 171, 85]

    # force every later layer's product through one zero-skipping path
    monkeypatch.setattr(emulator_module, "COLUMN_FRACTION", 2.0 if sparse == "columns" else -1.0)
    monkeypatch.setattr(emulator_module, "SPARSE_FRACTION", 2.0 if sparse == "events" else -1.0)
    if extreme:  # biases at the int32 edges: the accumulator must saturate, LUT index clamp
        for key in tiny_program.arrays:
            if key.endswith(".bias"):
                b = tiny_program.arrays[key]
                b[::2], b[1::2] = 2 ** 31 - 1, -(2 ** 31)
    if leaky:  # a leaky LIF with a subtractive reset: the emulator's general sheet path
        for core in tiny_program.cores:
            for ins in core.phases.get(0, []):
                if ins.op == "lif":
                    ins.args.update(alpha=200, v_leak=-20, v_threshold=60, reset_mode="subtract")
    if drive:  # v_leak > v_threshold: pixels off in the image can fire too (no clock gating)
        for core in tiny_program.cores:
            for ins in core.phases.get(0, []):
                if ins.op == "lif":
                    ins.args.update(v_leak=drive)
    images = _images(3)
    ring = initial_attention(3, 5, 16, seed=7)
    emu = Emulator(tiny_program)
    emu.reset(images, ring, seed=7)
    if emu.fast:
        assert emu.awake.size == (images.size if drive else images.sum())
    # the fast paths (one matmul per layer, narrow sheet) are taken exactly when they are provable
    assert all(layer["fused"] is None for layer in emu.layers) == extreme
    assert emu.fast == (not leaky)
    got, bits = [], []
    for _ in range(40):
        got.append(emu.step())  # (batch, pixels)
        dense = np.zeros(3 * 16, dtype=int)
        dense[emu.last_window] = 1
        bits.append(dense.reshape(3, 16))
    got, bits = np.array(got), np.array(bits)  # (steps, batch, pixels)
    for i in range(3):
        spikes, final_ring, window_bits = reference_run(
            tiny_program, images[i].tolist(), ring[i].tolist(), 7, i, 40)
        assert got[:, i].tolist() == spikes
        assert bits[:, i].tolist() == window_bits
        assert emu.ring[i].tolist() == final_ring
    assert got.any() and not got.all()
    assert bits.any() and not bits.all()


def _rasters(result):
    """Dense (sample, step, neuron) raster of an HNNResult's only population."""
    (spikes,) = result.spikes.values()
    out = np.zeros((result.n_samples, result.n_steps, spikes.size), dtype=bool)
    out[spikes.sample, spikes.step, spikes.neuron] = True
    return out


def test_deterministic_and_independent_of_batch_size(tiny_program):
    images = _images(5).reshape(5, 4, 4)
    a = emulate(tiny_program, images, seed=2, batch_size=5)
    b = emulate(tiny_program, images, seed=2, batch_size=5)
    c = emulate(tiny_program, images, seed=2, batch_size=2)
    d = emulate(tiny_program, images, seed=3, batch_size=5)
    for other in (b, c):
        assert np.array_equal(_rasters(a), _rasters(other))
        assert np.array_equal(a.applied["attention"], other.applied["attention"])
    assert not np.array_equal(_rasters(a), _rasters(d))
    # the HNN graph's names: population "sheet", unit "attention" of the tiny file
    assert list(a.spikes) == ["sheet"] and list(a.applied) == ["attention"]
    assert a.info["backend"] == "emulator" and a.n_steps == 15
    assert a.applied["attention"].shape == (5, 5, 16)
    counters = a.info["counters"]
    assert counters["spikes"] == a.spikes["sheet"].step.size
    # layers 2..: 8-bit activations x weights per step, plus one Hadamard product per pixel
    assert counters["macs"] == 5 * 15 * (16 + 12 * 16)
    assert counters["energy_uj_per_image"] > 0 and counters["latency_ms_per_image"] > 0


def test_spike_probability_is_attention_code_over_256(tiny_program):
    # Constant attention (every ring slot written back by the network is overwritten here each
    # step), refractory 2: a unit with drive p spikes at rate p / (1 + 2 p) (renewal process:
    # r silent steps, then a geometric wait of mean 1 / p)
    emu = Emulator(tiny_program)
    n = 400
    images = np.ones((n, 16), dtype=np.int64)
    code = 64
    emu.reset(images, np.full((n, 5, 16), code), seed=11)
    total = 0
    steps = 60
    for _ in range(steps):
        emu.ring[:] = code
        total += int(emu.step().sum())
    p = code / 256
    rate = p / (1 + 2 * p)
    measured = total / (n * 16 * steps)
    # the first step starts non-refractory: allow 5 standard errors of the binomial count
    assert abs(measured - rate) < 5 * np.sqrt(rate * (1 - rate) / (n * 16 * steps)) + 1 / steps


def test_emulate_rejects_nonsense(tiny_program):
    images = _images(2).reshape(2, 4, 4)
    with pytest.raises(DataError, match="images"):
        emulate(tiny_program, images.reshape(2, 16))
    with pytest.raises(DataError, match="images"):
        emulate(tiny_program, images * 3)
    with pytest.raises(ParameterError, match="batch_size"):
        emulate(tiny_program, images, batch_size=0)
    with pytest.raises(ParameterError, match="cycles"):
        emulate(tiny_program, images, cycles=-1)
    emu = Emulator(tiny_program)
    with pytest.raises(DataError, match="attention"):
        emu.reset(images.reshape(2, 16), np.zeros((2, 4, 16)), seed=0)
    with pytest.raises(DataError, match="attention"):
        emu.reset(images.reshape(2, 16), np.full((2, 5, 16), 300), seed=0)


def test_nested_window_marginals_on_the_emulator(nested_program):
    # Constant attention 128 (p = 1/2), refractory 2: each spike at step s owns the window bits
    # at s, s + 1, s + 2 (the next spike comes at s + 3 at the earliest). The fraction of spikes
    # whose bit at age a is 1 must be prod(code[:a+1]) / 256**(a+1) (5 binomial standard
    # errors), within the quantisation step of the float keep[a]; and nested: a bit at age a
    # implies one at age a - 1.
    emu = Emulator(nested_program)
    n_images, n, steps = 300, 16, 80
    emu.reset(np.ones((n_images, n), dtype=np.int64), np.full((n_images, 5, n), 128), seed=4)
    spikes, bits = [], []
    for _ in range(steps):
        emu.ring[:] = 128
        spikes.append(emu.step())
        dense = np.zeros(n_images * n, dtype=bool)
        dense[emu.last_window] = True
        bits.append(dense.reshape(n_images, n))
    spikes, bits = np.array(spikes), np.array(bits)
    owned = spikes[:steps - 2]  # spikes whose three window steps were all run
    codes = np.array([230, 171, 85])
    ages = [bits[a:steps - 2 + a][owned] for a in range(3)]
    total = owned.sum()
    assert total > 50_000
    for a in range(3):
        marginal = float(np.prod(codes[:a + 1] / 256))
        assert abs(ages[a].mean() - marginal) < 5 * np.sqrt(marginal * (1 - marginal) / total)
        assert abs(marginal - NESTED_KEEP[a]) <= (a + 1) / 512
        if a:
            assert not (ages[a] & ~ages[a - 1]).any()
    # every window bit belongs to a spike of age 0, 1 or 2
    assert bits.sum() == sum(int(bits[a:][spikes[:steps - a]].sum()) for a in range(3))


def test_awake_only_codes_change_no_spike(tiny_program):
    # Before full_from only the awake neurons' attention codes are computed past the matmul: the
    # spikes and window bits are those of a run that keeps every code, and a record of a slot
    # written that way is refused (its other codes were never made).
    images = _images(3)
    images[0, :5] = 0  # some neurons asleep, so the awake-only codes are a strict subset
    ring = initial_attention(3, 5, 16, seed=2)
    full, part = Emulator(tiny_program), Emulator(tiny_program)
    full.reset(images, ring, seed=2)
    part.reset(images, ring, seed=2, full_from=30)
    assert part.fast and part.awake.size < images.size
    for t in range(40):
        record = t >= 35  # slots written at t >= 30, read 5 steps later
        a, b = full.step(record=record), part.step(record=record)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(full.last_window, part.last_window)
        if record:
            np.testing.assert_array_equal(full.applied, part.applied)
    late = Emulator(tiny_program)
    late.reset(images, ring, seed=2, full_from=30)
    for _ in range(5):
        late.step()
    late.step()  # step 5 reads the slot written at step 0, awake codes only
    with pytest.raises(RuntimeError, match="applied attention was not kept"):
        late.step(record=True)  # step 6 reads the slot of step 1
