"""HNN -> NIR: :func:`write_nir` writes the spiking part of an HNN as a NIR graph (``nir.write``).

What is written: each :class:`~hnnbio.hnn.nodes.Input` as ``nir.Input``; each population of
``model = "lif"`` (:mod:`hnnbio.neurons.lif`, ``t_ref = 0``) as ``nir.LIF`` when its synapses jump
``v`` (or nothing drives ``i_syn``, which then stays 0) and as ``nir.CubaLIF`` when they jump
``i_syn``; each population whose ``equations`` are exactly one of the NIR forms of
:mod:`hnnbio.nir.forms` (the proof that it is that NIR node: the reader writes them) as that node;
the driven, leaky and integrator LIF equations users write (:mod:`hnnbio.nir.user_forms`, those
:mod:`hnnbio.chip.hybrid` compiles, per-neuron parameters included) as ``nir.LIF`` and ``nir.I``;
each synapse as one ``nir.Linear`` per distinct delay (an ``Affine`` where the target has a bias
current), followed by a ``nir.Delay`` when the delay is not 0; the relay populations of the reader
(an input's values feeding summed synapses) as the input itself; spike monitors (and ``v`` monitors
of integrators) as ``nir.Output`` nodes of the same name (every population without outgoing
synapses when there are none).

Refused by name (:class:`~hnnbio.errors.NIRError`), because leaving them out would change the
spiking part itself: refractoriness (``t_ref > 0``, ``refractory``), stochastic, coincidence,
self-inhibiting and pyramidal models, circuits, equations that are not a NIR form, an input
written into any variable but the input current, synapses whose ``on_pre`` is not a current jump
of the target's form, random connection patterns (``connect = { p }``: drawn at run time),
``on_post`` plasticity, a bias current with no edge to carry it, initial states other than rest.

Left out, and listed (in the returned ``left_out``, in a :class:`UserWarning` and in the graph's
``metadata``): the networks and hybrid units (NIR has no multiplicative modulation, windows,
kernels, quantisers or torch modules), populations of declarations only (the values networks
write through ``set`` units) and monitors that are not outputs. This is the choice of
the issue's "writes the spiking part of any HNN": the SNN part of a hybrid model is useful on its
own, and nothing goes unreported. ``strict=True`` refuses them by name instead. Integer semantics
belong to chip programs (``.hnnc``), which are refused.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from hnnbio.errors import NIRError
from hnnbio.nir import forms, user_forms


def write_nir(model, path, *, strict: bool = False, overwrite: bool = False) -> dict:
    """Write the NIR graph of ``model`` (an HNN, or the path of an HNN file) to ``path``.

    Returns a summary: ``output``, ``model``, ``nodes``, ``edges`` and ``left_out`` (the nodes not
    written, with the reason; also given as a warning). See the module docstring.
    """
    import nir

    from hnnbio.nir.reader import check_output

    graph = _load(model)
    path = Path(path)
    check_output(path, overwrite)
    g, left_out = build_graph(graph, strict=strict)
    if left_out:
        warnings.warn(f"{graph.name}: left out of the NIR graph: {'; '.join(left_out)}",
                      UserWarning, stacklevel=2)
    fd, tmp = tempfile.mkstemp(prefix=".nir-", suffix=".nir", dir=path.parent)
    os.close(fd)
    try:
        nir.write(tmp, g)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"output": str(path), "format": "nir", "model": graph.name,
            "nodes": len(g.nodes), "edges": len(g.edges), "left_out": left_out}


def _load(model):
    from hnnbio.hnn.files import load_hnn
    from hnnbio.hnn.graph import HNN

    if isinstance(model, HNN):
        return model
    if isinstance(model, (str, Path)):
        p = Path(model)
        if p.suffix == ".hnnc":
            raise NIRError(f"{p.name}: a chip program has integer semantics (int8 weights, "
                           f"fixed-point state), which NIR cannot carry; export the HNN file")
        check_graph_file(p)
        return load_hnn(p)
    if hasattr(model, "manifest") and hasattr(model, "arrays"):  # a compiled chip program
        raise NIRError(f"model: {model.manifest.get('model', {}).get('name', 'the model')} "
                       f"compiles straight to a chip program ({EXPERIMENT_NEURONS}), which NIR "
                       f"cannot carry; export it as .hnnc")
    raise NIRError(f"model: expected an HNN or an HNN file, got {type(model).__name__}")


#: Why a model whose experiment builds its own neurons has no NIR graph.
EXPERIMENT_NEURONS = ("its experiment builds neurons that are not populations of the graph, "
                      "e.g. dendritic-segment or HIFI neurons")


def check_graph_file(path: Path) -> None:
    """A model file with an ``[experiment]`` but no ``[populations]``: its neurons are built by
    the experiment, so there is no spiking graph to write (one line, not 'no population')."""
    from hnnbio.hnn.files import read_toml

    if not path.is_file():
        return  # load_hnn names the problem
    raw = read_toml(path)
    experiment = raw.get("experiment")
    if isinstance(experiment, dict) and "populations" not in raw:
        raise NIRError(f"{path.name}: [experiment] kind {experiment.get('kind')!r}: "
                       f"{EXPERIMENT_NEURONS}; NIR cannot carry them (`hnnbio export` writes "
                       f"its chip program)")


def build_graph(graph, *, strict: bool = False):
    """(``nir.NIRGraph``, left_out) of an HNN; see the module docstring."""
    return _Writer(graph, strict).build()


class _Writer:
    def __init__(self, graph, strict):
        self.h, self.strict = graph, strict
        self.dt_s = graph.dt_ms * 1e-3
        self.left_out = []
        self.user = {}  # population -> its user form (hnnbio.nir.user_forms)

    def build(self):
        import nir

        h = self.h
        for n in list(h.networks) + list(h.units):
            kind = "network" if n in h.networks else f"{n.kind} unit"
            what = f"{kind} {n.name!r} (NIR has no torch modules, windows, kernels, quantisers " \
                   f"or modulation)"
            if self.strict:
                raise NIRError(f"{what}: not exported (strict)")
            self.left_out.append(what)
        passive = [p for p in h.populations if user_forms.is_passive(p, h)]
        for p in passive:
            what = f"population {p.name!r} (declarations only: the value a network writes)"
            if self.strict:
                raise NIRError(f"{what}: not exported (strict)")
            self.left_out.append(what)
        self.pops = [p for p in h.populations if p not in passive]
        self.nodes, self.edges = {}, []
        self.used = set()
        incoming = {p.name: [s for s in h.synapses if s.target == p.name] for p in self.pops}
        self.relays, self.forms = {}, {}
        for p in self.pops:
            self.forms[p.name] = self._form(p, incoming[p.name])
        for i in h.inputs:
            self.nodes[self._name(i.name)] = nir.Input(input_type={"input": np.array([i.size])})
        for p in self.pops:
            if p.name not in self.relays:
                self.nodes[self._name(p.name)] = self._neuron(p)
        self.bias_done = set()
        for p in self.pops:
            if p.name in self.relays:
                continue
            kind = self.forms[p.name][0]
            if p.input is not None:
                if self.h.nodes[p.input].size != p.size:
                    raise NIRError(f"population {p.name!r}: input {p.input!r} has "
                                   f"{self.h.nodes[p.input].size} values for {p.size} neurons")
                self._edge(p.input, p, np.eye(p.size), f"{p.input}_to_{p.name}")
            for s in incoming[p.name]:
                self._synapse(s, p, kind)
            bias = self._bias(p)
            if bias.any() and p.name not in self.bias_done:
                raise NIRError(f"population {p.name!r}: a bias current (i_bias) with no input edge "
                               f"to carry it (NIR has no constant source)")
        self._outputs()
        g = nir.NIRGraph(nodes=self.nodes, edges=self.edges, type_check=False,
                         metadata={"hnnbio_model": h.name, "dt_s": self.dt_s,
                                   "left_out": "; ".join(self.left_out) or "nothing"})
        try:
            g.check_types()
        except Exception as exc:
            raise NIRError(f"{h.name}: the NIR graph does not type-check ({exc})") from None
        return g, list(self.left_out)

    # -- populations --

    def _form(self, p, syns):
        """(kind, jump) of population ``p``; kind "relay" for the reader's input relays."""
        if p.circuit is not None or p.group is not None:
            raise NIRError(f"population {p.name!r}: a circuit or a Python group has no NIR form")
        if p.model is not None:
            if p.model != "lif":
                reason = {"stochastic": "stochastic units"}.get(p.model, "not a LIF")
                raise NIRError(f"population {p.name!r}: model {p.model!r} ({reason}) has no NIR "
                               f"form; only model 'lif' and the NIR equation forms are exported")
            values = self._lif_values(p)
            if (values["t_ref"] != 0).any():
                raise NIRError(f"population {p.name!r}: refractoriness (t_ref = "
                               f"{_show(values['t_ref'])} s) has no NIR form")
            jumps = {_norm(s.on_pre) for s in syns}
            known = {_norm(v): k for k, v in forms.LIF_MODEL_JUMPS.items()}
            for s in syns:
                if _norm(s.on_pre) not in known:
                    raise NIRError(f"synapse {s.name!r}: on_pre {s.on_pre!r} is not a current jump "
                                   f"of a LIF ({', '.join(forms.LIF_MODEL_JUMPS.values())})")
            kinds = {known[j] for j in jumps}
            if "v" in kinds and kinds != {"v"}:
                raise NIRError(f"population {p.name!r}: synapses jump both v and i_syn; NIR's LIF "
                               f"and CubaLIF each take one")
            if kinds and kinds != {"v"}:
                if p.input is not None or (values["i_bias"] != 0).any():
                    raise NIRError(f"population {p.name!r}: a current into v (i_bias or an input) "
                                   f"besides synaptic current i_syn has no NIR CubaLIF form")
                return "CubaLIF", values
            if p.input is not None and p.input_variable != "i_bias":
                raise NIRError(f"population {p.name!r}: input written into "
                               f"{p.input_variable!r}; only the input current i_bias is exported")
            return "LIF", values
        if p.refractory is not None or p.refractory_steps is not None:
            raise NIRError(f"population {p.name!r}: refractoriness has no NIR form")
        user = None if p.dtype else user_forms.recognise(p, self._si)
        if user is not None:  # the LIF forms users write (those hnnbio.chip.hybrid compiles)
            self.user[p.name] = user
            return user["kind"], user["values"]
        if p.namespace or p.dtype:
            raise NIRError(f"population {p.name!r}: namespace and dtype are not part of a NIR form")
        if _norm(p.equations) == _norm(forms.RELAY_EQUATIONS):
            if p.threshold or p.reset or p.input is None or p.input_variable != "x":
                raise NIRError(f"population {p.name!r}: an input relay must be written by an input "
                               f"into x, with no threshold or reset")
            self.relays[p.name] = p.input
            return "relay", None
        found = forms.recognise(p.equations)
        if found is None:
            raise NIRError(f"population {p.name!r}: its equations are not one of the NIR forms "
                           f"hnnbio reads and writes (hnnbio.nir.forms) nor a driven, leaky or "
                           f"integrator LIF (hnnbio.nir.user_forms); not exported")
        kind, inputs = found
        if p.threshold != forms.threshold(kind) or p.reset != forms.reset(kind):
            raise NIRError(f"population {p.name!r}: threshold {p.threshold!r} and reset "
                           f"{p.reset!r} are not those of NIR's {kind}")
        if p.input is not None and p.input_variable != "i_in":
            raise NIRError(f"population {p.name!r}: input written into {p.input_variable!r}; "
                           f"only i_in is exported")
        for s in syns:
            if _norm(s.on_pre) not in ("", _norm(forms.JUMPS.get(kind, "-"))):
                raise NIRError(f"synapse {s.name!r}: on_pre {s.on_pre!r} is not the current jump "
                               f"of NIR's {kind} ({forms.JUMPS.get(kind, 'none')})")
        values = {}
        for _, var, unit in forms.PARAMETERS[kind]:
            values[var] = self._si(p, var, p.params.get(var, 0.0), unit)
        values["i_bias"] = self._si(p, "i_bias", p.params.get("i_bias", 0.0), "A")
        rest = values.get("v_leak", np.zeros(p.size))
        if "v" in p.params and not np.allclose(self._si(p, "v", p.params["v"], "V"), rest):
            raise NIRError(f"population {p.name!r}: initial v differs from rest; NIR has no "
                           f"initial state")
        unknown = set(p.params) - set(values) - {"v"}
        if unknown:
            raise NIRError(f"population {p.name!r}: params {sorted(unknown)} are not part of "
                           f"NIR's {kind}")
        return kind, values

    def _lif_values(self, p):
        from hnnbio.neurons.lif import LIFParams

        units = {"tau_mem": "s", "tau_syn": "s", "r_mem": "ohm", "v_rest": "V", "v_reset": "V",
                 "v_threshold": "V", "t_ref": "s", "i_bias": "A"}
        defaults = LIFParams()
        out = {}
        for f in dataclasses.fields(LIFParams):
            out[f.name] = self._si(p, f.name, p.params.get(f.name, getattr(defaults, f.name)),
                                   units[f.name])
        return out

    def _si(self, p, name, value, unit):
        """Per-neuron SI floats of a parameter (a quantity, a number or a list)."""
        arr = _si_array(value, unit, f"population {p.name!r}: {name}")
        arr = np.full(p.size, float(arr)) if arr.ndim == 0 else arr
        if arr.shape != (p.size,):
            raise NIRError(f"population {p.name!r}: {name} has {arr.size} values for {p.size} "
                           f"neurons")
        return arr

    def _bias(self, p):
        kind, values = self.forms[p.name]
        if kind == "LIF" and p.model == "lif" and p.input is not None:
            return np.zeros(p.size)  # the input overwrites i_bias
        return values["i_bias"]

    def _neuron(self, p):
        import nir

        kind, v = self.forms[p.name]
        if p.model == "lif":
            common = dict(r=v["r_mem"], v_leak=v["v_rest"], v_threshold=v["v_threshold"],
                          v_reset=v["v_reset"])
            if kind == "LIF":
                return nir.LIF(tau=v["tau_mem"], **common)
            return nir.CubaLIF(tau_mem=v["tau_mem"], tau_syn=v["tau_syn"],
                               w_in=np.ones(p.size), **common)
        args = {param: v[var] for param, var, _ in forms.PARAMETERS[kind]}
        return getattr(nir, kind)(**args)

    # -- edges --

    def _synapse(self, s, p, kind):
        pre = self.h.nodes[s.source]
        if s.on_post:
            raise NIRError(f"synapse {s.name!r}: on_post (plasticity) has no NIR form")
        if isinstance(s.on_pre, dict) or isinstance(s.delay, dict):
            raise NIRError(f"synapse {s.name!r}: several pathways have no NIR form")
        i, j = self._pattern(s, pre.size, p.size)
        source = self.relays.get(s.source, s.source)
        if self.forms[s.source][0] == "relay" or (_norm(s.on_pre) == "" and "(summed)" in s.model):
            if p.name in self.user:
                raise NIRError(f"synapse {s.name!r}: a value edge into {p.name!r}, whose "
                               f"equations have no input current to sum it into")
            read = "relay" if s.source in self.relays else "v"
            ok = any(_norm(s.model) == _norm(forms.summed_model(f"i_c{c}", read))
                     for c in range(64))
            if not ok or (read == "v" and self.forms[s.source][0] not in ("LI", "CubaLI", "I")):
                raise NIRError(f"synapse {s.name!r}: a summed synapse that is not a NIR value edge "
                               f"({forms.summed_model('i_cK', read)!r})")
            w = self._per_connection(s, "w", i.size, "")
            m = np.zeros((p.size, pre.size))
            np.add.at(m, (j, i), w)
            self._edge(source, p, m, s.name)
            return
        if self.forms[s.source][0] in ("LI", "CubaLI", "I"):
            raise NIRError(f"synapse {s.name!r}: source {s.source!r} is a non-spiking NIR node; "
                           f"only a summed value edge can read it")
        if not _norm(s.on_pre):
            raise NIRError(f"synapse {s.name!r}: no on_pre and not a summed value edge: it does "
                           f"nothing, and a NIR edge would")
        if p.name in self.user:  # a jump of v in volt: the charge that makes it
            if _norm(s.model) != "w : 1":
                raise NIRError(f"synapse {s.name!r}: model {s.model!r}: a jump of v needs one "
                               f"weight w : 1")
            w = user_forms.jump_weights(s, self.user[p.name],
                                        self._per_connection(s, "w", i.size, ""), j)
        else:
            w = self._charge(s, p, i, j)
        if "delay" in s.values:
            d = self._per_connection(s, "delay", i.size, "s")
        else:
            d = np.full(i.size, 0.0 if s.delay is None else float(s.delay / _second()))
        steps = np.round(d / self.dt_s).astype(np.int64)
        groups = np.unique(steps)
        for k, step in enumerate(groups):
            sel = steps == step
            m = np.zeros((p.size, pre.size))
            np.add.at(m, (j[sel], i[sel]), w[sel])
            name = s.name if len(groups) == 1 else f"{s.name}_d{k}"
            self._edge(source, p, m, name, delay=step * self.dt_s)

    def _charge(self, s, p, i, j):
        """Per-connection charges (coulomb) of a synapse onto a NIR form or a model 'lif'."""
        allowed = {"v": ("C",), "i_syn": ("C",), "i_syn_native": ("A",)}
        jump = "v"
        if p.model == "lif":
            jump = {_norm(v): k for k, v in forms.LIF_MODEL_JUMPS.items()}[_norm(s.on_pre)]
        if _norm(s.model) not in {"w : coulomb", "w : amp"}:
            raise NIRError(f"synapse {s.name!r}: model {s.model!r}: a NIR edge needs one weight "
                           f"w (w : coulomb; w : amp for i_syn_post += w)")
        unit = "A" if "amp" in s.model else "C"
        if unit not in allowed.get(jump, ("C",)):
            raise NIRError(f"synapse {s.name!r}: w in {unit} does not fit on_pre {s.on_pre!r}")
        w = self._per_connection(s, "w", i.size, unit)
        if jump == "i_syn_native":
            w = w * self.forms[p.name][1]["tau_syn"][j]  # charge of the jump: w * tau_syn
        return w

    def _edge(self, source, p, m, name, delay=0.0):
        import nir

        lin = self._name(name)
        bias = self._bias(p) if p.name not in self.bias_done else np.zeros(p.size)
        if bias.any():
            self.nodes[lin] = nir.Affine(weight=m, bias=bias.copy())
            self.bias_done.add(p.name)
        else:
            self.nodes[lin] = nir.Linear(weight=m)
            if not self._bias(p).any():
                self.bias_done.add(p.name)
        self.edges.append((self._node_name(source), lin))
        last = lin
        if delay > 0:
            dn = self._name(f"{name}_delay")
            self.nodes[dn] = nir.Delay(delay=np.full(p.size, delay))
            self.edges.append((lin, dn))
            last = dn
        self.edges.append((last, self._node_name(p.name)))

    def _pattern(self, s, n_pre, n_post):
        c = s.connect
        if c == "one_to_one":
            if n_pre != n_post:
                raise NIRError(f"synapse {s.name!r}: one_to_one between {n_pre} and {n_post}")
            return np.arange(n_pre), np.arange(n_pre)
        if c == "all_to_all":
            return np.repeat(np.arange(n_pre), n_post), np.tile(np.arange(n_post), n_pre)
        if "p" in c:
            raise NIRError(f"synapse {s.name!r}: connect = {{ p }} is drawn at run time from the "
                           f"seed; NIR needs the weights (give connect = {{ i, j }})")
        i, j = np.asarray(c["i"], dtype=np.int64), np.asarray(c["j"], dtype=np.int64)
        if i.size and (i.max() >= n_pre or j.max() >= n_post):
            raise NIRError(f"synapse {s.name!r}: connect indices out of range")
        return i, j

    def _per_connection(self, s, key, n, unit):
        arr = _si_array(s.values.get(key, 0.0), unit, f"synapse {s.name!r}: {key}")
        arr = np.full(n, float(arr)) if arr.ndim == 0 else arr
        if arr.shape != (n,):
            raise NIRError(f"synapse {s.name!r}: {key} has {arr.size} values for {n} connections")
        return arr

    def _outputs(self):
        import nir

        h, made = self.h, False
        for m in h.monitors:
            pop = m.get("population")
            form = self.forms.get(pop, (None,))[0]
            spiking = form in ("LIF", "IF", "CubaLIF", "Threshold")
            if form in (None, "relay") or not (
                    (m.get("kind") == "spikes" and spiking)
                    or (m.get("kind") == "state" and list(m.get("variables") or []) == ["v"]
                        and not spiking)):
                self.left_out.append(f"monitor {m.get('name')!r} (not an output NIR can read)")
                continue
            name = self._name(m.get("name", f"output_{pop}"))
            self.nodes[name] = nir.Output(output_type={"output": np.array([h.nodes[pop].size])})
            self.edges.append((self._node_name(pop), name))
            made = True
        if not made:
            sources = {s.source for s in h.synapses}
            for p in self.pops:
                if p.name not in sources and p.name not in self.relays:
                    name = self._name(f"output_{p.name}")
                    self.nodes[name] = nir.Output(output_type={"output": np.array([p.size])})
                    self.edges.append((self._node_name(p.name), name))

    def _name(self, base):
        out, k = base, 1
        while out in self.used:
            out, k = f"{base}_{k}", k + 1
        self.used.add(out)
        self.names = getattr(self, "names", {})
        self.names.setdefault(base, out)
        return out

    def _node_name(self, hnn_name):
        return self.names.get(hnn_name, hnn_name)


def _si_array(value, unit: str, where: str) -> np.ndarray:
    """SI floats of a quantity in ``unit`` (s, ohm, ohm/second, V, A, C or "" for a number)."""
    from brian2 import Quantity, amp, coulomb, ohm, second, volt
    from brian2.units.fundamentalunits import have_same_dimensions

    if isinstance(value, str):
        raise NIRError(f"{where} = {value!r} is an expression; NIR takes numbers")
    base = {"s": second, "ohm": ohm, "V": volt, "A": amp, "C": coulomb,
            "ohm/s": ohm / second, "": None}[unit]
    if isinstance(value, Quantity) and base is not None:
        if not have_same_dimensions(value, base):
            raise NIRError(f"{where} is not in units of {unit}")
        return np.asarray(np.asarray(value / base), dtype=float)
    if base is not None and np.any(np.asarray(value, dtype=float) != 0):
        raise NIRError(f"{where} needs a unit ({unit})")
    if isinstance(value, Quantity) and not value.is_dimensionless:
        raise NIRError(f"{where} must be a plain number")
    return np.asarray(value, dtype=float)


def _second():
    from brian2 import second

    return second


def _norm(text) -> str:
    return "\n".join(" ".join(line.split()) for line in str(text or "").strip().splitlines()
                     if line.strip())


def _show(arr) -> str:
    return np.array2string(np.asarray(arr), threshold=5)
