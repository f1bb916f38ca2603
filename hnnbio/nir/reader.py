"""NIR -> HNN file: :func:`read_nir` turns a NIR graph into the TOML text of an HNN file.

Nodes read: Input, Output, Affine, Linear, Scale, Delay, Threshold, I, IF, LI, LIF, CubaLI,
CubaLIF (the equations and their Brian2 forms are in :mod:`hnnbio.nir.forms`). Every neuron node
becomes a population; the chains of Affine / Linear / Scale / Delay nodes between two neuron nodes
(or from an input) are multiplied out into one synapse per (source, target) pair: connections
``(i, j)`` with the summed weight of all paths and the delay of each path (paths with different
delays stay separate synapses of the pair); the biases of the Affine nodes on the way become the
target's constant ``i_bias``. Output nodes become monitors of the same name (spikes of a spiking
node, ``v`` of an integrator).

Where the graph allows it, LIF and CubaLIF nodes are written as hnnbio's named model
``model = "lif"`` (:mod:`hnnbio.neurons.lif`, ``t_ref = 0``), the form the chip compiler reads:
a LIF whose inputs are spikes, biases and at most one identity input written into ``i_bias``
(its ``i_syn`` is never driven, so ``tau_syn`` has no effect); a CubaLIF whose inputs are spikes
only (``w_in`` folded into the weights). Any other node gets its own equations.

Refused with one :class:`~hnnbio.errors.NIRError` line naming the node: a node type outside the
list (Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten, a NIRGraph subgraph), a parameter of the wrong
shape or not finite, a time constant <= 0, a delay < 0 or not a whole number of steps, a delayed
value edge, an Output or a dangling weight node that reads no neuron, a Threshold fed by spikes,
a cycle through weight nodes only (an algebraic loop), edges whose sizes do not match, no dt.
"""

from __future__ import annotations

import keyword
from pathlib import Path

import numpy as np

from hnnbio.errors import NIRError
from hnnbio.nir import forms
from hnnbio.nir.tomlw import dumps

SUPPORTED = ("Input", "Output", "Affine", "Linear", "Scale", "Delay", *forms.PARAMETERS)
WEIGHTS = ("Affine", "Linear", "Scale", "Delay")


def parse_dt(dt) -> float:
    """The step in milliseconds from ``"0.1 ms"``, ``"0.1ms"`` or a Brian2 time."""
    from brian2 import ms, second
    from brian2.units.fundamentalunits import Quantity, have_same_dimensions

    from hnnbio.errors import HnnbioError
    from hnnbio.hnn.files import parse_quantity

    if dt is None:
        raise NIRError("dt: NIR graphs carry no time step; give one, e.g. --dt 0.1ms")
    value = dt
    if isinstance(dt, str):
        try:
            value = parse_quantity(dt, "dt")
        except HnnbioError as exc:
            raise NIRError(str(exc)) from None
    if not isinstance(value, Quantity) or not have_same_dimensions(value, second):
        raise NIRError(f"dt: must be a time such as '0.1 ms', got {dt!r}")
    out = float(value / ms)
    if not (np.isfinite(out) and out > 0):
        raise NIRError(f"dt: must be a finite time > 0, got {dt!r}")
    return out


def load_graph(path):
    """The NIR graph of a file; each node is built on its own so an error names it."""
    import h5py
    import nir
    from nir.serialization import hdf2dict

    path = Path(path)
    if not path.is_file():
        raise NIRError(f"{path}: NIR file not found")
    try:
        with h5py.File(path, "r") as f:
            data = hdf2dict(f["node"])
    except Exception as exc:
        raise NIRError(f"{path.name}: not a readable NIR file ({_first_line(exc)})") from None
    if not isinstance(data, dict) or "nodes" not in data or "edges" not in data:
        raise NIRError(f"{path.name}: not a NIR graph (no nodes and edges)")
    nodes = {}
    for name, raw in data["nodes"].items():
        kind = _text(raw.get("type", b"?")) if isinstance(raw, dict) else "?"
        if kind == "NIRGraph":
            raise NIRError(f"node {name!r}: NIRGraph subgraphs are not supported (write the "
                           f"graph flat)")
        if kind not in SUPPORTED:
            raise NIRError(f"node {name!r}: {kind} is not supported (supported: "
                           f"{', '.join(SUPPORTED)})")
        try:
            raw = {k: (_text(v) if k == "type" else v) for k, v in raw.items()}
            nodes[name] = nir.dict2NIRNode(raw)
        except Exception as exc:
            raise NIRError(f"node {name!r}: {kind} does not load ({_first_line(exc)})") from None
    edges = [(_text(a), _text(b)) for a, b in data["edges"]]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={}, type_check=False)


def read_nir(path_or_graph, dt, *, steps: int | None = None, name: str | None = None) -> str:
    """The TOML text of the HNN file of a NIR graph (a ``.nir`` file or a ``nir.NIRGraph``).

    ``dt``: the simulation step (NIR carries none), e.g. ``"0.1 ms"``. ``steps``: the default run
    length written to ``[simulation]``. Raises :class:`~hnnbio.errors.NIRError` (one line naming
    the node) for what cannot be read; see the module docstring.
    """
    dt_ms = parse_dt(dt)
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise NIRError(f"steps: must be a positive integer, got {steps!r}")
    if isinstance(path_or_graph, (str, Path)):
        graph = load_graph(path_or_graph)
        name = name or _identifier(Path(path_or_graph).stem)
    else:
        graph = path_or_graph
        name = name or "nir_graph"
    return _Reader(graph, dt_ms).toml(name, steps, _source(path_or_graph))


def import_nir(path, dt, output, *, steps: int | None = None, overwrite: bool = False) -> dict:
    """Read the NIR file ``path`` and write its HNN file to ``output``; returns a summary. The
    file is checked to load (:func:`hnnbio.hnn.files.load_hnn`) before it is put in place."""
    import os
    import tempfile

    from hnnbio.hnn.files import load_hnn

    output = Path(output)
    check_output(output, overwrite)
    text = read_nir(path, dt, steps=steps, name=_identifier(output.stem))
    fd, tmp = tempfile.mkstemp(prefix=".nir-", suffix=".toml", dir=output.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        graph = load_hnn(tmp)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    models = sorted({p.model or "equations" for p in graph.populations})
    return {"input": str(path), "output": str(output), "dt_ms": graph.dt_ms,
            "inputs": len(graph.inputs), "populations": len(graph.populations),
            "synapses": len(graph.synapses), "monitors": len(graph.monitors),
            "population_forms": ", ".join(models)}


def check_output(output: Path, overwrite: bool) -> None:
    """Refuse an existing file (unless ``overwrite``) or a missing folder, before any work."""
    output = Path(output)
    if output.exists() and (output.is_dir() or not overwrite):
        raise NIRError(f"{output}: exists (give --overwrite to replace it)" if not output.is_dir()
                       else f"{output}: is a folder")
    if not output.parent.is_dir():
        raise NIRError(f"{output}: folder {output.parent} does not exist")


# --- the translation ---------------------------------------------------------------------------


class _Reader:
    def __init__(self, graph, dt_ms: float):
        self.g, self.dt_ms, self.dt_s = graph, dt_ms, dt_ms * 1e-3
        self.kind = {n: type(node).__name__ for n, node in graph.nodes.items()}
        for n, k in self.kind.items():
            if k not in SUPPORTED:
                what = "NIRGraph subgraphs are" if k == "NIRGraph" else f"{k} is"
                raise NIRError(f"node {n!r}: {what} not supported")
        self.names = _names(graph.nodes)
        self.preds = {n: [] for n in graph.nodes}
        self.succs = {n: [] for n in graph.nodes}
        for a, b in graph.edges:
            for end in (a, b):
                if end not in graph.nodes:
                    raise NIRError(f"edge {a} -> {b}: no node named {end!r}")
            self.preds[b].append(a)
            self.succs[a].append(b)
        self.size_in, self.size_out = {}, {}
        for n in graph.nodes:
            self._check_node(n)
        for a, b in graph.edges:
            if self.size_out[a] != self.size_in[b]:
                raise NIRError(f"edge {a} -> {b}: {a} gives {self.size_out[a]} values, {b} takes "
                               f"{self.size_in[b]}")
        self.memo, self.active = {}, set()

    # -- nodes --

    def _array(self, n, field, shape=None):
        node = self.g.nodes[n]
        arr = np.asarray(getattr(node, field), dtype=float)
        if arr.ndim == 0 and shape is not None:
            arr = np.full(shape, float(arr))
        if not np.isfinite(arr).all():
            raise NIRError(f"node {n!r}: {field} must be finite")
        return arr

    def _check_node(self, n):
        k, node = self.kind[n], self.g.nodes[n]
        if k in ("Input", "Output"):
            types = node.input_type if k == "Input" else node.output_type
            shape = np.asarray(next(iter(types.values()))).ravel()
            if shape.size != 1 or shape[0] < 1:
                raise NIRError(f"node {n!r}: {k} shape {shape.tolist()} is not one dimension "
                               f"(only flat vectors are supported)")
            self.size_in[n] = self.size_out[n] = int(shape[0])
            return
        if k in ("Affine", "Linear"):
            w = self._array(n, "weight")
            if w.ndim != 2:
                raise NIRError(f"node {n!r}: weight has shape {w.shape}, expected (out, in)")
            self.size_in[n], self.size_out[n] = w.shape[1], w.shape[0]
            if k == "Affine":
                b = self._array(n, "bias")
                if b.shape != (w.shape[0],):
                    raise NIRError(f"node {n!r}: bias has shape {b.shape}, expected "
                                   f"({w.shape[0]},) (one per output)")
            return
        field = {"Scale": "scale", "Delay": "delay"}.get(k)
        params = [field] if field else [p for p, _, _ in forms.PARAMETERS[k]]
        shape = None
        for p in params:
            arr = np.asarray(getattr(node, p))
            if arr.ndim >= 1:
                shape = arr.shape if shape is None else shape
                if arr.shape != shape:
                    raise NIRError(f"node {n!r}: {p} has shape {arr.shape}, the other "
                                   f"parameters {shape}")
        if shape is None or len(shape) != 1:
            raise NIRError(f"node {n!r}: parameters of shape {shape} (only one dimension, one "
                           f"value per neuron, is supported)")
        for p in params:
            arr = self._array(n, p, shape)
            if p in forms.POSITIVE and not (arr > 0).all():
                raise NIRError(f"node {n!r}: {p} must be > 0, got {_show(arr)}")
            if p == "delay":
                if (arr < 0).any():
                    raise NIRError(f"node {n!r}: delay must be >= 0, got {_show(arr)}")
                steps = arr / self.dt_s
                if not np.allclose(steps, np.round(steps), rtol=0, atol=1e-6):
                    raise NIRError(f"node {n!r}: delay {_show(arr)} s is not a whole number of "
                                   f"steps of dt = {self.dt_ms} ms")
        self.size_in[n] = self.size_out[n] = int(shape[0])

    # -- signals --

    def is_source(self, n) -> bool:
        return self.kind[n] == "Input" or self.kind[n] in forms.NEURONS

    def spiking(self, n) -> bool:
        return self.kind[n] != "Input" and forms.NEURONS[self.kind[n]]

    def incoming(self, n):
        """The input of node ``n``: (terms, bias). ``terms[source]``: for a spiking source a list
        of (i, j, w, d_steps) connection arrays, for a value source a dense (size_n, size_src)
        matrix; ``bias``: (size_n,)."""
        terms, bias = {}, np.zeros(self.size_in[n])
        for p in self.preds[n]:
            if self.is_source(p):
                size = self.size_out[p]
                t = {p: [(np.arange(size), np.arange(size), np.ones(size), np.zeros(size))]
                     if self.spiking(p) else np.eye(size)}
                b = np.zeros(size)
            elif self.kind[p] == "Output":
                raise NIRError(f"edge {p} -> {n}: an Output node has no outgoing edges")
            else:
                t, b = self.weighted(p)
            bias = bias + b
            for src, v in t.items():
                if isinstance(v, list):
                    terms.setdefault(src, []).extend(v)
                else:
                    terms[src] = terms.get(src, 0) + v
        return terms, bias

    def weighted(self, n):
        """The output of weight node ``n`` (Affine, Linear, Scale, Delay) as in :meth:`incoming`."""
        if n in self.memo:
            return self.memo[n]
        if n in self.active:
            raise NIRError(f"node {n!r}: a cycle through weight nodes only (no neuron on the "
                           f"loop) is an algebraic loop, which has no solution in steps")
        self.active.add(n)
        if not self.preds[n]:
            raise NIRError(f"node {n!r}: {self.kind[n]} has no input")
        terms, bias = self.incoming(n)
        k = self.kind[n]
        out = {}
        if k == "Delay":
            d = np.round(self._array(n, "delay") / self.dt_s).astype(np.int64)
            for src, v in terms.items():
                if not isinstance(v, list):
                    if d.any():
                        raise NIRError(f"node {n!r}: delays the values of {src!r} (a "
                                       f"{self.kind[src]}); only spike paths can be delayed")
                    out[src] = v
                else:
                    out[src] = [(i, j, w, dd + d[j]) for i, j, w, dd in v]
        else:
            if k == "Scale":
                w = np.diag(self._array(n, "scale"))
            else:
                w = self._array(n, "weight")
            bias = w @ bias + (self._array(n, "bias") if k == "Affine" else 0)
            for src, v in terms.items():
                if not isinstance(v, list):
                    out[src] = w @ v
                    continue
                mapped = []
                for i, j, ww, dd in v:
                    rows, cols = np.nonzero(w[:, j])  # rows: outputs, cols: index into the terms
                    mapped.append((i[cols], rows, ww[cols] * w[rows, j[cols]], dd[cols]))
                out[src] = mapped
        self.active.discard(n)
        self.memo[n] = (out, bias)
        return out, bias

    # -- the file --

    def toml(self, name: str, steps, source: str) -> str:
        g = self.g
        neurons = [n for n in g.nodes if self.kind[n] in forms.NEURONS]
        if not neurons:
            raise NIRError("the graph has no neuron node (IF, LIF, LI, CubaLIF, ...): nothing "
                           "to simulate")
        for n in g.nodes:
            k = self.kind[n]
            if k in WEIGHTS and not self.succs[n]:
                raise NIRError(f"node {n!r}: {k} leads nowhere (no outgoing edge)")
            if k in WEIGHTS and all(self.kind[s] == "Output" for s in self.succs[n]):
                raise NIRError(f"node {n!r}: {k} feeds only Output nodes; an Output must read a "
                               f"neuron node (a weighted signal is not recorded)")
        for n in g.nodes:
            if self.kind[n] == "Output":
                for p in self.preds[n]:
                    if self.kind[p] not in forms.NEURONS:
                        raise NIRError(f"node {n!r}: Output reads {p!r} ({self.kind[p]}); only "
                                       f"neuron nodes can be outputs")
        sim = {"dt": f"{self.dt_ms!r} ms"}
        if steps is not None:
            sim["steps"] = steps
        sections = [("simulation", sim)]
        inputs = [n for n in g.nodes if self.kind[n] == "Input"]
        for n in inputs:
            sections.append((f"inputs.{self.names[n]}", {"size": self.size_out[n]}))
        pops, syns, relays = [], [], {}
        for n in neurons:
            terms, bias = self.incoming(n)
            k = self.kind[n]
            if k == "Threshold":
                for src, v in terms.items():
                    if isinstance(v, list):
                        raise NIRError(f"node {n!r}: Threshold is fed the spikes of {src!r}; "
                                       f"a threshold of Dirac deltas is not defined")
            spikes = {s: _merge(v) for s, v in terms.items() if isinstance(v, list)}
            values = {s: v for s, v in terms.items() if not isinstance(v, list)}
            direct = [s for s, m in values.items() if self.kind[s] == "Input"
                      and m.shape[0] == m.shape[1] and np.array_equal(m, np.eye(m.shape[0]))]
            direct = direct[:1]
            summed = [s for s in values if s not in direct]
            table, jump = self._population(n, bias, direct, summed, spikes)
            pops.append((f"populations.{self.names[n]}", table))
            for src, conns in spikes.items():
                syns += self._spike_synapses(src, n, conns, jump)
            for c, src in enumerate(summed):
                if self.kind[src] == "Input" and src not in relays:
                    relays[src] = self._relay(src)
                syns.append(self._value_synapse(src, n, values[src], f"i_c{c}"))
        sections += list(relays.values()) + pops + syns
        for n in g.nodes:
            if self.kind[n] == "Output":
                (p,) = self.preds[n] if len(self.preds[n]) == 1 else (None,)
                if p is None:
                    raise NIRError(f"node {n!r}: Output must read exactly one node, reads "
                                   f"{len(self.preds[n])}")
                mon = ({"kind": "spikes", "population": self.names[p]} if self.spiking(p)
                       else {"kind": "state", "population": self.names[p], "variables": ["v"]})
                sections.append((f"monitors.{self.names[n]}", mon))
        top = {"name": name, "description": f"imported from NIR {source} (hnnbio nir import, "
               f"dt {self.dt_ms} ms)"}
        return dumps(top, sections, comment="Written by hnnbio.nir.read_nir; NIR nodes -> "
                     "Brian2 forms: see docs/nir.md")

    def _population(self, n, bias, direct, summed, spikes):
        k = self.kind[n]
        size = self.size_in[n]
        vals = {p: self._array(n, p, (size,)) for p, _, _ in forms.PARAMETERS[k]}
        table = {"size": size}
        model_lif = (k == "LIF" and not summed and (not direct or not bias.any())) or (
            k == "CubaLIF" and not summed and not direct and not bias.any())
        if model_lif and not (vals["v_reset"] < vals["v_threshold"]).all():
            model_lif = False  # hnnbio's lif model needs v_reset < v_threshold
        if model_lif and not (vals["r"] > 0).all():
            model_lif = False
        if model_lif:
            tau = vals["tau"] if k == "LIF" else vals["tau_mem"]
            params = {"tau_mem": _q(tau, "s"),
                      "tau_syn": _q(tau if k == "LIF" else vals["tau_syn"], "s"),
                      "r_mem": _q(vals["r"], "ohm"), "v_rest": _q(vals["v_leak"], "V"),
                      "v_reset": _q(vals["v_reset"], "V"),
                      "v_threshold": _q(vals["v_threshold"], "V"), "t_ref": "0.0 s",
                      "i_bias": _q(bias, "A")}
            table.update(model="lif", params=params)
            if direct:
                table.update(input=self.names[direct[0]], input_variable="i_bias")
            jump = ("v", None) if k == "LIF" else ("i_syn", vals["w_in"])
            return table, jump
        inputs = (["i_in"] if direct else []) + [f"i_c{c}" for c in range(len(summed))]
        table["equations"] = forms.equations(k, inputs)
        for key in ("threshold", "reset"):
            text = getattr(forms, key)(k)
            if text:
                table[key] = text
        if forms.METHODS[k]:
            table["method"] = forms.METHODS[k]
        params = {var: _q(vals[p], unit) for p, var, unit in forms.PARAMETERS[k]}
        params["i_bias"] = _q(bias, "A")
        if k != "Threshold":
            params["v"] = _q(vals["v_leak"], "V") if "v_leak" in vals else "0.0 V"
        table["params"] = params
        if not forms.NEURONS[k]:
            table["record"] = False  # no spikes: its v is read by the monitor of its Output
        if direct:
            table.update(input=self.names[direct[0]], input_variable="i_in")
        return table, (k, None)

    def _spike_synapses(self, src, n, conns, jump):
        """One synapse per distinct delay structure would be needed only for equal (i, j) pairs
        of different delays; Brian2 takes several synapses per pair, so one synapse holds all."""
        i, j, w, d = conns
        form, w_in = jump
        if w_in is not None:
            w = w * w_in[j]
        if form == "v":
            on_pre = forms.LIF_MODEL_JUMPS["v"]
        elif form == "i_syn":
            on_pre = forms.LIF_MODEL_JUMPS["i_syn"]
        else:
            on_pre = forms.JUMPS[form]
        table = {"source": self.names[src], "target": self.names[n], "model": "w : coulomb",
                 "on_pre": on_pre, "connect": {"i": i.tolist(), "j": j.tolist()},
                 "values": {"w": _q(w, "C", per_item=True)}}
        if d.any():
            if (d == d[0]).all():
                table["delay"] = f"{_round(float(d[0]) * self.dt_ms)!r} ms"
            else:
                table["values"]["delay"] = [f"{_round(float(k) * self.dt_s)!r} s" for k in d]
        name = f"{self.names[src]}_to_{self.names[n]}"
        return [(f"synapses.{self._unique(name)}", table)]

    def _relay(self, src):
        name = self._unique(f"{self.names[src]}_values")
        self.relay_names = getattr(self, "relay_names", {})
        self.relay_names[src] = name
        return (f"populations.{name}", {"size": self.size_out[src],
                                         "equations": forms.RELAY_EQUATIONS + "\n",
                                         "input": self.names[src], "input_variable": "x",
                                         "record": False})

    def _value_synapse(self, src, n, m, variable):
        rows, cols = np.nonzero(m)
        read = "relay" if self.kind[src] == "Input" else "v"
        source = self.relay_names[src] if read == "relay" else self.names[src]
        table = {"source": source, "target": self.names[n],
                 "model": forms.summed_model(variable, read),
                 "connect": {"i": cols.tolist(), "j": rows.tolist()},
                 "values": {"w": m[rows, cols].tolist() if rows.size else 0.0}}
        name = f"{self.names[src]}_to_{self.names[n]}_{variable}"
        return (f"synapses.{self._unique(name)}", table)

    def _unique(self, name):
        if not hasattr(self, "used"):  # the names of the HNN nodes made from NIR nodes
            self.used = {self.names[n] for n in self.g.nodes if self.is_source(n)}
        out, k = name, 1
        while out in self.used:
            out, k = f"{name}_{k}", k + 1
        self.used.add(out)
        return out


def _merge(parts):
    """Concatenate connection arrays and add up the weights of equal (i, j, delay)."""
    i = np.concatenate([p[0] for p in parts]).astype(np.int64)
    j = np.concatenate([p[1] for p in parts]).astype(np.int64)
    w = np.concatenate([p[2] for p in parts]).astype(float)
    d = np.concatenate([p[3] for p in parts]).astype(np.int64)
    if i.size == 0:
        return i, j, w, d
    keys = np.stack([i, j, d], axis=1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    total = np.zeros(len(uniq))
    np.add.at(total, inverse.ravel(), w)
    keep = total != 0
    return uniq[keep, 0], uniq[keep, 1], total[keep], uniq[keep, 2]


def _round(x: float) -> float:
    """``x`` to 12 significant digits (a whole number of steps times dt, without 1e-16 noise)."""
    return float(f"{x:.12g}")


def _q(arr, unit: str, per_item: bool = False):
    """A quantity string (scalar when all entries are equal) or a list of them."""
    arr = np.atleast_1d(np.asarray(arr, dtype=float))
    suffix = f" {unit}" if unit else ""
    if arr.size and (arr == arr[0]).all() and not (per_item and arr.size == 0):
        v = float(arr[0])
        return f"{v!r}{suffix}" if unit else v
    return [f"{float(v)!r}{suffix}" if unit else float(v) for v in arr]


def _names(nodes) -> dict:
    out, used = {}, set()
    for n in nodes:
        name = _identifier(n)
        base, k = name, 1
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        out[n] = name
    return out


def _identifier(text: str) -> str:
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in str(text))
    if not name or not (name[0].isalpha() or name[0] == "_") or keyword.iskeyword(name):
        name = f"n_{name}"
    return name


def _text(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf8")
    if isinstance(v, np.ndarray) and v.shape == ():
        return _text(v[()])
    return str(v)


def _source(p) -> str:
    return Path(p).name if isinstance(p, (str, Path)) else "graph"


def _show(arr) -> str:
    return np.array2string(np.asarray(arr), threshold=5)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
