r"""The LIF equations users write in Brian2 (the forms :mod:`hnnbio.chip.hybrid` compiles), as
NIR nodes.

==========  =============================================  ======================================
form        Brian2 (``threshold = "v > TH"``,               NIR node
            ``reset = "v = VR"``)
==========  =============================================  ======================================
driven      ``dv/dt = (K * X [* M] - v) / tau : volt``      ``LIF(tau, r = K M, v_leak = 0, TH,
            (``X : 1`` written by an input)                 VR)``, input current ``I = X``
leaky       ``dv/dt = -v / tau : volt``                     ``LIF(tau, r = 1, v_leak = 0, TH, VR)``
integrator  ``v : volt`` (no threshold, no reset)           ``I(r = 1)``
==========  =============================================  ======================================

``K``, ``M``, ``tau``, ``TH`` and ``VR`` are names of the namespace or of the params (per neuron
where the params give one value per neuron, declared ``NAME : second (constant)``, ``NAME : volt
(constant)`` or ``NAME : 1``). ``M`` is a variable a modulation unit may multiply; NIR has no
modulation, so the graph carries the value the params give it (the unit itself is left out and
listed by the writer).

Jumps. A synapse ``v_post += w * mV`` (or ``* volt``, or ``w * C_post * mV`` with ``C`` a
constant of the target) jumps ``v`` by ``J``. NIR's LIF jumps by ``w_nir r / tau`` on a spike of
weight ``w_nir`` (:mod:`hnnbio.nir.forms`), its ``I`` by ``w_nir r``; so the edge's weight is
``J tau / r`` (LIF, ``r = 1``) or ``J`` (I).
"""

from __future__ import annotations

import re

import numpy as np

from hnnbio.errors import NIRError

_DRIVEN = re.compile(r"dv/dt=\((\w+)\*(\w+)(?:\*(\w+))?-v\)/(\w+):volt\Z")
_LEAKY = re.compile(r"dv/dt=-v/(\w+):volt\Z")
_DECL = re.compile(r"(\w+):(1|second|volt)(?:\(constant\))?\Z")
#: a jump of v: ``v_post += w [* C_post] * mV`` (or volt); group 1 the target's constant C
JUMP = re.compile(r"v_post\+=w\*(?:(\w+)_post\*)?(mV|volt)\Z")
_UNIT = {"mV": 1e-3, "volt": 1.0}


def _lines(text: str) -> list[str]:
    return [ln for ln in ("".join(x.split("#", 1)[0].split()) for x in text.splitlines()) if ln]


def is_passive(p, graph) -> bool:
    """A population of declarations only (``b : 1``: no dynamics, threshold, input or synapses),
    the value a network writes through a ``set`` unit: no part of the spiking graph."""
    lines = _lines(p.equations or "")
    return bool(lines) and all(_DECL.match(ln) and ln.endswith(":1") for ln in lines) and \
        not (p.threshold or p.reset or p.input or p.model or p.circuit or p.group) and \
        not any(p.name in (s.source, s.target) for s in graph.synapses)


def recognise(p, si) -> dict | None:
    """The NIR node of population ``p`` when its equations are one of the forms above, else
    None. ``si(p, name, value, unit)`` gives a parameter's per-neuron SI values. Returns ``kind``
    ("LIF" or "I"), ``values`` (the node's parameters by the names of
    :data:`hnnbio.nir.forms.PARAMETERS`, and ``i_bias`` 0), ``constants`` (declared ``: 1``
    names with their per-neuron values, for jumps ``w * C_post``) and ``form``."""
    lines = _lines(p.equations or "")
    if not lines:
        return None
    head, decls = lines[0], {}
    for ln in lines[1:]:
        m = _DECL.match(ln)
        if m is None:
            return None
        decls[m.group(1)] = m.group(2)
    driven, leaky = _DRIVEN.match(head), _LEAKY.match(head)
    if head == "v:volt":
        form = "integrator"
    elif driven or leaky:
        form = "driven" if driven else "leaky"
    else:
        return None

    def value(name, unit):
        if name in p.params:
            return si(p, name, p.params[name], unit)
        if name in p.namespace:
            return si(p, name, p.namespace[name], unit)
        if decls.get(name) == "1":
            return np.zeros(p.size)  # a declared variable no one writes stays 0
        raise NIRError(f"population {p.name!r}: {name!r} is neither a parameter nor in the "
                       "namespace")

    used = set()
    constants = {n: value(n, "") for n, kind in decls.items() if kind == "1"}
    if form == "integrator":
        if p.threshold or p.reset:
            raise NIRError(f"population {p.name!r}: an integrator (v : volt) has no threshold or "
                           "reset in NIR's I")
        values = {"r": np.ones(p.size)}
    else:
        th, rs = (p.threshold or "").replace(" ", ""), (p.reset or "").replace(" ", "")
        if not th.startswith("v>") or not rs.startswith("v="):
            raise NIRError(f"population {p.name!r}: threshold {p.threshold!r} and reset "
                           f"{p.reset!r} are not v > NAME and v = NAME (NIR's LIF)")
        if driven:
            k, x, m, tau = driven.groups()
            factors = [f for f in (x, m) if f]
            if p.input is None or p.input_variable not in factors:
                raise NIRError(f"population {p.name!r}: the drive must multiply the variable "
                               "its input writes (NIR's input current)")
            r = value(k, "V")
            for f in factors:
                if f != p.input_variable:
                    r = r * value(f, "")
            used |= {k, *factors}
        else:
            tau = leaky.group(1)
            r = np.ones(p.size)
            if p.input is not None:
                raise NIRError(f"population {p.name!r}: an input into dv/dt = -v / tau has no "
                               "variable to write (NIR's input current)")
        values = {"tau": value(tau, "s"), "r": r, "v_leak": np.zeros(p.size),
                  "v_threshold": value(th[2:], "V"), "v_reset": value(rs[2:], "V")}
        used |= {tau, th[2:], rs[2:]}
    if "v" in p.params and np.any(si(p, "v", p.params["v"], "V") != 0):
        raise NIRError(f"population {p.name!r}: initial v differs from rest; NIR has no "
                       "initial state")
    unknown = set(p.params) - used - set(constants) - {"v"}
    if unknown:
        raise NIRError(f"population {p.name!r}: params {sorted(unknown)} are not part of its "
                       "NIR form")
    values["i_bias"] = np.zeros(p.size)
    return {"kind": "I" if form == "integrator" else "LIF", "values": values,
            "constants": constants, "form": form}


def jump_weights(s, target: dict, w: np.ndarray, j: np.ndarray) -> np.ndarray:
    """NIR edge weights of synapse ``s`` (``w`` per connection, ``j`` its target neurons) onto a
    population of a form above (``target``: what :func:`recognise` returned)."""
    statement = "".join(str(s.on_pre or "").split())
    m = JUMP.match(statement)
    if m is None:
        raise NIRError(f"synapse {s.name!r}: on_pre {s.on_pre!r} is not a jump of v "
                       "(v_post += w * mV, or w * C_post * mV with C a constant of the target)")
    name, unit = m.groups()
    jump = w * _UNIT[unit]
    if name is not None:
        if name not in target["constants"]:
            raise NIRError(f"synapse {s.name!r}: {name}_post is not a declared constant of the "
                           "target")
        jump = jump * target["constants"][name][j]
    v = target["values"]
    if target["kind"] == "LIF":
        return jump * v["tau"][j] / v["r"][j]
    return jump / v["r"][j]
