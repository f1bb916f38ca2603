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
``resume=True`` skips the shards already on disk. Everything that can be checked is checked before
the first task starts (the spec, every job's model file with its grid values, the seeds, the
scheduler's address), and nothing is written into ``OUT`` until a shard has finished, so a sweep
that fails before that leaves ``OUT`` as it was and a fixed spec can start there. A sweep holds
``OUT/sweep.lock`` (an ``flock`` with the owner's pid in it) while it runs: a second sweep on the
same folder, e.g. two ``--resume`` runs, is refused; the kernel frees the lock of a process that
died, and the next sweep takes it over. By default the tasks run on a ``LocalCluster``
on this machine; give ``scheduler="tcp://host:8786"`` to use a running ``dask.distributed``
cluster (see docs/sweeps.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import shutil
import socket
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hnnbio.errors import HnnbioError, SweepError
from hnnbio.outputs import write_text

KINDS = ("bind", "nospike", "emulate")
KEYS = {"models", "seeds", "images", "kind", "shard_images", "cycles", "batch_size", "grid"}
#: Seeds of a shard's run: ``seed * SEED_STRIDE + first_image`` (distinct, reproducible).
SEED_STRIDE = 100_003
LOCK = "sweep.lock"


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


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_sweep_spec(raw: dict, where: str = "sweep spec") -> dict:
    """Check a sweep spec's keys and values (not yet its models: :func:`check_jobs`); returns it
    with the defaults filled in. Raises :class:`SweepError` naming the key that is wrong."""
    if not isinstance(raw, dict):
        raise SweepError(f"{where}: a sweep spec is a table of keys, got {type(raw).__name__}")
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
    for model in spec["models"]:
        if not isinstance(model, str) or not model:
            raise SweepError(f"{where}: models must be model names or .toml paths, got {model!r}")
    if not _positive_int(spec.get("images")):
        raise SweepError(f"{where}: images must be a positive integer, got {spec.get('images')!r}")
    if spec["kind"] not in KINDS:
        raise SweepError(f"{where}: kind {spec['kind']!r} is not one of {', '.join(KINDS)}")
    if spec["shard_images"] is None:  # absent: one shard per job (0 is not absent)
        spec["shard_images"] = spec["images"]
    for key in ("shard_images", "cycles", "batch_size"):
        if spec[key] is not None and not _positive_int(spec[key]):
            raise SweepError(f"{where}: {key} must be a positive integer, got {spec[key]!r}")
    last = spec["images"] - 1  # the largest first image of a shard is below this
    for seed in spec["seeds"]:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0 \
                or seed * SEED_STRIDE + last >= 2**32:
            top = (2**32 - 1 - last) // SEED_STRIDE
            raise SweepError(f"{where}: seeds must be integers in 0..{top} (a shard's run is "
                             f"seeded with seed * {SEED_STRIDE} + its first image, below 2**32), "
                             f"got {seed!r}")
    if not isinstance(spec["grid"], dict):
        raise SweepError(f"{where}: grid must be a table of 'section.key' = [values]")
    for key, values in spec["grid"].items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"{where}: grid key {key!r} must have a non-empty list of values")
        if key.count(".") != 1:
            raise SweepError(f"{where}: grid key {key!r} must be 'section.key', e.g. 'loop.cycles'")
    return spec


def _grid_points(spec: dict) -> list[dict]:
    grid_keys = sorted(spec["grid"])
    return [
        dict(zip(grid_keys, values, strict=True))
        for values in itertools.product(*(spec["grid"][k] for k in grid_keys))
    ] or [{}]


def job_spec(model: str, params: dict):
    """The binding model of a job: the model file with the grid point's values written in."""
    from hnnbio.binding.spec import load_spec

    spec = load_spec(model)
    if params:
        sections: dict = {}
        for dotted, value in params.items():
            section, key = dotted.split(".")
            sections.setdefault(section, {})[key] = value
        spec = spec.replace(**sections)
    return spec


def check_jobs(spec: dict) -> None:
    """Before any task: every model of the sweep builds its graph (weights included) with every
    grid point's values, and a shard's images fit in memory; a wrong one raises its one-line
    error naming the job."""
    from hnnbio.binding.bind import check_memory

    for model in spec["models"]:
        for params in _grid_points(spec):
            where = f"model {model}" + "".join(f", {k} = {v!r}" for k, v in params.items())
            try:
                job = job_spec(model, params)
                job.graph()  # every value of the file checked, the weights loaded
                check_memory(job, spec["shard_images"])
            except HnnbioError as exc:
                raise SweepError(f"{where}: {exc}") from None


def plan_shards(spec: dict) -> list[Shard]:
    """Every (model, seed, grid point) is a job; every job is split into shards of images."""
    shards = []
    jobs = itertools.product(spec["models"], spec["seeds"], _grid_points(spec))
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

    from hnnbio.data.datasets import generate

    spec = job_spec(shard.model, shard.params)
    images, truth = generate(spec.dataset, shard.images, seed=shard.seed)
    part = slice(shard.first_image, shard.first_image + shard.n_images)
    seed = shard.seed * SEED_STRIDE + shard.first_image  # distinct, reproducible per shard
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
    """Check the (locked) output folder, writing nothing; return the names of shards done."""
    marker = out / "sweep.json"
    if marker.exists():
        try:
            old = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            raise SweepError(f"{out}: sweep.json is unreadable; choose another --out") from None
        if not isinstance(old, dict) or old.get("fingerprint") != _fingerprint(spec):
            raise SweepError(f"{out} holds the results of another sweep; choose another --out")
        if not resume:
            raise SweepError(f"{out} already holds this sweep's results; pass --resume to continue")
    elif any(p.name != LOCK for p in out.iterdir()):
        raise SweepError(f"{out} is not empty and holds no sweep; choose another --out")
    return {p.stem for p in (out / "shards").glob("*.json")}


def _start_out(out: Path, spec: dict) -> None:
    """Write the sweep's marker and shard folder (at the first finished shard)."""
    marker = out / "sweep.json"
    if not marker.exists():
        (out / "shards").mkdir(exist_ok=True)
        write_text(marker, json.dumps({"fingerprint": _fingerprint(spec), "spec": spec},
                                         indent=1, default=str))


def _make_out(out: Path) -> Path | None:
    """Make the output folder; return the topmost folder made (None: it existed)."""
    if out.exists() and not out.is_dir():
        raise SweepError(f"out: {out} exists and is not a folder")
    top = None
    for folder in (out, *out.parents):
        if folder.exists():
            break
        top = folder
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepError(f"out: cannot make {out} ({exc.strerror or exc})") from None
    return top


@contextlib.contextmanager
def locked(out: Path):
    """Hold ``out/sweep.lock`` while a sweep runs there; refuse when another process holds it.

    The file names its owner (pid and host); the lock itself is an ``flock``, which the kernel
    releases when the owner dies however it dies, so a lock left by a killed sweep is taken over.
    The file is removed on release."""
    import fcntl

    path = out / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                owner = json.loads(os.read(fd, 4096) or b"{}")
            except (OSError, ValueError):
                owner = {}
            os.close(fd)
            raise SweepError(
                f"{out}: another sweep (pid {owner.get('pid', '?')} on "
                f"{owner.get('host', '?')}) is running in this folder; wait for it to end or "
                "choose another --out"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the file was released and removed while we opened it: again
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


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
        except (OSError, TimeoutError, ValueError) as exc:
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
    on_shard=None,
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
    on_shard : callable, optional
        Called with the path of each shard file once it is written (a progress hook; the tests
        use it to stop a sweep after exactly k shards).
    """
    spec = check_sweep_spec(spec) if isinstance(spec, dict) else read_sweep_spec(spec)
    check_jobs(spec)
    if scheduler is not None:
        check_scheduler(scheduler)
    out = Path(out)
    made = _make_out(out)
    try:
        with locked(out):
            done = _prepare_out(out, spec, resume)
            todo = [s for s in plan_shards(spec) if s.name not in done]
            if todo:
                _run_shards(todo, out, spec, scheduler, n_workers, progress, on_shard)
            return summarize(out)
    finally:
        if made is not None and all(p.is_dir() for p in made.rglob("*")):  # nothing written
            shutil.rmtree(made, ignore_errors=True)


def _run_shards(todo, out, spec, scheduler, n_workers, progress, on_shard=None) -> None:
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
            _start_out(out, spec)
            write_text(out / "shards" / f"{name}.json", json.dumps(row))
            bar.update(1)
            if on_shard is not None:
                on_shard(out / "shards" / f"{name}.json")
        bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def check_scheduler(address) -> str:
    """A Dask scheduler address must be ``protocol://host:port`` (or ``host:port``); a wrong one
    raises SweepError before anything starts."""
    from distributed.comm import parse_address, parse_host_port

    if not isinstance(address, str) or not address:
        raise SweepError(f"scheduler: expected an address such as tcp://host:8786, got "
                         f"{address!r}")
    try:
        protocol, location = parse_address(address)
        if protocol in ("tcp", "tls", "ws", "wss"):
            parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise SweepError(f"scheduler: {address!r} is not a Dask scheduler address such as "
                         f"tcp://host:8786 ({exc})") from None
    return address


def summarize(out) -> list[dict]:
    """Summary rows (one per job, in job order) from the shard files in ``out``; writes tables."""
    out = Path(out)
    jobs: dict[int, dict] = {}
    for path in sorted((out / "shards").glob("*.json")):
        row = _read_shard(path)
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
        write_text(out / "summary.csv", "\n".join(lines) + "\n")
        md = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        md += ["| " + " | ".join(_fmt(r.get(k, "")) for k in keys) + " |" for r in rows]
        write_text(out / "summary.md", "\n".join(md) + "\n")
    return rows


def _read_shard(path: Path) -> dict:
    """A shard file as written by the sweep; SweepError naming it when it was damaged."""
    try:
        row = json.loads(path.read_text())
        shard = row["shard"]
        Shard(**shard)
        if not all(isinstance(v, list) for v in row["metrics"].values()):
            raise TypeError("metrics")
        float(row["seconds"])
        return row
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SweepError(f"{path}: not a shard file of this sweep ({exc.__class__.__name__}); "
                         "delete it and run again with --resume to redo the shard") from None


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
