"""NIX and NWB files through neo.io: what goes in comes out (NWB: what NWBIO keeps, documented)."""

import numpy as np
import pytest
import quantities as pq

from hnnbio.analysis.files import read_result_file, write_result_file
from hnnbio.analysis.neo_convert import from_neo, to_neo
from hnnbio.errors import DataError

# NixIO writes ~10-40 ms per train here: keep files tiny (2 images x 9 pixels)
SMALL = dict(n_images=2, height=3, width=3, n_objects=2, steps_per_cycle=12, cycles=4)


def trains_of(block):
    return [
        (
            s,
            st.name,
            st.units.dimensionality.string,
            float(st.t_stop.rescale(pq.ms)),
            tuple(np.round(st.rescale(pq.ms).magnitude, 9)),
        )
        for s, seg in enumerate(block.segments)
        for st in seg.spiketrains
    ]


def plain(d):
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in d.items()}


def test_nix_round_trip_keeps_everything(synthetic, tmp_path):
    r = synthetic(**SMALL)
    original = to_neo(r)
    path = write_result_file(r, tmp_path / "result.nix")
    block = read_result_file(path)
    assert trains_of(block) == trains_of(original)
    assert plain(block.annotations) == plain(original.annotations)
    for seg_a, seg_b in zip(block.segments, original.segments, strict=False):
        assert plain(seg_a.annotations) == plain(seg_b.annotations)
        for a, b in zip(seg_a.spiketrains, seg_b.spiketrains, strict=False):
            assert plain(a.annotations) == plain(b.annotations)
            assert a.sampling_rate == b.sampling_rate and a.units == pq.ms
    assert [g.name for g in block.groups] == ["sheet"]
    assert len(block.groups[0].spiketrains) == 18
    back = from_neo(block)
    np.testing.assert_array_equal(back.truth, r.truth)
    np.testing.assert_array_equal(back.metrics["ami"], r.metrics["ami"])
    assert sorted(zip(back.spike_image, back.spike_step, back.spike_pixel, strict=False)) == sorted(
        zip(r.spike_image, r.spike_step, r.spike_pixel, strict=False)
    )


def test_nwb_round_trip_keeps_spikes_and_block_annotations(synthetic, tmp_path):
    r = synthetic(**SMALL)
    original = to_neo(r)
    block = read_result_file(write_result_file(r, tmp_path / "result.nwb"))
    assert trains_of(block) == trains_of(original)  # times, units (ms again), t_stop, names
    for key in ("model", "backend", "steps_per_cycle", "dt_ms", "n_steps", "height", "width"):
        assert block.annotations[key] == original.annotations[key]
    assert block.rec_datetime.replace(tzinfo=None) == original.rec_datetime.replace(tzinfo=None)
    st = block.segments[1].spiketrains[4]
    assert (st.annotations["pixel"], st.annotations["row"], st.annotations["col"]) == (4, 1, 1)
    # documented losses of NWBIO: per-train object/group/input and per-image metrics
    assert "object" not in st.annotations and "metric_ami" not in block.segments[0].annotations
    back = from_neo(block)
    assert back.truth is None and back.steps_per_cycle == r.steps_per_cycle
    assert sorted(zip(back.spike_image, back.spike_step, back.spike_pixel, strict=False)) == sorted(
        zip(r.spike_image, r.spike_step, r.spike_pixel, strict=False)
    )


def test_existing_file_is_not_overwritten(synthetic, tmp_path):
    r = synthetic(n_images=1, height=2, width=2, n_objects=1, cycles=2)
    path = tmp_path / "r.nix"
    write_result_file(r, path)
    before = path.read_bytes()
    with pytest.raises(DataError, match="r.nix: file exists"):
        write_result_file(r, path)
    assert path.read_bytes() == before
    write_result_file(r, path, overwrite=True)
    assert len(read_result_file(path).segments) == 1


def test_bad_paths_and_files_raise(synthetic, tmp_path):
    r = synthetic(n_images=1, height=2, width=2, n_objects=1, cycles=2)
    with pytest.raises(DataError, match=r"r\.txt: unknown file type"):
        write_result_file(r, tmp_path / "r.txt")
    with pytest.raises(DataError, match="format"):
        write_result_file(r, tmp_path / "r.nix", format="mat")
    with pytest.raises(DataError, match="result"):
        write_result_file("spikes", tmp_path / "r.nix")
    with pytest.raises(DataError, match=r"missing\.nix: file not found"):
        read_result_file(tmp_path / "missing.nix")
    with pytest.raises(DataError, match=r"r\.csv: unknown file type"):
        read_result_file(tmp_path / "r.csv")
    for name in ("corrupt.nix", "corrupt.nwb"):
        bad = tmp_path / name
        bad.write_bytes(b"this is not HDF5" * 10)
        with pytest.raises(DataError, match=name.replace(".", r"\.")):
            read_result_file(bad)


def test_population_layout_reads_back_as_the_per_neuron_block(synthetic, tmp_path):
    r = synthetic(n_images=4, height=5, width=5, n_objects=3, steps_per_cycle=20, cycles=6)
    path = write_result_file(r, tmp_path / "pop.nix", layout="population", images=[3, 0])
    block = read_result_file(path)
    original = to_neo(r, images=[3, 0])
    assert trains_of(block) == trains_of(original)
    assert [s.name for s in block.segments] == ["image 3", "image 0"]
    for seg_a, seg_b in zip(block.segments, original.segments, strict=True):
        assert plain(seg_a.annotations) == plain(seg_b.annotations)
        for a, b in zip(seg_a.spiketrains, seg_b.spiketrains, strict=True):
            assert plain(a.annotations) == plain(b.annotations)
    for key in ("model", "steps_per_cycle", "dt_ms", "n_steps", "height", "width"):
        assert block.annotations[key] == original.annotations[key]
    # a Block is accepted too (converted through from_neo)
    again = write_result_file(to_neo(r), tmp_path / "pop2.nix", layout="population")
    assert trains_of(read_result_file(again)) == trains_of(to_neo(r))


def test_population_layout_needs_nix(synthetic, tmp_path):
    r = synthetic(n_images=1, height=2, width=2, n_objects=1, cycles=2)
    with pytest.raises(DataError, match="layout"):
        write_result_file(r, tmp_path / "r.nwb", layout="population")
    with pytest.raises(DataError, match="layout"):
        write_result_file(r, tmp_path / "r.nix", layout="rows")


# --- integrity: a flipped byte is refused, not read as a different result ------------------


def flip_a_stored_value(path, name_ends_with):
    """Flip one bit inside the first non-empty HDF5 dataset whose name ends so; return its name.

    NIX stores every array (spike times, ``pixel`` properties) as a chunked, uncompressed dataset:
    the byte offset of its first chunk is where the values lie in the file. The flip is checked to
    have changed the value h5py reads (not only padding).
    """
    import h5py

    found = []
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: found.append(name)
            if isinstance(obj, h5py.Dataset) and name.endswith(name_ends_with) and obj.size
            else None
        )
        name = found[0]
        dset = f[name]
        before = dset[()].copy()
        offset = dset.id.get_offset()
        if offset is None:
            offset = dset.id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as fh:
        fh.seek(offset + 1)  # the second byte: a low mantissa byte of a float, bits 8-15 of an int
        byte = fh.read(1)[0]
        fh.seek(offset + 1)
        fh.write(bytes([byte ^ 0x01]))
    with h5py.File(path, "r") as f:
        after = f[name][()]
    assert not np.array_equal(before, after) and np.isfinite(after).all()
    return name


@pytest.mark.parametrize(
    "layout, target",
    [
        ("neurons", ".times/data"),  # a spike time
        ("neurons", "/properties/pixel"),  # a pixel property of one train
        ("population", ".times/data"),
        ("population", "/properties/pixel"),  # the per-spike pixel array annotation
    ],
)
def test_a_flipped_byte_is_refused(synthetic, tmp_path, layout, target):
    r = synthetic(**SMALL)
    path = write_result_file(r, tmp_path / "result.nix", layout=layout)
    assert trains_of(read_result_file(path)) == trains_of(to_neo(r))  # untouched: reads
    flip_a_stored_value(path, target)
    with pytest.raises(DataError, match=r"result\.nix: contents do not match the checksum"):
        read_result_file(path)


def test_checksum_is_stored_and_the_callers_block_is_left_alone(synthetic, tmp_path):
    from neo.io import NixIO

    from hnnbio.analysis.files import CHECKSUM_KEY, content_digest

    block = to_neo(synthetic(**SMALL))
    path = write_result_file(block, tmp_path / "b.nix")
    assert CHECKSUM_KEY not in block.annotations  # (NixIO itself adds nix_name)
    with NixIO(str(path), mode="ro") as io:
        raw = io.read_block()
    assert raw.annotations[CHECKSUM_KEY] == content_digest(block)
    assert CHECKSUM_KEY not in read_result_file(path).annotations
    # a NIX file written without hnnbio (no checksum) is read without the check
    plain_path = tmp_path / "plain.nix"
    with NixIO(str(plain_path), mode="ow") as io:
        io.write_block(to_neo(synthetic(**SMALL)))
    assert trains_of(read_result_file(plain_path)) == trains_of(block)


def test_digest_sees_times_and_annotations(synthetic):
    from hnnbio.analysis.files import content_digest

    r = synthetic(**SMALL)
    base = content_digest(to_neo(r))
    assert content_digest(to_neo(r)) == base
    moved = to_neo(r)
    st = next(st for st in moved.segments[0].spiketrains if st.size)
    st[0] = st[0] + 1e-9 * pq.ms
    assert content_digest(moved) != base
    relabelled = to_neo(r)
    relabelled.segments[1].spiketrains[2].annotations["pixel"] = 99
    assert content_digest(relabelled) != base
