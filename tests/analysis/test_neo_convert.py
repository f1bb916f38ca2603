"""BindingResult <-> Neo Block, and Brian2 SpikeMonitor -> Neo Block."""

import neo
import numpy as np
import pytest
import quantities as pq

from hnnbio.analysis.neo_convert import from_neo, from_spike_monitor, to_neo
from hnnbio.errors import DataError, ParameterError


def spike_set(result):
    return set(
        zip(
            result.spike_image.tolist(),
            result.spike_step.tolist(),
            result.spike_pixel.tolist(),
            strict=False,
        )
    )


def test_to_neo_layout(synthetic):
    r = synthetic(n_images=2, height=3, width=4, steps_per_cycle=10, cycles=3, dt_ms=0.5)
    block = to_neo(r)
    assert len(block.segments) == 2
    assert [g.name for g in block.groups] == ["sheet"]
    assert len(block.groups[0].spiketrains) == 2 * 12
    assert block.annotations["steps_per_cycle"] == 10 and block.annotations["dt_ms"] == 0.5
    assert block.annotations["model"] == "synthetic" and block.annotations["backend"] == "brian2"
    assert "session_start_time" in block.annotations and block.rec_datetime is not None
    for i, seg in enumerate(block.segments):
        assert len(seg.spiketrains) == 12  # silent pixels kept as empty trains
        assert seg.annotations["metric_ami"] == r.metrics["ami"][i]
        for p, st in enumerate(seg.spiketrains):
            assert st.units == pq.ms
            assert st.t_start == 0 * pq.ms and st.t_stop == 30 * 0.5 * pq.ms
            assert st.sampling_rate == 2 * pq.kHz
            assert (st.annotations["row"], st.annotations["col"]) == divmod(p, 4)
            assert st.annotations["object"] == r.truth[i].ravel()[p]
            assert st.annotations["group"] == r.labels[i].ravel()[p]
            # hand conversion: spike at step k is at k * 0.5 ms
            keep = (r.spike_image == i) & (r.spike_pixel == p)
            np.testing.assert_array_equal(st.magnitude, np.sort(r.spike_step[keep]) * 0.5)
    assert any(len(st) == 0 for st in block.segments[0].spiketrains)


def test_subset_of_images(synthetic):
    r = synthetic(n_images=4)
    block = to_neo(r, images=[3, 1])
    assert [s.annotations["image"] for s in block.segments] == [3, 1]
    back = from_neo(block)
    assert back.n_images == 2
    keep = r.spike_image == 3
    np.testing.assert_array_equal(
        np.sort(back.spike_step[back.spike_image == 0]), np.sort(r.spike_step[keep])
    )
    with pytest.raises(DataError, match="images"):
        to_neo(r, images=[4])
    with pytest.raises(DataError, match="images"):
        to_neo(r, images=[0.5])


def test_round_trip_is_lossless(synthetic):
    r = synthetic(n_images=3)
    back = from_neo(to_neo(r))
    assert spike_set(back) == spike_set(r)
    np.testing.assert_array_equal(back.images, r.images)
    np.testing.assert_array_equal(back.truth, r.truth)
    np.testing.assert_array_equal(back.labels, r.labels)
    assert (back.n_steps, back.steps_per_cycle, back.dt_ms) == (
        r.n_steps,
        r.steps_per_cycle,
        r.dt_ms,
    )
    np.testing.assert_array_equal(back.metrics["ami"], r.metrics["ami"])


def test_from_neo_on_foreign_block():
    seg = neo.Segment()
    seg.spiketrains.append(neo.SpikeTrain([0.002, 0.004], units="s", t_stop=0.01))
    seg.spiketrains.append(neo.SpikeTrain([], units="s", t_stop=0.01))
    block = neo.Block()
    block.segments.append(seg)
    with pytest.raises(DataError, match="off the dt"):
        from_neo(block)  # neo's default sampling rate (1 Hz) is not the grid
    r = from_neo(block, dt=1 * pq.ms)
    assert r.n_steps == 10 and r.truth is None and r.images.shape == (1, 1, 2)
    assert spike_set(r) == {(0, 2, 0), (0, 4, 0)}
    with pytest.raises(ParameterError, match="dt"):
        from_neo(block, dt=-1 * pq.ms)
    with pytest.raises(DataError, match="block"):
        from_neo(neo.Block())
    with pytest.raises(DataError, match="block"):
        from_neo("not a block")


def test_from_spike_monitor_matches_generated_spikes():
    import brian2 as b2

    from hnnbio.config import use_target

    use_target()
    # 2 images x 3 neurons, spikes placed by hand on the 0.1 ms grid
    idx = np.array([0, 4, 5, 2])
    times = np.array([0.3, 1.0, 2.2, 4.9]) * b2.ms
    gen = b2.SpikeGeneratorGroup(6, idx, times, dt=0.1 * b2.ms)
    mon = b2.SpikeMonitor(gen)
    net = b2.Network(gen, mon)
    net.run(5 * b2.ms)
    block = from_spike_monitor(mon, n_images=2)
    assert len(block.segments) == 2 and all(len(s.spiketrains) == 3 for s in block.segments)
    got = {
        (s, p, float(t))
        for s, seg in enumerate(block.segments)
        for p, st in enumerate(seg.spiketrains)
        for t in st.magnitude
    }
    assert {(s, p, round(t, 9)) for s, p, t in got} == {
        (0, 0, 0.3),
        (1, 1, 1.0),
        (1, 2, 2.2),
        (0, 2, 4.9),
    }
    assert block.segments[0].spiketrains[0].t_stop == 5 * pq.ms
    with pytest.raises(ParameterError, match="n_images"):
        from_spike_monitor(mon, n_images=4)
    with pytest.raises(ParameterError, match="t_stop"):
        from_spike_monitor(mon, n_images=1, t_stop=1 * b2.ms)
    with pytest.raises(ParameterError, match="t_stop"):
        from_spike_monitor(mon, n_images=1, t_stop=5.0)
