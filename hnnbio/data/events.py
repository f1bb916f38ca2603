r"""Generated event-camera streams: a bright square moving on a textured background.

A stream of ``steps`` steps of ``dt`` (one step = one event time bin) on a ``side`` x ``side``
sensor, deterministic per seed:

- **Scene.** A static background texture ``bg`` (box-blurred uniform noise scaled to
  ``[bg_low, bg_high]``) and a square of side ``s`` and brightness ``obj`` whose top-left corner
  moves on a straight line at constant velocity, bouncing off the sensor's borders (a reflection:
  the corner stays in ``[0, side - s]`` on each axis). At step ``k`` the corner is at
  ``bounce(p0 + v k)``.
- **Rendering.** Pixel ``(r, c)`` covers ``[c, c + 1) x [r, r + 1)``; its coverage by the box
  ``[x0, x1) x [y0, y1)`` is the product of the 1-d overlaps, and its intensity
  ``I = bg (1 - cov) + obj cov`` (area sampling, so the ground-truth box is exactly the rendered
  square's).
- **Events.** Each pixel keeps a reference log intensity ``ref`` (set to ``log I`` at step 0).
  At step ``k >= 1``, with ``d = log I_k - ref``, it emits ``n_on = floor(d / C)`` ON events
  when ``d > 0`` or ``n_off = floor(-d / C)`` OFF events when ``d < 0`` (``C`` the contrast
  threshold), and ``ref`` moves by ``(n_on - n_off) C`` (the DVS pixel model: one event per
  threshold crossing). A static scene gives no event; a log-intensity ramp of ``r`` per step gives
  ``floor(k r / C)`` ON events in the first ``k`` steps. ``floor`` is taken of ``d / C + 1e-9`` so
  that a crossing landing exactly on the threshold counts despite rounding.
- **Frames.** The intensity image at steps ``0, N, 2N, ...`` (``frame_every = N``), the low-rate
  stream of a conventional camera.

Boxes are ``(x0, y0, x1, y1)`` in pixels (``x`` the column axis), one per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hnnbio.errors import DataError

#: Tolerance added before ``floor`` in the event count (a crossing exactly at ``C`` counts).
EPS = 1e-9


@dataclass(frozen=True)
class StreamSettings:
    """The generator's settings (pixels, steps, intensities, speeds in pixels per step)."""

    side: int = 32
    steps: int = 200
    frame_every: int = 20
    threshold: float = 0.15
    size_low: int = 9
    size_high: int = 13
    speed_low: float = 0.15
    speed_high: float = 0.4
    obj_low: float = 0.85
    obj_high: float = 1.0
    bg_low: float = 0.1
    bg_high: float = 0.5
    blur: int = 3

    def __post_init__(self):
        ints = {"side": (self.side, 4), "steps": (self.steps, 1),
                "frame_every": (self.frame_every, 1), "size_low": (self.size_low, 1),
                "size_high": (self.size_high, 1), "blur": (self.blur, 1)}
        for key, (value, low) in ints.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise DataError(f"events: {key} must be an integer >= {low}, got {value!r}")
        if not self.size_low <= self.size_high < self.side:
            raise DataError(f"events: need size_low <= size_high < side, got {self.size_low}, "
                            f"{self.size_high}, {self.side}")
        if not self.threshold > 0:
            raise DataError(f"events: threshold must be > 0, got {self.threshold!r}")
        if not 0 <= self.speed_low <= self.speed_high:
            raise DataError("events: need 0 <= speed_low <= speed_high")
        if not 0 < self.bg_low <= self.bg_high < self.obj_low <= self.obj_high:
            raise DataError("events: need 0 < bg_low <= bg_high < obj_low <= obj_high")


@dataclass(frozen=True)
class EventStream:
    """One generated stream.

    Attributes
    ----------
    events : ndarray, shape (steps, 2, side, side), int16
        ON (channel 0) and OFF (channel 1) event counts per pixel and step.
    frames : ndarray, shape (n_frames, side, side), float32
        Intensity images at ``frame_steps``.
    frame_steps : ndarray of int
        ``0, N, 2N, ...`` below ``steps``.
    boxes : ndarray, shape (steps, 4), float64
        The square's ``(x0, y0, x1, y1)`` at every step.
    background : ndarray, shape (side, side), float64
    brightness : float
        The square's intensity.
    seed : int
    """

    events: np.ndarray
    frames: np.ndarray
    frame_steps: np.ndarray
    boxes: np.ndarray
    background: np.ndarray
    brightness: float
    seed: int


def bounce(p: np.ndarray, length: float) -> np.ndarray:
    """Reflect positions ``p`` into ``[0, length]`` (a point bouncing between two walls)."""
    if length <= 0:
        return np.zeros_like(np.asarray(p, dtype=float))
    u = np.mod(np.asarray(p, dtype=float), 2 * length)
    return np.where(u <= length, u, 2 * length - u)


def coverage(box, side: int) -> np.ndarray:
    """Area of each pixel inside ``box = (x0, y0, x1, y1)``, shape (side, side), in [0, 1]."""
    x0, y0, x1, y1 = box
    edges = np.arange(side, dtype=float)
    ox = np.clip(np.minimum(x1, edges + 1) - np.maximum(x0, edges), 0, 1)
    oy = np.clip(np.minimum(y1, edges + 1) - np.maximum(y0, edges), 0, 1)
    return np.outer(oy, ox)


def texture(rng: np.random.Generator, side: int, low: float, high: float, blur: int):
    """Box-blurred uniform noise scaled to ``[low, high]`` exactly (a static background)."""
    noise = rng.random((side + blur - 1, side + blur - 1))
    kernel = np.ones(blur) / blur
    smooth = np.apply_along_axis(np.convolve, 0, noise, kernel, "valid")
    smooth = np.apply_along_axis(np.convolve, 1, smooth, kernel, "valid")
    span = smooth.max() - smooth.min()
    unit = (smooth - smooth.min()) / span if span > 0 else np.zeros_like(smooth)
    return low + (high - low) * unit


def events_from_log(log_intensity: np.ndarray, threshold: float) -> np.ndarray:
    """ON / OFF event counts of pixels with log intensities ``log_intensity`` (steps, ...).

    Returns shape (steps, 2, ...), int16: channel 0 ON, channel 1 OFF; step 0 has none (it sets
    the reference). See the module docstring for the pixel model.
    """
    log_intensity = np.asarray(log_intensity, dtype=np.float64)
    if log_intensity.ndim < 1 or log_intensity.shape[0] < 1:
        raise DataError("events: log_intensity needs a step axis of length >= 1")
    if not threshold > 0:
        raise DataError(f"events: threshold must be > 0, got {threshold!r}")
    out = np.zeros((log_intensity.shape[0], 2, *log_intensity.shape[1:]), dtype=np.int16)
    ref = log_intensity[0].copy()
    for k in range(1, log_intensity.shape[0]):
        d = log_intensity[k] - ref
        on = np.floor(np.maximum(d, 0) / threshold + EPS)
        off = np.floor(np.maximum(-d, 0) / threshold + EPS)
        out[k, 0], out[k, 1] = on, off
        ref += (on - off) * threshold
    return out


def render(settings: StreamSettings, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                          float]:
    """(intensity (steps, side, side), boxes (steps, 4), background, brightness) of a stream."""
    s = settings
    rng = np.random.default_rng(seed)
    bg = texture(rng, s.side, s.bg_low, s.bg_high, s.blur)
    size = int(rng.integers(s.size_low, s.size_high + 1))
    bright = float(rng.uniform(s.obj_low, s.obj_high))
    room = s.side - size
    p0 = rng.uniform(0, room, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(s.speed_low, s.speed_high)
    v = speed * np.array([np.cos(angle), np.sin(angle)])
    k = np.arange(s.steps, dtype=float)[:, None]
    corner = bounce(p0[None, :] + v[None, :] * k, room)
    boxes = np.concatenate([corner, corner + size], axis=1)
    intensity = np.empty((s.steps, s.side, s.side))
    for t in range(s.steps):
        cov = coverage(boxes[t], s.side)
        intensity[t] = bg * (1 - cov) + bright * cov
    return intensity, boxes, bg, bright


def generate_stream(seed: int, settings: StreamSettings | None = None) -> EventStream:
    """One stream of ``settings`` (default :class:`StreamSettings`), deterministic per ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"events: seed must be an integer >= 0, got {seed!r}")
    s = settings or StreamSettings()
    intensity, boxes, bg, bright = render(s, int(seed))
    events = events_from_log(np.log(intensity), s.threshold)
    frame_steps = np.arange(0, s.steps, s.frame_every)
    return EventStream(events=events, frames=intensity[frame_steps].astype(np.float32),
                       frame_steps=frame_steps, boxes=boxes, background=bg, brightness=bright,
                       seed=int(seed))


def generate_streams(seeds, settings: StreamSettings | None = None) -> list[EventStream]:
    """Streams for each seed of ``seeds``."""
    return [generate_stream(int(seed), settings) for seed in seeds]


def held_frames(stream: EventStream, steps: int | None = None) -> np.ndarray:
    """The frame stream as one image per step, each frame held until the next, (steps, H, W)."""
    steps = stream.events.shape[0] if steps is None else steps
    index = np.minimum(np.arange(steps) // _frame_every(stream), len(stream.frames) - 1)
    return stream.frames[index]


def _frame_every(stream: EventStream) -> int:
    return int(stream.frame_steps[1] - stream.frame_steps[0]) if len(stream.frame_steps) > 1 \
        else stream.events.shape[0]


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes ``(..., 4)`` as ``(x0, y0, x1, y1)`` (0 for empty ones)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    union = _area(a) + _area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _area(box: np.ndarray) -> np.ndarray:
    return np.clip(box[..., 2] - box[..., 0], 0, None) * np.clip(box[..., 3] - box[..., 1], 0, None)
