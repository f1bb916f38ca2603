"""The export pipeline: lower -> quantise -> check -> map -> emit (house style 9).

The input is an HNN graph (:class:`hnnbio.hnn.graph.HNN`), an HNN file or a shipped model name;
:mod:`hnnbio.chip.lower` reads everything from the graph, and :mod:`hnnbio.chip.rules` refuses
what the chip cannot run, naming the rule and the node.

>>> from hnnbio.chip.compiler import export
>>> export("bars", "bars.hnnc")                                    # doctest: +SKIP
{'output': 'bars.hnnc', 'cores': 6, 'phases': 6, ...}
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hnnbio.chip import rules
from hnnbio.chip.lower import Graph, lower
from hnnbio.chip.mapping import LFSR_SHIFTS_PER_STEP, map_to_cores
from hnnbio.chip.program import Program, to_bytes, write_program
from hnnbio.chip.quantize import quantize
from hnnbio.chip.spec import TIANJIC_LIKE, ChipSpec
from hnnbio.errors import ParameterError, ProgramError

FORMATS = ("hnnc",)  # NIR: hnnbio.nir.write_nir (`hnnbio nir export`)


def compile_model(model, chip: ChipSpec = TIANJIC_LIKE,
                  samples: np.ndarray | None = None) -> Program:
    """Compile an HNN graph into a chip program (in memory).

    Parameters
    ----------
    model : HNN, str, Path, Graph or Program
        An HNN graph, an HNN file, a shipped model name, an already lowered IR graph, or a
        program an experiment compiled itself (returned as it is).
    chip : ChipSpec
    samples : ndarray, shape (n, n_pixels), {0, 1}, optional
        Inputs for calibration and the quantisation report.

    Raises
    ------
    DesignRuleError
        The model does not fit the chip (the message names the rule and the node or layer).
    """
    from hnnbio.chip import snn

    if isinstance(model, Program):  # compiled by an experiment's own compiler (hifi)
        return model
    if snn.is_spiking(model):  # spiking graphs (not binding): hnnbio.chip.snn
        from hnnbio.chip.hybrid import compile_hybrid
        from hnnbio.chip.lower import load_graph

        return snn.by_compiler(load_graph(model), lambda g: snn.compile_graph(g, chip).program,
                               lambda g: compile_hybrid(g, chip).program)
    graph = model if isinstance(model, Graph) else lower(model)
    q = quantize(graph, samples, chip.accumulator_bits)
    rules.check_model(q, chip)
    mapping = map_to_cores(q, chip)
    rules.check_mapping(mapping, chip)
    manifest = {
        "model": {"name": graph.name, "dataset": graph.dataset,
                  "image_shape": list(graph.image_shape), "nodes": dict(graph.names)},
        "chip": chip.to_dict(),
        "loop": {"steps_per_cycle": graph.steps_per_cycle, "cycles": graph.cycles,
                 "readout_cycles": graph.readout_cycles, "dt_ms": graph.dt_ms},
        "sheet": {"n_pixels": graph.node("sheet").n_out, "refractory_steps": q.refractory_steps,
                  "keep": q.keep, "nested": q.nested, "delay_steps": q.delay_steps,
                  "attention_exponent": 8},
        "layers": mapping.layers,
        "cores": [c.to_dict() for c in mapping.cores],
        "routes": mapping.routes,
        "memory": {str(k): v for k, v in mapping.memory.items()},
        "n_phases": mapping.n_phases,
        "ports": mapping.ports,
        "lfsr_shifts_per_step": LFSR_SHIFTS_PER_STEP,
        "lfsr_streams": graph.node("sheet").n_out,
        "quantization": q.report,
    }
    return Program(manifest, mapping.arrays)


def export(model, output, format: str = "hnnc", overwrite: bool = False,
           chip: ChipSpec = TIANJIC_LIKE) -> dict:
    """Compile ``model`` and write it to ``output``; returns a summary (what the CLI prints).

    Parameters
    ----------
    model : HNN, str or Path
        An HNN graph, an HNN file or a shipped model name (``"bars"``).
    output : str or Path
        Program file to write (``.hnnc``).
    format : {"hnnc"}
        The program format (NIR graphs are written by :func:`hnnbio.nir.write_nir`).
    overwrite : bool
        Replace an existing file.
    """
    if format not in FORMATS:
        raise ParameterError(f"format: {format!r} is not one of {', '.join(FORMATS)}")
    output = Path(output)
    if output.exists() and not overwrite:
        raise ProgramError(f"output: {output} exists; pass overwrite=True (--overwrite) to "
                           f"replace it")
    program = compile_model(model, chip)
    write_program(program, output, overwrite=overwrite)
    m = program.manifest
    errors = {k: v["rel_rms_error"] for k, v in m["quantization"].items()}
    rows = {"output": str(output), "model": m["model"]["name"], "format": "hnnc",
            "bytes": len(to_bytes(program)), "cores": len(program.cores), "phases": m["n_phases"],
            "routes": len(m["routes"]), "max_core_memory_bytes": max(m["memory"].values())}
    rows.update({f"error_{k}": v for k, v in errors.items()})
    return rows
