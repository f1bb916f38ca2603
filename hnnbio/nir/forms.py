r"""The Brian2 forms of NIR's neuron nodes, shared by the reader and the writer.

NIR's parameters are plain numbers and time is in seconds. hnnbio reads them in SI units: a
membrane value ``v`` is in volt, a current ``I`` in ampere, ``r`` in ohm (ohm/second for the
integrators ``IF`` and ``I``, whose ``dv/dt = R I`` has no time constant), time constants and
delays in seconds, so that the numbers stay NIR's numbers (1 NIR unit = 1 V = 1 A = 1 ohm).

Signals. The output of a spiking node (``IF``, ``LIF``, ``CubaLIF``, ``Threshold``) is a spike
train, each spike a unit Dirac delta (NIR's continuous-time reading); an edge through ``Affine``,
``Linear``, ``Scale`` and ``Delay`` nodes makes it a weighted, delayed sum of Dirac deltas, so a
spike of a presynaptic neuron adds the charge ``w`` (coulomb) to the input current ``I`` of the
target. Integrating the target's equation over the delta gives the jump:

=============  ====================================  ===========================================
node           equation                              jump on a spike of weight ``w``
=============  ====================================  ===========================================
LIF, LI        ``tau dv/dt = v_leak - v + r I``      ``v += w r / tau``
IF, I          ``dv/dt = r I``                       ``v += w r``
CubaLIF/CubaLI ``tau_syn dI_s/dt = -I_s + w_in I``   ``i_syn += w w_in / tau_syn``
               ``tau_mem dv/dt = v_leak - v + r I_s``
=============  ====================================  ===========================================

The output of a non-spiking node (``Input``, ``LI``, ``CubaLI``, ``I``) is a value: an input's
per-step values (held over the step: zero-order hold), or ``v`` of an integrator (1 V of ``v`` is
1 A of current downstream). A value edge is a Brian2 summed variable (``i_cK_post = w * x_pre``),
an identity edge from an input a direct write of the input into ``i_in``; value edges cannot be
delayed (Brian2's summed variables have no delay), so a ``Delay`` on one is refused.

Discretisation (step ``dt``). Linear equations with the input held over the step are integrated
exactly (``exact`` for LIF, LI; ``euler``, exact here, for IF, I); the current-based nodes use
exponential Euler (exact for ``I_s`` and for ``v`` while ``I_s`` is constant over the step; error
O(dt / tau_syn) otherwise). The threshold is checked at the end of each step, so a neuron under
constant input whose continuous inter-spike interval is ``T`` fires every ``floor(T / dt) + 1``
steps (the interval rounded up to the grid, an error below one step). A spike made in step ``n``
is delivered at the end of step ``n`` plus its delay rounded to whole steps (delays that are not
whole steps are refused), i.e. the Dirac arrives at a step boundary, where the jump is exact.
Rest state at the start: ``v = v_leak``, ``I_s = 0``. ``Threshold`` emits one spike in every step
in which its input is above ``threshold``.
"""

from __future__ import annotations

#: NIR neuron node -> (state variable its spikes or value come from, spiking?)
NEURONS = {"LIF": True, "IF": True, "CubaLIF": True, "Threshold": True,
           "LI": False, "I": False, "CubaLI": False}

#: Per NIR node: (NIR parameter, Brian2 variable, unit in the HNN file).
PARAMETERS = {
    "LIF": (("tau", "tau", "s"), ("r", "r", "ohm"), ("v_leak", "v_leak", "V"),
            ("v_threshold", "v_threshold", "V"), ("v_reset", "v_reset", "V")),
    "LI": (("tau", "tau", "s"), ("r", "r", "ohm"), ("v_leak", "v_leak", "V")),
    "IF": (("r", "r", "ohm/s"), ("v_threshold", "v_threshold", "V"),
           ("v_reset", "v_reset", "V")),
    "I": (("r", "r", "ohm/s"),),
    "CubaLIF": (("tau_mem", "tau_mem", "s"), ("tau_syn", "tau_syn", "s"), ("r", "r", "ohm"),
                ("v_leak", "v_leak", "V"), ("v_threshold", "v_threshold", "V"),
                ("v_reset", "v_reset", "V"), ("w_in", "w_in", "")),
    "CubaLI": (("tau_mem", "tau_mem", "s"), ("tau_syn", "tau_syn", "s"), ("r", "r", "ohm"),
               ("v_leak", "v_leak", "V"), ("w_in", "w_in", "")),
    "Threshold": (("threshold", "theta", "A"),),
}
#: Time constants that must be > 0.
POSITIVE = ("tau", "tau_mem", "tau_syn")

_UNITS = {"s": "second", "ohm": "ohm", "V": "volt", "A": "amp", "ohm/s": "ohm/second",
          "": "1"}
_STATE = {
    "LIF": "dv/dt = (v_leak - v + r * I_total) / tau : volt",
    "LI": "dv/dt = (v_leak - v + r * I_total) / tau : volt",
    "IF": "dv/dt = r * I_total : volt",
    "I": "dv/dt = r * I_total : volt",
    "CubaLIF": "dv/dt = (v_leak - v + r * i_syn) / tau_mem : volt\n"
               "di_syn/dt = (w_in * I_total - i_syn) / tau_syn : amp",
    "CubaLI": "dv/dt = (v_leak - v + r * i_syn) / tau_mem : volt\n"
              "di_syn/dt = (w_in * I_total - i_syn) / tau_syn : amp",
    "Threshold": "",
}
METHODS = {"LIF": "exact", "LI": "exact", "IF": "euler", "I": "euler",
           "CubaLIF": "exponential_euler", "CubaLI": "exponential_euler", "Threshold": None}
#: Per node: the on_pre statement of a spike edge (``w`` in coulomb).
JUMPS = {
    "LIF": "v_post += w * r_post / tau_post",
    "LI": "v_post += w * r_post / tau_post",
    "IF": "v_post += w * r_post",
    "I": "v_post += w * r_post",
    "CubaLIF": "i_syn_post += w * w_in_post / tau_syn_post",
    "CubaLI": "i_syn_post += w * w_in_post / tau_syn_post",
}
#: On model = "lif" populations (hnnbio.neurons.lif): a NIR LIF's jump into v (i_syn never
#: driven, so tau_syn has no effect), a NIR CubaLIF's jump into i_syn (w_in folded into w), and
#: hnnbio's own lif synapse ``i_syn_post += w`` (w in ampere: the charge w * tau_syn).
LIF_MODEL_JUMPS = {
    "v": "v_post += w * r_mem_post / tau_mem_post",
    "i_syn": "i_syn_post += w / tau_syn_post",
    "i_syn_native": "i_syn_post += w",
}
#: What a value edge reads from its source population (a relay of an input, or an integrator).
VALUE_READS = {"relay": "x_pre * amp", "v": "v_pre / ohm"}
RELAY_EQUATIONS = "x : 1  # the input's values (written by the input each step)"


def equations(kind: str, inputs: list[str]) -> str:
    """The Brian2 equations of NIR node ``kind`` whose input current is ``i_bias`` plus the
    variables ``inputs`` (``i_in``: written by an input; ``i_c0``, ...: summed value edges)."""
    total = " + ".join(["i_bias", *inputs])
    lines = [_STATE[kind]] if _STATE[kind] else []
    lines.append(f"I_total = {total} : amp")
    for _, var, unit in PARAMETERS[kind]:
        lines.append(f"{var} : {_UNITS[unit]} (constant)")
    lines.append("i_bias : amp (constant)")
    for name in inputs:
        lines.append(f"{name} : amp")
    return "\n".join(lines) + "\n"


def threshold(kind: str) -> str | None:
    if kind == "Threshold":
        return "I_total > theta"
    return "v > v_threshold" if NEURONS[kind] else None


def reset(kind: str) -> str | None:
    return "v = v_reset" if kind in ("LIF", "IF", "CubaLIF") else None


def summed_model(variable: str, read: str) -> str:
    """The synapse model of a value edge into ``variable`` reading ``read`` of the source."""
    return f"w : 1\n{variable}_post = w * {VALUE_READS[read]} : amp (summed)"


def recognise(text: str) -> tuple[str, list[str]] | None:
    """(NIR kind, input variables) when ``text`` is exactly one of the forms hnnbio writes (the
    proof that a population is that NIR node), else None."""
    lines = _normalise(text)
    inputs = None
    for line in lines:
        if line.startswith("I_total = ") and line.endswith(" : amp"):
            terms = line[len("I_total = "):-len(" : amp")].split(" + ")
            if terms[0] == "i_bias":
                inputs = terms[1:]
    if inputs is None:
        return None
    for kind in PARAMETERS:
        if _normalise(equations(kind, inputs)) == lines:
            return kind, inputs
    return None


def _normalise(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = " ".join(line.split("#", 1)[0].split())
        if line:
            out.append(line)
    return out
