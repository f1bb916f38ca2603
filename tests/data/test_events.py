"""The event-stream generator against hand-computed cases: threshold crossings of a log-intensity
ramp, a static scene, determinism per seed, the ground-truth box of the rendered square."""

import numpy as np
import pytest

from hnnbio.data.events import (
    StreamSettings,
    bounce,
    coverage,
    events_from_log,
    generate_stream,
    held_frames,
    iou,
    render,
)
from hnnbio.errors import DataError

C = 0.25


def test_a_log_intensity_ramp_gives_one_on_event_per_threshold_crossing():
    # log I rises by C / 4 per step (exact binary fractions): floor(k / 4) crossings by step k
    steps = 41
    log_i = np.log(0.3) + (C / 4) * np.arange(steps)
    ev = events_from_log(log_i[:, None], C)[:, :, 0]
    assert ev[:, 1].sum() == 0
    assert ev[0].sum() == 0  # step 0 sets the reference
    assert np.array_equal(np.cumsum(ev[:, 0]), np.arange(steps) // 4)
    assert ev[:, 0].sum() == 10  # floor(40 * (C / 4) / C)
    assert np.array_equal(np.flatnonzero(ev[:, 0]), np.arange(4, steps, 4))


def test_a_falling_ramp_gives_off_events_and_a_jump_several_at_once():
    log_i = np.array([0.0, -C / 2, -C, -1.5 * C, -2 * C])
    ev = events_from_log(log_i[:, None], C)[:, :, 0]
    assert ev[:, 0].tolist() == [0, 0, 0, 0, 0]
    assert ev[:, 1].tolist() == [0, 0, 1, 0, 1]
    # a jump of 2.5 C: two ON events (the reference moves to 2 C); back to 0: two OFF events
    ev = events_from_log(np.array([[0.0], [2.5 * C], [2.5 * C], [0.0]]), C)[:, :, 0]
    assert ev[:, 0].tolist() == [0, 2, 0, 0]
    assert ev[:, 1].tolist() == [0, 0, 0, 2]


def test_a_static_scene_gives_no_event():
    s = generate_stream(5, StreamSettings(speed_low=0.0, speed_high=0.0, steps=50))
    assert s.events.sum() == 0
    assert np.allclose(s.boxes, s.boxes[0])


def test_streams_are_deterministic_per_seed():
    a, b, c = generate_stream(7), generate_stream(7), generate_stream(8)
    for key in ("events", "frames", "boxes", "background"):
        assert np.array_equal(getattr(a, key), getattr(b, key))
    assert not np.array_equal(a.boxes, c.boxes)
    assert not np.array_equal(a.background, c.background)


def test_the_box_is_the_rendered_square():
    settings = StreamSettings(steps=60, frame_every=20)
    s = generate_stream(3, settings)
    for k, step in enumerate(s.frame_steps):
        cov = (s.frames[k] - s.background) / (s.brightness - s.background)  # recovered coverage
        x0, y0, x1, y1 = s.boxes[step]
        side = x1 - x0
        assert y1 - y0 == pytest.approx(side)
        assert settings.size_low <= side <= settings.size_high
        assert cov.sum() == pytest.approx(side * side, abs=1e-3)  # the area
        rows, cols = np.mgrid[0:32, 0:32] + 0.5
        assert (cov * cols).sum() / cov.sum() == pytest.approx((x0 + x1) / 2, abs=1e-3)
        assert (cov * rows).sum() / cov.sum() == pytest.approx((y0 + y1) / 2, abs=1e-3)
        inside = np.outer((np.arange(32) >= np.ceil(y0)) & (np.arange(32) + 1 <= np.floor(y1)),
                          (np.arange(32) >= np.ceil(x0)) & (np.arange(32) + 1 <= np.floor(x1)))
        outside = np.outer((np.arange(32) + 1 <= y0) | (np.arange(32) >= y1), np.ones(32, bool)) \
            | np.outer(np.ones(32, bool), (np.arange(32) + 1 <= x0) | (np.arange(32) >= x1))
        assert np.allclose(cov[inside], 1, atol=1e-5) and np.allclose(cov[outside], 0, atol=1e-5)
        assert inside.sum() >= (side - 2) ** 2 and outside.sum() >= 32 * 32 - (side + 2) ** 2
        assert 0 <= x0 and x1 <= 32 and 0 <= y0 and y1 <= 32


def test_each_pixel_stays_within_one_threshold_of_its_log_intensity():
    settings = StreamSettings(steps=80)
    intensity, _, _, _ = render(settings, 11)
    s = generate_stream(11, settings)
    net = np.cumsum(s.events[:, 0].astype(int) - s.events[:, 1], axis=0) * settings.threshold
    change = np.log(intensity) - np.log(intensity[0])
    assert np.all(np.abs(change - net) < settings.threshold + 1e-9)
    assert s.events.sum() > 0


def test_frames_are_the_intensity_every_n_steps_and_held():
    settings = StreamSettings(steps=50, frame_every=20)
    intensity, _, _, _ = render(settings, 2)
    s = generate_stream(2, settings)
    assert s.frame_steps.tolist() == [0, 20, 40]
    assert np.allclose(s.frames, intensity[[0, 20, 40]])
    held = held_frames(s)
    assert np.array_equal(held[39], s.frames[1]) and np.array_equal(held[40], s.frames[2])


def test_bounce_coverage_and_iou_by_hand():
    assert bounce(np.array([5.0, -1.0, 9.0, 2.0]), 4.0).tolist() == [3.0, 1.0, 1.0, 2.0]
    cov = coverage((0.5, 1.0, 2.0, 2.5), 4)
    assert cov[1].tolist() == [0.5, 1.0, 0.0, 0.0] and cov[2].tolist() == [0.25, 0.5, 0, 0]
    assert iou(np.array([0, 0, 2, 2]), np.array([1, 1, 3, 3])) == pytest.approx(1 / 7)
    assert iou(np.array([0, 0, 1, 1]), np.array([2, 2, 3, 3])) == 0


@pytest.mark.parametrize("bad", [dict(side=2), dict(threshold=0.0), dict(size_high=40),
                                 dict(bg_high=0.95), dict(steps=0)])
def test_bad_settings_are_refused(bad):
    with pytest.raises(DataError):
        StreamSettings(**bad)
