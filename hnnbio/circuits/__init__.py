"""Circuits built from neurons: reusable sub-graphs (B samples as one group).

``sheet`` holds the sheet protocol; ``reference`` the stochastic gated units of the reference
binding model; ``column`` the cortical column sheet (and :class:`ColumnPopulation`, the column as
a population of an HNN graph); ``ping`` the PING sheet (excitatory and inhibitory populations
making a gamma rhythm; :class:`PingPopulation`). The column demo behind ``hnnbio column`` is
:mod:`hnnbio.experiments.column_demo` (it writes a plot: experiments stand above circuits).

:data:`CIRCUITS` maps the circuit names an HNN file may give (``circuit = "column"``) to their
factories ``(node, n_samples, dt_ms, driven) -> population``; pass it to the engine
(``Simulation(..., circuits=CIRCUITS)``).
"""


def _column(node, n_samples, dt_ms, driven):
    from hnnbio.circuits.column import ColumnPopulation

    return ColumnPopulation(node, n_samples, dt_ms, driven)


def _ping(node, n_samples, dt_ms, driven):
    from hnnbio.circuits.ping import PingPopulation

    return PingPopulation(node, n_samples, dt_ms, driven)


#: Circuit name -> factory, for ``hnnbio.hnn.engine.Simulation(circuits=...)``.
CIRCUITS = {"column": _column, "ping": _ping}
