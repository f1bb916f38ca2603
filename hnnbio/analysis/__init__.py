"""Analysis of binding results: Neo conversion and files, Elephant-based synchrony, fast kernels.

- :mod:`~hnnbio.analysis.neo_convert`: BindingResult <-> ``neo.Block``; SpikeMonitor -> Block.
- :mod:`~hnnbio.analysis.files`: NIX / NWB result files through ``neo.io``.
- :mod:`~hnnbio.analysis.sttc`: STTC of all pairs, bit-equal to Elephant, >200x faster.
- :mod:`~hnnbio.analysis.cch`: cross-correlograms (Elephant; many pairs at once).
- :mod:`~hnnbio.analysis.synchrony`: spike contrast, synchronous events, unitary events (Elephant).
- :mod:`~hnnbio.analysis.objects`: phase histograms, within- vs across-object pairs.
- :mod:`~hnnbio.analysis.scores`: synchrony and rate scores cycle by cycle.
- :mod:`~hnnbio.analysis.summary`, :mod:`~hnnbio.analysis.figures`, :mod:`~hnnbio.analysis.report`:
  the ``hnnbio analyze`` report.

Submodules are imported on use (Elephant takes seconds to import).
"""
