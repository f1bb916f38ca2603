"""The HNN graph, the centre of the house: one description that Brian2, PyTorch and the chip read.

- :mod:`hnnbio.hnn.nodes`: inputs, populations, synapses, networks, hybrid units;
- :mod:`hnnbio.hnn.graph`: :class:`HNN`, its edges and validation;
- :mod:`hnnbio.hnn.files`: the TOML file format (every key read or refused);
- :mod:`hnnbio.hnn.engine`: :func:`simulate` and :class:`Simulation` (one Brian2 run, PyTorch in
  network operations, B samples as one group);
- :mod:`hnnbio.hnn.result`: :class:`HNNResult` (per-population spikes, monitors, Neo).
"""

from hnnbio.hnn.engine import Simulation, simulate
from hnnbio.hnn.graph import HNN, Edge
from hnnbio.hnn.nodes import HybridUnit, Input, Network, Population, Synapse
from hnnbio.hnn.result import HNNResult, Spikes

__all__ = ["HNN", "Edge", "HNNResult", "HybridUnit", "Input", "Network", "Population",
           "Simulation", "Spikes", "Synapse", "simulate"]
