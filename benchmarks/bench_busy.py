"""A default fit on a busy machine: default threads against one thread, beside CPU-bound neighbours.

Not a test: it measures, prints a table and records the figures (issue 14).
The script starts its own neighbours, CPU-bound Python processes (one per
core the machine has), and measures, each in a fresh process (this script
with ``--child``), a default ``MixtureOfExpertsRegressor(n_experts=3,
random_state=0)`` fit on ``make_switching_regression(n_samples=20,000,
n_features=5, n_experts=3, random_state=0)``:

* with the default threads, and with one thread everywhere
  (``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1``, set
  before the process starts);
* without and with the neighbours;
* with ``--baseline DIR``, also the default fit of another checkout of skmoe
  (the code before a change), to check that a quiet machine is not slower.

Each process warms up (kernels compiled or loaded, one untimed fit), then
times several fits: their median and best, and the CPU seconds of the
process per fit (threads that spin show as CPU seconds above the wall
seconds on a quiet machine). Goal: busy, default threads no more than 1.3x
the one-thread fit measured beside it; quiet, no slower than before.

Usage::

    python benchmarks/bench_busy.py [--baseline DIR]          # writes results/bench_busy.md
    python benchmarks/bench_busy.py --quick [--baseline DIR]  # fewer rounds, prints only
"""

import datetime
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "bench_busy.md"
GOAL_BUSY_X = 1.3
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
NEIGHBOUR = "while True: pass"


def _load_average():
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(n_fits):
    """Timed fits in this fresh process; prints one JSON line."""
    import warnings

    from skmoe import MixtureOfExpertsRegressor
    from skmoe.datasets import make_switching_regression

    X, y = make_switching_regression(n_samples=20_000, n_features=5, n_experts=3,
                                     random_state=0)
    walls, cpus = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Untimed: kernels compiled or loaded, lazy imports, thread pools started.
        MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
        for _ in range(n_fits):
            wall, cpu = time.perf_counter(), _cpu_seconds()
            MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
            walls.append(time.perf_counter() - wall)
            cpus.append(_cpu_seconds() - cpu)
    print(json.dumps({"wall": walls, "cpu": cpus}))


def _run_child(env_extra, source, n_fits):
    env = {**os.environ, **env_extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    out = subprocess.run([sys.executable, __file__, "--child", str(n_fits)],
                         env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _start_neighbours(count):
    return [subprocess.Popen([sys.executable, "-c", NEIGHBOUR]) for _ in range(count)]


def _stop(processes):
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait()


def measure(candidates, rounds, n_fits, neighbours):
    """Every candidate in turn, ``rounds`` times; the neighbours run throughout when asked."""
    results = {name: {"wall": [], "cpu": []} for name in candidates}
    loads = [_load_average()]
    running = _start_neighbours(neighbours) if neighbours else []
    try:
        time.sleep(1.0 if running else 0.0)
        for _ in range(rounds):
            for name, (env_extra, source) in candidates.items():
                result = _run_child(env_extra, source, n_fits)
                results[name]["wall"] += result["wall"]
                results[name]["cpu"] += result["cpu"]
    finally:
        _stop(running)
    loads.append(_load_average())
    return results, loads


def _rows(results, condition, reference):
    rows = []
    base = np.median(results[reference]["wall"])
    for name, values in results.items():
        wall, cpu = np.array(values["wall"]), np.array(values["cpu"])
        rows.append([condition, name, f"{np.median(wall):.3f}", f"{wall.min():.3f}",
                     f"{np.median(cpu):.3f}", f"{np.median(wall) / base:.2f}x"])
    return rows


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(int(argv[1]))
        return
    from bench_estep import _markdown_table as _table
    from bench_estep import benchmark_parser, blas_info, machine_info, machine_section

    parser = benchmark_parser(__doc__, RESULTS)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout of skmoe whose default fit is also measured")
    args = parser.parse_args(argv)
    if args.output is None and not args.quick:
        args.output = RESULTS
    rounds, n_fits = (1, 3) if args.quick else (3, 3)
    here = Path(__file__).resolve().parent.parent
    candidates = {"default threads": ({}, here), "one thread": (ONE_THREAD, here)}
    if args.baseline is not None:
        candidates["default threads, baseline"] = ({}, args.baseline.resolve())
    n_neighbours = len(os.sched_getaffinity(0))
    start = time.perf_counter()
    quiet, quiet_loads = measure(candidates, rounds, n_fits, 0)
    busy, busy_loads = measure(candidates, rounds, n_fits, n_neighbours)
    elapsed = time.perf_counter() - start
    rows = (_rows(quiet, "quiet", "one thread")
            + _rows(busy, f"{n_neighbours} neighbours", "one thread"))
    busy_x = np.median(busy["default threads"]["wall"]) / np.median(busy["one thread"]["wall"])
    lines = [f"Busy: default threads / one thread = {busy_x:.2f}x (goal <= {GOAL_BUSY_X}x)."]
    if args.baseline is not None:
        quiet_x = (np.median(quiet["default threads"]["wall"])
                   / np.median(quiet["default threads, baseline"]["wall"]))
        lines.append(f"Quiet: default threads / baseline's default threads = {quiet_x:.2f}x "
                     "(goal <= 1x, within the noise).")
    summary = "\n".join(lines)
    print(summary)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    baseline = ("" if args.baseline is None else
                "\"baseline\" is the same fit by another checkout of skmoe (the code before "
                "this change), given with `--baseline`.\n")
    text = f"""# bench_busy results

Recorded {date} by `python benchmarks/bench_busy.py{" --quick" if args.quick else ""}`
(total {elapsed:.0f} s). Load average (1, 5, 15 min) before and after the quiet
measurements: {" / ".join(quiet_loads)}; with the neighbours: {" / ".join(busy_loads)}.
The "neighbours" are {n_neighbours} CPU-bound Python processes (`{NEIGHBOUR}`), one per core
this process may run on, started by the script. "Quiet" only means without them: other
processes on this shared machine were running too (see the load average).

`MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)` on
`make_switching_regression(n_samples=20,000, n_features=5, n_experts=3, random_state=0)`;
each candidate in a fresh process ({rounds} processes x {n_fits} timed fits, after one
untimed fit), the candidates taking turns. "one thread" runs with
`OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1`. CPU seconds are the
process's user + system time during a fit (all its threads). The last column is the median
wall time over that of "one thread" under the same condition.
{baseline}
{_table(["condition", "candidate", "median (s)", "best (s)", "CPU s (median)",
         "/ one thread"], rows)}

{summary}

{machine_section(machine_info(), blas_info())}"""
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
