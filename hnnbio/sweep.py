"""Many runs on Dask: a grid of jobs (model x seed x parameter values), each split into shards.

A sweep spec is a TOML file. The smallest::

    models = ["bars"]
    seeds = [1, 2]
    images = 8

Other keys: ``kind`` (``"bind"``, ``"nospike"`` or ``"emulate"``; default ``"bind"``),
``shard_images`` (images per Dask task, default ``images``), ``cycles`` (override the models'
cycles), ``batch_size``, and a ``[grid]`` table of spec keys to values, each a list, e.g.
``"loop.cycles" = [20, 50]``: every combination is a job.

Each shard is one Dask task; the client writes one JSON file per finished shard under
``OUT/shards/`` (written to a temporary name and renamed, so a killed sweep leaves no half file)
and a summary table (``summary.csv``, ``summary.md``) at the end. A sweep run again with
``resume=True`` skips the shards already on disk. By default the tasks run on a ``LocalCluster``
on this machine; give ``scheduler="tcp://host:8786"`` to use a running ``dask.distributed``
cluster (see docs/sweeps.md).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hnnbio.errors import HnnbioError, SweepError

KINDS = ("bind", "nospike", "emulate")
KEYS = {"models", "seeds", "images", "kind", "shard_images", "cycles", "batch_size", "grid"}


@dataclass(frozen=True)
class Shard:
    """One Dask task: ``n_images`` images (from ``first_image``) of one job."""

    job: int
    index: int
    model: str
    seed: int
    images: int
    first_image: int
    n_images: int
    kind: str
    params: dict
    cycles: int | None
    batch_size: int | None

    @property
    def name(self) -> str:
        return f"job{self.job:04d}-shard{self.index:04d}"


def read_sweep_spec(path) -> dict:
    """Read and check a sweep spec; raises :class:`SweepError` naming the key that is wrong."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SweepError(f"sweep spec not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{path.name}: not valid TOML ({exc})") from None
    return check_sweep_spec(raw, where=path.name)


def check_sweep_spec(raw: dict, where: str = "sweep spec") -> dict:
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise SweepError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(KEYS))}")
    spec = {"kind": "bind", "shard_images": None, "cycles": None, "batch_size": None, "grid": {}}
    spec.update(raw)
    for key in ("models", "seeds"):
        if key not in raw:
            raise SweepError(f"{where}: missing key {key!r}")
        if not isinstance(spec[key], list) or not spec[key]:
            raise SweepError(f"{where}: {key} must be a non-empty list")
    if not isinstance(spec.get("images"), int) or spec["images"] < 1:
        raise SweepError(f"{where}: images must be a positive integer, got {spec.get('images')!r}")
    if spec["kind"] not in KINDS:
        raise SweepError(f"{where}: kind {spec['kind']!r} is not one of {', '.join(KINDS)}")
    shard = spec["shard_images"] or spec["images"]
    if not isinstance(shard, int) or shard < 1:
        raise SweepError(f"{where}: shard_images must be a positive integer")
    spec["shard_images"] = shard
    for key, values in spec["grid"].items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"{where}: grid key {key!r} must have a non-empty list of values")
        if key.count(".") != 1:
            raise SweepError(f"{where}: grid key {key!r} must be 'section.key', e.g. 'loop.cycles'")
    return spec


def plan_shards(spec: dict) -> list[Shard]:
    """Every (model, seed, grid point) is a job; every job is split into shards of images."""
    grid_keys = sorted(spec["grid"])
    points = [
        dict(zip(grid_keys, values, strict=True))
        for values in itertools.product(*(spec["grid"][k] for k in grid_keys))
    ] or [{}]
    shards = []
    jobs = itertools.product(spec["models"], spec["seeds"], points)
    for job, (model, seed, params) in enumerate(jobs):
        for index, first in enumerate(range(0, spec["images"], spec["shard_images"])):
            n = min(spec["shard_images"], spec["images"] - first)
            shards.append(
                Shard(
                    job,
                    index,
                    model,
                    int(seed),
                    spec["images"],
                    first,
                    n,
                    spec["kind"],
                    params,
                    spec["cycles"],
                    spec["batch_size"],
                )
            )
    return shards


def run_shard(shard: Shard) -> dict:
    """Run one shard (in a Dask worker) and return its per-image metrics as plain lists."""
    import time

    from hnnbio.binding.spec import load_spec
    from hnnbio.data.datasets import generate

    spec = load_spec(shard.model)
    if shard.params:
        sections: dict = {}
        for dotted, value in shard.params.items():
            section, key = dotted.split(".")
            sections.setdefault(section, {})[key] = value
        spec = spec.replace(**sections)
    images, truth = generate(spec.dataset, shard.images, seed=shard.seed)
    part = slice(shard.first_image, shard.first_image + shard.n_images)
    seed = shard.seed * 100_003 + shard.first_image  # distinct, reproducible per shard
    start = time.perf_counter()
    result = _KIND_FUNCTIONS[shard.kind](spec, images[part], truth[part], seed, shard)
    metrics = {k: np.asarray(v, dtype=float).tolist() for k, v in result.metrics.items()}
    return {"shard": asdict(shard), "metrics": metrics, "seconds": time.perf_counter() - start}


def _kind_bind(spec, images, truth, seed, shard):
    from hnnbio.binding.bind import bind

    return bind(
        images, model=spec, seed=seed, truth=truth, cycles=shard.cycles, batch_size=shard.batch_size
    )


def _kind_nospike(spec, images, truth, seed, shard):
    from hnnbio.ann.autoencoder import load_autoencoder
    from hnnbio.binding.nospike import run_nospike

    return run_nospike(
        images, load_autoencoder(spec), spec, seed=seed, truth=truth, cycles=shard.cycles
    )


def _kind_emulate(spec, images, truth, seed, shard):
    from hnnbio.binding.emulate import emulate
    from hnnbio.chip.compiler import compile_model

    return emulate(
        compile_model(spec.graph()),
        images,
        seed=seed,
        batch_size=shard.batch_size,
        truth=truth,
        cycles=shard.cycles,
    )


_KIND_FUNCTIONS = {"bind": _kind_bind, "nospike": _kind_nospike, "emulate": _kind_emulate}


def _fingerprint(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _prepare_out(out: Path, spec: dict, resume: bool) -> set[str]:
    """Create or check the output folder; return the names of shards already done."""
    marker = out / "sweep.json"
    fingerprint = _fingerprint(spec)
    if marker.exists():
        try:
            old = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            raise SweepError(f"{out}: sweep.json is unreadable; choose another --out") from None
        if old.get("fingerprint") != fingerprint:
            raise SweepError(f"{out} holds the results of another sweep; choose another --out")
        if not resume:
            raise SweepError(f"{out} already holds this sweep's results; pass --resume to continue")
    elif out.exists() and any(out.iterdir()):
        raise SweepError(f"{out} is not empty and holds no sweep; choose another --out")
    (out / "shards").mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"fingerprint": fingerprint, "spec": spec}, indent=1, default=str))
    return {p.stem for p in (out / "shards").glob("*.json")}


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _import_brian2_in_main_thread() -> None:
    """Brian2 installs a SIGINT handler on import, which fails outside a process's main thread;
    Dask runs tasks in worker threads, so workers import Brian2 first, from their event loop."""
    import brian2  # noqa: F401


def _connect(scheduler: str | None, n_workers: int | None):
    from distributed import Client, LocalCluster
    from distributed.diagnostics.plugin import WorkerPlugin

    class ImportBrian2(WorkerPlugin):
        name = "hnnbio-import-brian2"

        def setup(self, worker):
            _import_brian2_in_main_thread()

    if scheduler is None:
        cluster = LocalCluster(
            n_workers=n_workers or min(2, os.cpu_count() or 1),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = Client(cluster)
    else:
        cluster = None
        try:
            client = Client(scheduler, timeout="5s")
        except (OSError, TimeoutError) as exc:
            raise SweepError(
                f"cannot reach the Dask scheduler at {scheduler} "
                f"({exc.__class__.__name__}); start one with `dask scheduler` or "
                "leave --scheduler out"
            ) from None
    client.register_plugin(ImportBrian2())
    return client, cluster


def sweep(
    spec: dict | str | Path,
    out,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool = True,
    n_workers: int | None = None,
) -> list[dict]:
    """Run a sweep and return its summary rows (one per job).

    Parameters
    ----------
    spec : dict or path
        A sweep spec (see the module docstring) or the path of its TOML file.
    out : path
        Results folder: ``shards/*.json`` (one per finished shard), ``summary.csv``, ``summary.md``.
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler; default: a ``LocalCluster`` here.
    resume : bool
        Continue a sweep already in ``out``, skipping its finished shards.
    n_workers : int, optional
        Workers of the local cluster (default: up to 2, one thread each).
    """
    spec = check_sweep_spec(spec) if isinstance(spec, dict) else read_sweep_spec(spec)
    out = Path(out)
    done = _prepare_out(out, spec, resume)
    todo = [s for s in plan_shards(spec) if s.name not in done]
    if todo:
        from distributed import as_completed
        from tqdm.auto import tqdm

        client, cluster = _connect(scheduler, n_workers)
        try:
            futures = client.map(run_shard, todo, pure=False)
            bar = tqdm(total=len(todo), desc="shards", disable=not progress)
            for future in as_completed(futures):
                try:
                    row = future.result()
                except HnnbioError:
                    raise
                except Exception as exc:
                    raise SweepError(f"a shard failed: {exc.__class__.__name__}: {exc}") from exc
                name = Shard(**row["shard"]).name
                _write_atomic(out / "shards" / f"{name}.json", json.dumps(row))
                bar.update(1)
            bar.close()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return summarize(out)


def summarize(out) -> list[dict]:
    """Summary rows (one per job, in job order) from the shard files in ``out``; writes tables."""
    out = Path(out)
    jobs: dict[int, dict] = {}
    for path in sorted((out / "shards").glob("*.json")):
        row = json.loads(path.read_text())
        shard = row["shard"]
        job = jobs.setdefault(
            shard["job"],
            {
                "model": shard["model"],
                "seed": shard["seed"],
                **shard["params"],
                "metrics": {},
                "seconds": 0.0,
            },
        )
        for key, values in row["metrics"].items():
            job["metrics"].setdefault(key, []).extend(values)
        job["seconds"] += row["seconds"]
    rows = []
    for _, job in sorted(jobs.items()):
        metrics = job.pop("metrics")
        job.update({k: float(np.nanmean(v)) for k, v in sorted(metrics.items())})
        job["images"] = len(next(iter(metrics.values()), []))
        rows.append(job)
    if rows:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        lines = [",".join(keys)] + [",".join(str(r.get(k, "")) for k in keys) for r in rows]
        _write_atomic(out / "summary.csv", "\n".join(lines) + "\n")
        md = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        md += ["| " + " | ".join(_fmt(r.get(k, "")) for k in keys) + " |" for r in rows]
        _write_atomic(out / "summary.md", "\n".join(md) + "\n")
    return rows


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def run_sweep(spec, out, scheduler=None, resume=False, progress=True) -> dict:
    """What ``hnnbio sweep`` calls: run the sweep, return a short summary for the table."""
    rows = sweep(spec, out, scheduler=scheduler, resume=resume, progress=progress)
    summary = {"jobs": len(rows), "images": sum(r["images"] for r in rows), "out": str(out)}
    for key in ("ami", "synchrony", "rate"):
        values = [r[key] for r in rows if key in r]
        if values:
            summary[key] = float(np.mean(values))
    return summary
