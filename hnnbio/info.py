"""Versions of hnnbio and its main dependencies, and the Brian2 target in use."""

from __future__ import annotations

from importlib import metadata


def versions() -> dict:
    """Return a dict of package versions and the Brian2 code-generation target ``auto`` picks."""
    import hnnbio
    from hnnbio.config import codegen_target

    out = {"hnnbio": hnnbio.__version__}
    for dist in ("brian2", "torch", "elephant", "neo", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    out["brian2_target"] = codegen_target()
    return out
