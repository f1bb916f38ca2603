"""hnnbio: hybrid neural networks of Brian2 spiking sheets and PyTorch networks.

The flagship is cortical binding by synchrony::

    >>> import hnnbio
    >>> images, truth = hnnbio.datasets.generate("bars", 4, seed=1)   # doctest: +SKIP
    >>> result = hnnbio.bind(images, model="bars", truth=truth)       # doctest: +SKIP
    >>> result.summary()["ami"]                                       # doctest: +SKIP
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

__all__ = ["bind", "datasets", "BindingResult", "load_spec", "__version__"]


def __getattr__(name):
    # Lazy imports keep `hnnbio --help` and `hnnbio info` fast (Brian2 and torch take seconds).
    if name == "bind":
        return importlib.import_module("hnnbio.binding.bind").bind
    if name == "datasets":
        return importlib.import_module("hnnbio.data.datasets")
    if name == "BindingResult":
        return importlib.import_module("hnnbio.analysis.result").BindingResult
    if name == "load_spec":
        return importlib.import_module("hnnbio.binding.spec").load_spec
    if name == "sweep":
        return importlib.import_module("hnnbio.sweep").sweep
    raise AttributeError(f"module 'hnnbio' has no attribute {name!r}")
