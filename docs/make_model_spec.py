"""Write docs/model-spec.md, the HNN file format reference, from the loader's own schema.

The tables come from :data:`hnnbio.hnn.files.SCHEMA` (and, for the binding experiment, from
``hnnbio.binding.spec.EXPERIMENT_SCHEMA`` when that exists), so the page lists exactly the keys
the loader reads. Run ``python docs/make_model_spec.py``; tests/test_model_spec_doc.py checks that
docs/model-spec.md is current.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from hnnbio.hnn.files import SCHEMA

#: The page's opening: paragraphs, and bullets starting with "- ".
INTRO = [
    "Generated from `hnnbio.hnn.files.SCHEMA` by `python docs/make_model_spec.py`; a test keeps "
    "this page equal to the generator's output. The tutorial [hnn.md](hnn.md) builds a file from "
    "scratch; the shipped models are in `models/`.",
    "An HNN file is TOML: a `name`, an optional `description` and the sections below. Read it "
    "with `hnnbio.hnn.files.load_hnn(path)`, which returns a validated `hnnbio.hnn.HNN`.",
    "- **Every key is read or refused.** An unknown section or key, a missing required key or a "
    "wrong value is a `hnnbio.errors.ModelSpecError` of one line naming the file, the section and "
    "the key.",
    "- **Named sections.** Nodes are tables under their kind: `[populations.exc]` is the "
    "population `exc`. Names are Python identifiers, unique across all nodes; edges are written "
    "as names (`source`, `target`, `input`, `inputs`).",
    "- **Units as strings.** Quantities are strings with Brian2 units: `\"0.5 ms\"`, "
    "`\"-70 mV\"`, `\"40 Mohm\"`, `\"2 mV/ms\"`; a plain number is unit-less; a list gives one "
    "value per neuron (or per connection). In `params` and `values` a string that is not a "
    "number with a unit is a Brian2 expression (`\"rand() * mV\"`).",
    "- **Files beside the model.** `weights` and `state` paths are relative to the file's folder.",
    "- **Defaults.** \"required\" marks a key without a default; \"not set\" a key that is "
    "simply absent unless given.",
]

#: What a section is, one paragraph each (the tables say what every key takes).
SECTIONS = {
    "": ("Top level", "The keys outside any section."),
    "simulation": (
        "[simulation]",
        "Simulation settings: the step, the default run length (`simulate(graph, inputs)` "
        "without `steps`) and how many samples run together.",
    ),
    "inputs": (
        "[inputs.NAME]",
        "Data entering the graph: `size` values per sample, given at run time as an array of "
        "shape (n_samples, size) (constant) or (n_samples, n_steps, size) (one row per step).",
    ),
    "populations": (
        "[populations.NAME]",
        "Spiking neurons, `size` per sample (B samples are one Brian2 group of B x size, "
        "neuron `n` of sample `b` at index `b * size + n`). Give exactly one of `model`, "
        "`equations` or `circuit`. With `equations`, `threshold`, `reset`, `refractory` (or "
        "`refractory_steps`) and `method` are Brian2's own arguments, and constants reach the "
        "equations through `namespace` only. Inputs and ANN -> SNN units write plain numbers "
        "(SI base units for a variable with a unit: volt, amp), so a unit-less variable that "
        "the equations give its unit (`i_in * nA`) is often clearer.",
    ),
    "synapses": (
        "[synapses.NAME]",
        "Brian2 `Synapses` from one population to another, the same pattern in every sample "
        "(samples never touch). `connect` is `one_to_one`, `all_to_all`, `{ p = 0.1 }` (drawn "
        "once from the seed) or `{ i = [...], j = [...] }` (neuron indices within a sample).",
    ),
    "networks": (
        "[networks.NAME]",
        "An artificial network: a `torch.nn.Module` from (batch, n_in) to (batch, n_out), "
        "called at the end of a step. Give exactly one of `weights` (an hnnbio autoencoder file) "
        "or `factory` (`package.module:function`, imported with `importlib`: its module must be "
        "importable, e.g. installed or on `PYTHONPATH`). `inputs` are concatenated along the "
        "feature axis in the order given.",
    ),
    "units": (
        "[units.NAME]",
        "A hybrid unit `Y = Q(F(H(W(X))))`. Its direction follows from its ends: population -> "
        "network is SNN -> ANN (window W, kernel H, then F and Q; the network must list the "
        "unit in its `inputs`), network -> population is ANN -> SNN (F, Q, a delay line of "
        "`delay_steps`, then a write into `variable`). A unit that closes a loop population -> "
        "network -> population needs `delay_steps >= 1`. Operations: `transmission` `add` "
        "(`variable += gain * y`) or `spikes` (`variable += gain` where a Bernoulli draw of y "
        "spikes); `modulation` `set` (`variable = gain * y`), `multiply` (`variable = base * "
        "gain * y`) or `shift` (`variable = base - gain * y`), `base` being the variable's "
        "value when the run starts.",
    ),
    "monitors": (
        "[monitors.NAME]",
        "Brian2 monitors added to the run, found by name in `result.monitors`. `record` takes "
        "group indices (`b * size + n`).",
    ),
    "experiment": (
        "[experiment]",
        "Not read by the graph: the experiment named by `kind` reads and checks the rest of "
        "this section (and refuses keys it does not know).",
    ),
}

EXPERIMENTS_START = "<!-- experiment keys: generated from hnnbio.binding.spec.EXPERIMENT_SCHEMA -->"
EXPERIMENTS_END = "<!-- end of experiment keys -->"


def experiment_schema() -> dict | None:
    """The binding experiment's keys, or None while hnnbio.binding.spec does not define them."""
    try:
        from hnnbio.binding.spec import EXPERIMENT_SCHEMA
    except (ImportError, AttributeError):
        return None
    return EXPERIMENT_SCHEMA


def render() -> str:
    out = ["# HNN file reference", ""]
    for paragraph in INTRO:
        bullet = paragraph.startswith("- ")
        out += [_fill(paragraph, "  " if bullet else "")]
        out += [] if bullet and paragraph is not INTRO[-1] else [""]
    for section, keys in SCHEMA.items():
        title, text = SECTIONS.get(section, (f"[{section}]", ""))
        out += [f"## {title}", ""]
        if text:
            out += [_fill(text), ""]
        out += _table(keys)
        if section == "experiment":
            out += _experiments()
    return "\n".join(out).rstrip() + "\n"


def _fill(text: str, indent: str = "") -> str:
    """Wrap at 100 columns, never inside a `code span`."""
    spans = re.split(r"(`[^`]*`)", text)
    joined = "".join(p.replace(" ", "\0") if p.startswith("`") else p for p in spans)
    wrapped = textwrap.fill(joined, width=100, subsequent_indent=indent, break_on_hyphens=False,
                            break_long_words=False)
    return wrapped.replace("\0", " ")


def _experiments() -> list[str]:
    out = ["### Binding: `kind = \"binding\"`", "", EXPERIMENTS_START, ""]
    schema = experiment_schema()
    if schema is None:
        out += ["The binding experiment's keys are listed here once",
                "`hnnbio.binding.spec.EXPERIMENT_SCHEMA` exists.", ""]
    elif all(isinstance(v, dict) for v in schema.values()):  # one table per sub-section
        for sub, keys in schema.items():
            out += [f"#### [experiment{'.' + sub if sub else ''}]", ""] + _table(keys)
    else:
        out += _table(schema)
    return out + [EXPERIMENTS_END, ""] + _other_experiments()


def _other_experiments() -> list[str]:
    """One table per experiment kind of ``hnnbio.run.EXPERIMENTS`` but binding: its module's
    ``KEYS`` (key -> default; ``None``: required), the meanings in the module's docstring."""
    from importlib import import_module

    from hnnbio.run import EXPERIMENTS

    out = []
    for kind, target in EXPERIMENTS.items():
        if target is None:
            continue
        module = target.split(":")[0]
        keys = getattr(import_module(module), "KEYS", {})
        out += [f"### `kind = \"{kind}\"`", "",
                _fill(f"Run by `{target}`; what each key means is in the docstring of "
                      f"`{module}` (`python -m pydoc {module}`)."), "",
                "| key | default |", "|---|---|"]
        out += [f"| `{k}` | {'required' if v is None else '`' + _cell(_toml(v)) + '`'} |"
                for k, v in keys.items() if k != "kind"]
        out += [""]
    return out


def _table(keys: dict) -> list[str]:
    rows = ["| key | takes | default | meaning |", "|---|---|---|---|"]
    for key, entry in keys.items():
        takes, default, meaning = _entry(entry)
        rows.append(f"| `{key}` | {_cell(takes)} | {_default(default)} | {_cell(meaning)} |")
    return rows + [""]


def _entry(entry) -> tuple:
    """(what it takes, default, meaning) from a schema entry; a bare value is a default."""
    if isinstance(entry, tuple) and len(entry) == 3:
        return entry
    return "", entry, ""


def _default(value) -> str:
    if value is None:
        return "required"
    if isinstance(value, str):
        return _cell(value) if value else "not set"
    return f"`{_toml(value)}`"


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}" \
            if value else "{}"
    return str(value)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    Path(__file__).with_name("model-spec.md").write_text(render())
