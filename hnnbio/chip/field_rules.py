"""The rule of every field of every chip instruction (:data:`FIELD_RULES`), read by
:mod:`hnnbio.chip.validate` at load time.

A rule is a function ``rule(value, site) -> None | str``: None when the value is right, else what
is wrong (one phrase). ``site`` gives the chip, the core's buffers and the instruction's other
fields (``site.chip``, ``site.buffer(name)``, ``site.size(field)``, ``site.ctx``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hnnbio.chip import isa

#: Bounds of fields the chip spec does not bound (host side: the run records ``steps_per_cycle``
#: steps of its outputs per sample; a ``steps`` input port holds ``steps * size`` values).
LIMITS = {"steps_per_cycle": 4096, "cycles": 1 << 16, "dt_ms": 1e6, "name": 200,
          "attention_exponent": 16, "port_steps": 1 << 16, "port_values": 1 << 24}
#: Optional top-level manifest keys (beyond program.MANIFEST_KEYS).
# --- value rules: each returns None or what is wrong ---------------------------------------------

def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer(low, high) -> Callable:
    """An int (not a bool) in [low, high]; the bounds may be functions of the site."""
    def rule(value, site):
        lo = low(site) if callable(low) else low
        hi = high(site) if callable(high) else high
        if not is_int(value):
            return f"must be an integer, got {value!r}"
        if not lo <= value <= hi:
            return f"{value} is outside [{lo}, {hi}]"
        return None
    return rule


def number(low, high, low_open=False) -> Callable:
    """A finite int or float (not a bool) in [low, high] (or (low, high] with ``low_open``)."""
    def rule(value, site):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value):
            return f"must be a finite number, got {value!r}"
        if value < low or value > high or (low_open and value == low):
            return f"{value!r} is outside {'(' if low_open else '['}{low}, {high}]"
        return None
    return rule


def boolean(value, site):
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def text(value, site):
    if not isinstance(value, str) or not value or len(value) > LIMITS["name"]:
        return f"must be a non-empty string of at most {LIMITS['name']} characters, got {value!r}"
    return None


def choice(*values) -> Callable:
    def rule(value, site):
        if not isinstance(value, str) or value not in values:
            return f"{value!r} is not one of {', '.join(values)}"
        return None
    return rule


def _bound(value, site):
    return value(site) if callable(value) else value


def buf(size: str | None = None, signed: bool | None = None, min_bits=1, max_bits=32,
        max_size=None, lfsr: bool = False, null: bool = False, holds=None,
        max_init=None) -> Callable:
    """The name of a buffer of the core: of the size of the buffer of field ``size``, of the given
    signedness, ``min_bits .. max_bits`` wide, at most ``max_size`` elements, holding every value
    of the range ``holds`` (what the op writes into it), an initial value at most ``max_init``, an
    LFSR buffer (``stream``) if ``lfsr``; null allowed if ``null``. Bounds may be functions of the
    site."""
    def rule(value, site):
        if value is None:
            return None if null else "must name a buffer of the core, got null"
        spec = site.buffer(value)
        if spec is None:
            return f"{value!r} is not a buffer of core {site.core['core']}"
        if size is not None and site.size(size) is not None and spec["size"] != site.size(size):
            return (f"buffer {value!r} has {spec['size']} elements, {size} "
                    f"({site.args[size]!r}) has {site.size(size)}")
        most = _bound(max_size, site)
        if most is not None and spec["size"] > most:
            return f"buffer {value!r} has {spec['size']} elements, at most {most} here"
        if signed is not None and spec["signed"] != signed:
            return f"buffer {value!r} must be {'signed' if signed else 'unsigned'}"
        low, high = _bound(min_bits, site), _bound(max_bits, site)
        if not low <= spec["bits"] <= high:
            return f"buffer {value!r} is {spec['bits']} bits wide, the op needs {low} to {high}"
        if lfsr and "stream" not in spec:
            return f"buffer {value!r} is not an LFSR buffer (no stream)"
        want = _bound(holds, site)
        held = isa.buffer_range(spec)
        if want is not None and (want[0] < held[0] or want[1] > held[1]):
            return (f"the op writes values in [{want[0]}, {want[1]}], buffer {value!r} holds "
                    f"{list(held)}")
        if max_init is not None and spec.get("init", 0) > max_init:
            return f"buffer {value!r} starts at {spec['init']}, beyond {max_init}"
        return None
    return rule


def array(dtype, shape: Callable, low=None, high=None, null: bool = False) -> Callable:
    """The key of an array of ``dtype`` and ``shape(site)``, values in [low(site), high(site)]."""
    def rule(value, site):
        if value is None and null:
            return None
        if not isinstance(value, str):
            return f"must name an array, got {value!r}"
        if value not in site.ctx.arrays:
            return f"names array {value!r}, which the file does not hold"
        a = site.ctx.arrays[value]
        want = tuple(shape(site))
        if a.dtype != np.dtype(dtype) or a.shape != want:
            return (f"array {value!r} is {a.dtype} of shape {a.shape}, the op needs "
                    f"{np.dtype(dtype)} of shape {want}")
        if a.size and low is not None and (a.min() < low(site) or a.max() > high(site)):
            return (f"array {value!r} holds values in [{a.min()}, {a.max()}], outside "
                    f"[{low(site)}, {high(site)}]")
        site.ctx.used_arrays.setdefault(value, []).append(site)
        return None
    return rule


def sources(value, site):
    """Buffers of the core, each of the size of ``out``, at most accumulator-wide."""
    if not isinstance(value, list) or not value or len(value) > 64:
        return f"must list 1 to 64 buffers, got {value!r}"
    each = buf(size="out")
    low, high = site.chip.accumulator_range
    for name in value:
        problem = each(name, site)
        if problem:
            return problem
        held = isa.buffer_range(site.buffer(name))
        if held[0] < low or held[1] > high:
            return f"buffer {name!r} holds {list(held)}, beyond the accumulator [{low}, {high}]"
    return None


def keep(value, site):
    if not isinstance(value, list) or not 1 <= len(value) <= 15:
        return ("must be a list of 1 to 15 coin codes (the window's 4-bit age counter), got "
                f"{value!r}")
    bad = [v for v in value if not is_int(v) or not 0 <= v <= 256]
    if bad:
        return f"coin code {bad[0]!r} is outside [0, 256]"
    return None


def register_or_array(register: Callable, per_neuron: Callable) -> Callable:
    """A register (an int: one value for every element) or the key of an array of one value per
    element (a string); each checked by its own rule."""
    def rule(value, site):
        return per_neuron(value, site) if isinstance(value, str) else register(value, site)
    return rule


def noise_mask(value, site):
    problem = integer(0, (1 << site.chip.lfsr_bits) - 1)(value, site)
    if problem is None and site.args.get("rand") is None and value != 0:
        return f"{value} with no rand buffer: must be 0"
    return problem


def kept(value, site):
    problem = buf(size="spikes", null=True, holds=(0, 1))(value, site)
    if problem is None and (value is None) == bool(site.args.get("nested", False)):
        return "names the kept-bits buffer exactly when nested is true"
    return problem


def refractory_steps(value, site):
    spec = site.buffer(site.args.get("refractory")) or {"bits": site.chip.refractory_bits}
    return integer(0, min(site.chip.refractory_max, (1 << spec["bits"]) - 1))(value, site)


def destinations(value, site):
    """``[{core, buffer, lo, hi, at}]``: elements ``what[lo:hi]`` to ``buffer[at:at + hi - lo]``
    of an existing core; the values sent (clamped to ``bits``) fit the destination's range."""
    if not isinstance(value, list) or len(value) > site.chip.n_cores * 16:
        return f"must be a list of destinations, got {value!r}"
    what = site.buffer(site.args.get("what"))
    bits = site.args.get("bits")
    for i, to in enumerate(value):
        problem = part_problem(to, site.ctx, what["size"] if what else None, f"to[{i}]")
        if problem:
            return problem
        if what is None or not is_int(bits) or not 1 <= bits <= 32:
            continue
        dst = site.ctx.cores[to["core"]]["buffers"][to["buffer"]]
        sent = isa.buffer_range({"bits": bits, "signed": what["signed"]})
        held = isa.buffer_range(dst)
        if sent[0] < held[0] or sent[1] > held[1]:
            return (f"to[{i}]: {bits}-bit {'signed' if what['signed'] else 'unsigned'} values "
                    f"{list(sent)} do not fit buffer {to['buffer']!r} of core {to['core']} "
                    f"({list(held)})")
    return None


def part_problem(to, ctx, size, place) -> str | None:
    """One destination or port part: keys, an existing core and buffer, elements in range."""
    if not isinstance(to, dict) or set(to) != set(isa.DESTINATION_FIELDS):
        return f"{place}: must hold exactly {', '.join(isa.DESTINATION_FIELDS)}, got {to!r}"
    if not is_int(to["core"]) or to["core"] not in ctx.cores:
        return f"{place}: core {to['core']!r} is not a core of the program"
    spec = ctx.cores[to["core"]]["buffers"].get(to["buffer"]) if isinstance(
        to["buffer"], str) else None
    if spec is None:
        return f"{place}: {to['buffer']!r} is not a buffer of core {to['core']}"
    lo, hi, at = to["lo"], to["hi"], to["at"]
    if not all(is_int(v) for v in (lo, hi, at)) or not 0 <= lo < hi or at < 0:
        return f"{place}: needs integers 0 <= lo < hi and at >= 0, got {lo!r}, {hi!r}, {at!r}"
    if size is not None and hi > size:
        return f"{place}: elements {lo}:{hi} beyond the {size} of the source"
    if at + hi - lo > spec["size"]:
        return (f"{place}: elements {at}:{at + hi - lo} beyond the {spec['size']} of buffer "
                f"{to['buffer']!r} of core {to['core']}")
    return None


def _acc_range(i):
    return lambda site: site.chip.accumulator_range[i]


def _membrane(i):
    return lambda site: site.chip.membrane_range[i]


def _acc_bits(site):
    return site.chip.accumulator_bits


#: The rule of every field of every op (keyed by op name, then field), from the semantics of
#: :mod:`hnnbio.chip.isa`. An op added to :data:`hnnbio.chip.isa.OPS` needs its entry here (a test
#: checks that each op and field has one; a field without a rule is refused at load time, never
#: let through unchecked), and one in :data:`STATE_BYTES` if it keeps state outside buffers.
FIELD_RULES: dict[str, dict[str, Callable]] = {
    "hadamard": {"a": buf(max_bits=16), "b": buf(size="a", max_bits=16),
                 "out": buf(size="a", signed=False, min_bits=8), "shift": integer(0, 31)},
    "matvec": {"x": buf(max_bits=8, max_size=lambda s: s.chip.axons_per_core),
               "weights": array(np.int8, lambda s: (s.size("x") or 0, s.size("out") or 0)),
               "out": buf(signed=True, min_bits=_acc_bits,
                          max_size=lambda s: s.chip.neurons_per_core)},
    "accumulate": {"sources": sources,
                   "bias": array(np.int32, lambda s: (s.size("out") or 0,), _acc_range(0),
                                 _acc_range(1), null=True),
                   "out": buf(signed=True, min_bits=_acc_bits)},
    "lif": {"input": buf(), "v": buf(size="input", signed=True,
                                     min_bits=lambda s: s.chip.membrane_bits,
                                     max_bits=lambda s: s.chip.membrane_bits),
            "refractory": buf(size="input", signed=False,
                              min_bits=lambda s: s.chip.refractory_bits),
            "spikes": buf(size="input", holds=(0, 1)),
            "rand": buf(size="input", lfsr=True, null=True),
            "alpha": register_or_array(integer(0, 255),
                                       array(np.uint8, lambda s: (s.size("input") or 0,))),
            "v_leak": integer(_membrane(0), _membrane(1)),
            "v_threshold": register_or_array(
                integer(_membrane(0), _membrane(1)),
                array(np.int32, lambda s: (s.size("input") or 0,), _membrane(0), _membrane(1))),
            "noise_mask": noise_mask,
            "reset_mode": choice("value", "subtract", "subtract_constant", "none"),
            "v_reset": integer(_membrane(0), _membrane(1)),
            "refractory_steps": refractory_steps},
    "lut": {"x": buf(), "out": buf(size="x", signed=False, min_bits=8),
            "shift": array(np.uint8, lambda s: (s.size("x") or 0,), lambda s: 0,
                           lambda s: s.chip.accumulator_bits - 1),
            "table": array(np.uint8, lambda s: (1 << s.chip.lut_bits,))},
    "window": {"spikes": buf(), "age": buf(size="spikes", signed=False, min_bits=4, max_init=15),
               "kept": kept, "out": buf(size="spikes", holds=(0, 1)),
               "rand": buf(size="spikes", lfsr=True), "keep": keep,
               "rand_shift": integer(0, lambda s: s.chip.lfsr_bits - 8), "nested": boolean},
    "send": {"what": buf(), "to": destinations, "bits": integer(1, 32),
             "delay": integer(0, lambda s: s.chip.delay_slots)},
}
#: State an op keeps outside its buffers and arrays, bytes per element of its first buffer
#: (none of today's ops: their state is in buffers). Ops absent from the table keep none.
STATE_BYTES: dict[str, Callable[[dict, dict], int]] = {}
