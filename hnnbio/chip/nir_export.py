"""NIR export: the plain spiking part of an HNN graph's loop, as an interoperability side exit.

NIR (neuromorphic intermediate representation) has no stochastic thresholds, no multiplicative
modulation, no refractoriness, no delay rings of tens of steps, no sigmoid/relu look-up tables and
no integer semantics, so the native program (``.hnnc``) stays the primary target. What is written::

    input (n_pixels) -> affine (identity, bias 1/2) -> lif (n_pixels) -> output

The approximation: the stochastic gated unit ``spike if x c + xi > 1, xi ~ U(0, 1)`` is replaced by
its mean-field deterministic counterpart ``x c + E[xi] = x c + 1/2 > 1``: the affine node adds
the bias 1/2 to the gated input ``x c`` (which the caller supplies as the input), and the LIF node
(``tau = dt``, ``r = 1``, ``v_threshold = 1``, reset to 0) follows its input within about a step.
Everything dropped is listed in the graph's metadata (``dropped``) and in the returned summary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: What the NIR graph does not express, with the reason.
DROPPED = (
    "stochastic threshold (xi ~ U(0,1) per step): replaced by its mean 1/2",
    "top-down modulation x * c (Hadamard product): the input must already be x * c",
    "refractoriness (r silent steps after a spike)",
    "coincidence window of the bottom-up hybrid unit (random survival of recent spikes)",
    "denoising autoencoder (sigmoid/relu layers are not NIR primitives)",
    "delay ring of D steps (top-down feedback)",
    "integer semantics (int8 weights, int32 saturation, 28-bit membrane, LFSR)",
)


def build_graph(model):
    """The NIR graph of an HNN graph's sheet (see the module docstring).

    ``model``: an HNN graph, an HNN file or a shipped model name; the graph rules of
    :mod:`hnnbio.chip.rules` apply (the NIR graph stands for the same loop as the program).
    """
    import nir

    from hnnbio.chip import rules
    from hnnbio.chip.lower import load_graph

    graph = load_graph(model)
    sheet = rules.check_graph(graph)["sheet"]
    n = sheet.size
    dt_s = float(graph.dt_ms) * 1e-3
    ones = np.ones(n, dtype=np.float32)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n])}),
        "drive": nir.Affine(weight=np.eye(n, dtype=np.float32), bias=0.5 * ones),
        "sheet": nir.LIF(tau=dt_s * ones, r=ones.copy(), v_leak=0 * ones, v_threshold=ones.copy(),
                         v_reset=0 * ones),
        "output": nir.Output(output_type={"output": np.array([n])}),
    }
    edges = [("input", "drive"), ("drive", "sheet"), ("sheet", "output")]
    metadata = {"model": graph.name, "population": sheet.name,
                "refractory_steps": rules.refractory_steps(sheet), "dt_s": dt_s,
                "dropped": "; ".join(DROPPED)}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def export_nir(model, output: str | Path) -> dict:
    """Write the NIR graph of ``model`` (an HNN graph, file or shipped name) to ``output`` with
    ``nir.write``; returns a summary. The NIR graph holds no autoencoder."""
    import nir

    graph = build_graph(model)
    nir.write(str(output), graph)
    return {"output": str(output), "format": "nir", "model": graph.metadata["model"],
            "nodes": ", ".join(graph.nodes), "dropped": len(DROPPED),
            "approximation": "mean-field threshold x*c + 1/2 > 1 on a one-step LIF"}
