"""A small TOML writer for the HNN files the NIR reader makes (tables, inline tables, lists,
strings, numbers, booleans); the text it makes is read back by :mod:`tomllib` in the tests."""

from __future__ import annotations

import math

import numpy as np


def value(v) -> str:
    """One TOML value."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"TOML cannot hold {f!r}")
        return repr(f)
    if isinstance(v, str):
        if "\n" in v:
            if '"""' in v or "\\" in v:
                raise ValueError("multi-line strings with quotes or backslashes")
            return '"""\n' + v + '"""'
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {type(v).__name__}")


def key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else value(k)


def dumps(top: dict, sections: list[tuple[str, dict]], comment: str = "") -> str:
    """``top`` keys, then one ``[section]`` table each (name with dots as given)."""
    lines = [f"# {c}" for c in comment.splitlines()] if comment else []
    lines += [f"{key(k)} = {value(v)}" for k, v in top.items()]
    for name, table in sections:
        lines.append("")
        lines.append(f"[{name}]")
        lines += [f"{key(k)} = {value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"
