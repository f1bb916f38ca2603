"""Program files: round trip, and corrupted, truncated or version-mismatched files refused."""

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hnnbio.chip.program import HEADER, dump, from_bytes, load_program, write_program
from hnnbio.errors import ProgramError

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def blob(tiny_blob):
    return tiny_blob


def test_round_trip(blob, tmp_path):
    program = from_bytes(blob)
    path = write_program(program, tmp_path / "p.hnnc")
    again = load_program(path)
    assert again.manifest == program.manifest
    assert sorted(again.arrays) == sorted(program.arrays)
    for key, value in program.arrays.items():
        assert again.arrays[key].dtype == value.dtype and np.array_equal(again.arrays[key], value)
    with pytest.raises(ProgramError, match="exists"):
        write_program(program, path)
    write_program(program, path, overwrite=True)
    text = dump(path)
    for word in ("core 0", "matvec", "lif(", "window(", "accumulate(", "lut(", "routes", "hops"):
        assert word in text


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_byte_flip_is_refused(blob, data):
    position = data.draw(st.integers(0, len(blob) - 1))
    flip = data.draw(st.integers(1, 255))
    corrupted = bytearray(blob)
    corrupted[position] ^= flip
    with pytest.raises(ProgramError):
        from_bytes(bytes(corrupted))


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_any_truncation_or_extension_is_refused(blob, data):
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(ProgramError):
        from_bytes(blob[:cut])
    with pytest.raises(ProgramError, match="trailing"):
        from_bytes(blob + b"\0" * data.draw(st.integers(1, 9)))


def test_version_mismatch_is_named(blob):
    magic, version, flags, m_len, p_len, digest = HEADER.unpack_from(blob)
    newer = HEADER.pack(magic, version + 1, flags, m_len, p_len, digest) + blob[HEADER.size:]
    with pytest.raises(ProgramError, match=f"version {version + 1} is not supported"):
        from_bytes(newer)


def test_valid_digest_but_bad_manifest_is_refused(blob):
    import hashlib
    import json

    magic, version, flags, m_len, p_len, digest = HEADER.unpack_from(blob)
    manifest = json.loads(blob[HEADER.size:HEADER.size + m_len])
    rest = blob[HEADER.size + m_len:]
    for broken in ({k: v for k, v in manifest.items() if k != "routes"},
                   {**manifest, "cores": [{**manifest["cores"][0], "phases": {"0": [
                       {"block": "axon", "op": "explode", "args": {}}]}}]},
                   {**manifest, "chip": {**manifest["chip"], "weight_bits": 4}}):
        m = json.dumps(broken).encode()
        payload = m + rest
        data = HEADER.pack(magic, version, flags, len(m), len(payload),
                           hashlib.sha256(payload).digest()) + payload
        with pytest.raises(ProgramError):
            from_bytes(data)


def test_missing_file_and_not_a_program(tmp_path):
    with pytest.raises(ProgramError, match="not found"):
        load_program(tmp_path / "none.hnnc")
    (tmp_path / "x.hnnc").write_bytes(b"hello" * 20)
    with pytest.raises(ProgramError, match="magic"):
        load_program(tmp_path / "x.hnnc")
    assert struct.calcsize("<8sHHIQ32s") == HEADER.size == 56


def _reencoded(blob, edit):
    """The blob with its manifest changed by ``edit`` (a function of the manifest dict), with a
    valid header and digest (what an older or newer writer would have produced)."""
    import hashlib
    import json

    magic, version, flags, m_len, p_len, digest = HEADER.unpack_from(blob)
    manifest = json.loads(blob[HEADER.size:HEADER.size + m_len])
    edit(manifest)
    m = json.dumps(manifest, sort_keys=True).encode()
    payload = m + blob[HEADER.size + m_len:]
    return HEADER.pack(magic, version, flags, len(m), len(payload),
                       hashlib.sha256(payload).digest()) + payload


def _windows(manifest):
    return [ins["args"] for core in manifest["cores"] for ins in core["phases"].get("1", [])
            if ins["op"] == "window"]


def test_a_version_1_program_without_the_nested_field_reads_as_independent_coins(blob):
    # programs written before the window's `nested` field existed (same format version) load
    # and run exactly as before: the field is optional and its absence means independent coins
    from hnnbio.chip.emulator import Emulator
    from hnnbio.chip.run import emulate

    def strip(manifest):
        for args in _windows(manifest):
            del args["nested"]
        del manifest["sheet"]["nested"], manifest["model"]["nodes"]

    old = from_bytes(_reencoded(blob, strip))
    new = from_bytes(blob)
    assert not any("nested" in a for a in _windows(old.manifest))
    assert Emulator(old).nested is False
    images = (np.random.default_rng(0).random((3, 4, 4)) < 0.6).astype(np.int64)
    a, b = (emulate(p, images, seed=1, batch_size=2) for p in (old, new))
    x, y = a.spikes["sheet"], b.spikes["sheet"]
    for key in ("sample", "step", "neuron"):
        assert np.array_equal(getattr(x, key), getattr(y, key))
    assert np.array_equal(a.applied["attention"], b.applied["attention"])


def test_a_bad_nested_field_is_refused(blob):
    def bad(manifest):
        _windows(manifest)[0]["nested"] = "yes"

    with pytest.raises(ProgramError, match="nested"):
        from_bytes(_reencoded(blob, bad))

    def unknown(manifest):
        _windows(manifest)[0]["sideways"] = True

    with pytest.raises(ProgramError, match="window needs fields .*keep, rand_shift"):
        from_bytes(_reencoded(blob, unknown))
