"""Error types of hnnbio.

Each error says in one line what is wrong and what to do. The CLI prints the message of any
``HnnbioError`` without a traceback and exits with status 2.
"""

from __future__ import annotations


class HnnbioError(Exception):
    """Base class of every error hnnbio raises on purpose."""


class ParameterError(HnnbioError, ValueError):
    """A neuron, circuit or hybrid-unit parameter is missing, unknown, of a wrong unit or range."""


class ModelSpecError(HnnbioError, ValueError):
    """A model spec (models/*.toml or a user's file) is malformed, names an unknown key or model."""


class DataError(HnnbioError, ValueError):
    """Input data (images, spike trains, files) are malformed or missing."""


class WeightsError(HnnbioError):
    """A weights file is missing, corrupt or does not fit the network it is loaded into."""


class DesignRuleError(HnnbioError):
    """A model does not fit the chip: the message names the rule and the layer."""

    def __init__(self, rule: str, layer: str, detail: str):
        self.rule = rule
        self.layer = layer
        super().__init__(f"design rule '{rule}' violated by layer '{layer}': {detail}")


class ProgramError(HnnbioError):
    """A chip program file is corrupt, truncated or of an unsupported version."""


class SweepError(HnnbioError):
    """A sweep spec is malformed, or its output folder or scheduler cannot be used."""


class NIRError(HnnbioError, ValueError):
    """A NIR graph cannot be read or written: the message names the node and what NIR (or hnnbio)
    cannot carry."""
