"""NIR both ways: read a NIR graph as an HNN file (:func:`read_nir`), write the spiking part of
an HNN as a NIR graph (:func:`write_nir`). The Brian2 forms of NIR's nodes, their units and the
discretisation are in :mod:`hnnbio.nir.forms`; docs/nir.md is the guide."""

from hnnbio.nir.reader import import_nir, read_nir
from hnnbio.nir.writer import write_nir

__all__ = ["import_nir", "read_nir", "write_nir"]
