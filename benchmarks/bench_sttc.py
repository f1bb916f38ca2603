"""Benchmark: STTC matrix of many spike trains against Elephant's per-pair STTC.

Targets: all pairs of 1000 trains of 1 s in under 1 s; at least 100x Elephant's per-pair loop
(``elephant.spike_train_correlation.spike_time_tiling_coefficient`` over every pair i < j) on 200
trains, timed side by side in this run, with the largest difference of the two printed.

Trains are Poisson at ``--rate`` Hz on a 1 ms grid (as Brian2 records them at dt = 1 ms); window
dt = 5 ms (Elephant's default). The recording is 1 s from t = 0, where Elephant's STTC is right and
the difference must be 0; on long recordings or far from t = 0 Elephant's ``np.isclose`` rtol widens
its window and the reference is the definition instead (``tests/analysis/test_sttc.py``).
Run: ``python benchmarks/bench_sttc.py [--quick]``.
"""

from __future__ import annotations

import argparse
import time

import neo
import numpy as np
import quantities as pq


def poisson_trains(n: int, rate_hz: float, seconds: float, seed: int) -> list:
    rng = np.random.default_rng(seed)
    n_bins = int(round(seconds * 1000))
    trains = []
    for _ in range(n):
        steps = np.flatnonzero(rng.random(n_bins) < rate_hz / 1000.0)
        trains.append(neo.SpikeTrain(steps * 1.0, units="ms", t_stop=seconds * 1000.0))
    return trains


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> dict:
    from elephant.spike_train_correlation import spike_time_tiling_coefficient

    from hnnbio.analysis.sttc import sttc_matrix

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="firing rate in Hz (default 20)")
    parser.add_argument("--quick", action="store_true", help="Elephant on 60 trains instead of 200")
    args = parser.parse_args(argv)
    dt = 5 * pq.ms
    grid = 1 * pq.kHz

    big = poisson_trains(1000, args.rate, 1.0, seed=1)
    sttc_matrix(big[:10], dt=dt, sampling_rate=grid)  # warm-up
    t_grid = best_of(lambda: sttc_matrix(big, dt=dt, sampling_rate=grid), 3)
    t_exact = best_of(lambda: sttc_matrix(big, dt=dt, method="exact"), 1)
    spikes = sum(len(st) for st in big)
    print(f"1000 trains x 1 s, {spikes} spikes ({args.rate:g} Hz):")
    print(f"  grid method  {t_grid:8.3f} s   (target < 1 s: {'met' if t_grid < 1 else 'NOT met'})")
    print(f"  exact method {t_exact:8.3f} s   (any spike times)")

    n = 60 if args.quick else 200
    small = big[:n]
    t0 = time.perf_counter()
    ref = np.full((n, n), np.nan)
    for i in range(n):
        ref[i, i] = spike_time_tiling_coefficient(small[i], small[i], dt=dt)
        for j in range(i + 1, n):
            ref[i, j] = ref[j, i] = spike_time_tiling_coefficient(small[i], small[j], dt=dt)
    t_elephant = time.perf_counter() - t0
    t_ours = best_of(lambda: sttc_matrix(small, dt=dt, sampling_rate=grid), 5)
    ours = sttc_matrix(small, dt=dt, sampling_rate=grid)
    diff = float(np.nanmax(np.abs(ours - ref)))
    ratio = t_elephant / t_ours
    pairs = n * (n + 1) // 2
    print(f"{n} trains ({pairs} pairs incl. diagonal):")
    print(
        f"  Elephant per-pair loop {t_elephant:8.3f} s ({1e3 * t_elephant / pairs:.3f} ms per pair)"
    )
    print(f"  hnnbio sttc_matrix     {t_ours:8.4f} s")
    print(
        f"  ratio {ratio:,.0f}x (target >= 100x: {'met' if ratio >= 100 else 'NOT met'}); "
        f"max |difference| {diff:.3g}"
    )
    return {
        "t_grid_1000": t_grid,
        "t_exact_1000": t_exact,
        "t_elephant": t_elephant,
        "t_ours": t_ours,
        "ratio": ratio,
        "max_diff": diff,
    }


if __name__ == "__main__":
    main()
