"""Fuzz suite (issue 14, part 7): hostile model files, CLI arguments and result files.

Every case must end in success or a one-line hnnbio error (``HnnbioError``; in the CLI exit
status 2 with one line on stderr, or argparse's usage error), never another exception. Examples
are bounded (``max_examples``, no deadline) so that the folder runs in a few minutes; set
``HNNBIO_FUZZ_EXAMPLES`` to a factor (e.g. 10) for a longer run.
"""

import math
import os

from hypothesis import HealthCheck, Phase, settings

FACTOR = float(os.environ.get("HNNBIO_FUZZ_EXAMPLES", "1"))


def bounded(n: int):
    """Hypothesis settings of a fuzz test: at most ``n`` examples (times the factor), no deadline,
    no database (the examples are derandomized: the same cases each run), no shrinking (a
    failure is reported as found, at once: each example can cost seconds)."""
    return settings(max_examples=max(1, math.ceil(n * FACTOR)), deadline=None, database=None,
                    derandomize=True, phases=(Phase.explicit, Phase.generate),
                    report_multiple_bugs=False,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture,
                                           HealthCheck.filter_too_much, HealthCheck.data_too_large])


def toml_value(v) -> str:
    """A value in TOML syntax (the fuzz tests write mutated files; tomllib only reads)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _key(k: str) -> str:
    return k if k and all(c.isalnum() or c in "_-" for c in k) else toml_value(str(k))


def dump_toml(raw: dict) -> str:
    """A parsed TOML document back to text: scalars first, then tables (nested as [a.b])."""
    lines = []

    def table(prefix, d):
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in d.items() if isinstance(v, dict)}
        if prefix and (scalars or not tables):
            lines.append(f"[{'.'.join(_key(p) for p in prefix)}]")
        for k, v in scalars.items():
            lines.append(f"{_key(k)} = {toml_value(v)}")
        for k, v in tables.items():
            table([*prefix, k], v)

    table([], raw)
    return "\n".join(lines) + "\n"
