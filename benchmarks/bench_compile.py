"""The compile tax: cold, cached and steady fit times, each in a fresh process (issue 14).

Not a test: it measures, prints tables and records the figures. Every
measurement runs in a new Python process (this script with ``--child``), so
that nothing compiled or loaded by one measurement helps the next; the Numba
cache of the cold runs is a new temporary directory (``NUMBA_CACHE_DIR``):

1. compiling every kernel with an empty cache: in one process
   (``skmoe._warmup.warm_up()``), seconds and CPU seconds per kernel; and the
   whole ``python -m skmoe warmup`` command (two processes on a machine with
   two cores), wall and CPU seconds, the goal's figure;
2. fits of ``MixtureOfExpertsRegressor(n_experts=3, random_state=0)`` on
   ``make_switching_regression(n_samples=20,000, n_features=5, n_experts=3)``
   in a new process: the first, the second, and the steady state (best of the
   later fits in the same process), with an empty cache (cold: the first fit
   compiles), with the cache of step 1 (cached), and with the cache after
   ``warm_up()`` (what ``compare`` and the benchmarks do before timing);
3. the import of skmoe, and the load of every kernel from the cache.

Baselines: the steady-state fit measured in the same process (goal: the
first fit with the cache present within 1.5x of it; compiling every kernel
within 15 s); with ``--baseline DIR``, the same warm-up command and cached
fits by another checkout of skmoe (the code before a change), in the same run.

Usage::

    python benchmarks/bench_compile.py            # full run, writes results/bench_compile.md
    python benchmarks/bench_compile.py --quick    # no cold fit run, fewer fits; prints only
    python benchmarks/bench_compile.py --baseline ../main   # also the code before a change
"""

import datetime
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "bench_compile.md"
GOAL_COMPILE_S = 15.0
GOAL_FIRST_X = 1.5


# ---------------------------------------------------------------------- child
def child(mode, n_fits):
    """One measurement in this (fresh) process; prints a JSON line."""
    wall, cpu = time.perf_counter(), time.process_time()
    import warnings

    import skmoe
    from skmoe import MixtureOfExpertsRegressor
    from skmoe._warmup import SIGNATURES
    from skmoe.datasets import make_switching_regression

    result = {"import_s": time.perf_counter() - wall, "import_cpu_s": time.process_time() - cpu,
              "skmoe": skmoe.__version__}
    if mode == "warmup":
        from skmoe._warmup import public_kernels

        dispatchers = public_kernels()
        kernels = {}
        for name, signatures in SIGNATURES.items():
            wall, cpu = time.perf_counter(), time.process_time()
            for signature in signatures:
                dispatchers[name].compile(signature)
            kernels[name] = [time.perf_counter() - wall, time.process_time() - cpu]
        result["kernels"] = kernels
    X, y = make_switching_regression(n_samples=20_000, n_features=5, n_experts=3,
                                     random_state=0)
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n_fits):
            start = time.perf_counter()
            MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
            fits.append(time.perf_counter() - start)
    result["fits"] = fits
    print(json.dumps(result))


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _whole_warm_up(cache_dir, root=None):
    """A new process running ``python -m skmoe warmup`` from the checkout ``root``
    (default: this one): wall and CPU seconds (with the processes it starts), and
    the CPU seconds that the command prints for its own process and for the other
    one (None where it prints none: the code before it did not)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    root = root or Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    wall, cpu = time.perf_counter(), _children_cpu()
    # From the checkout's root, so that ``-m skmoe`` finds that checkout's package.
    out = subprocess.run([sys.executable, "-m", "skmoe", "warmup"], env=env, check=True,
                         cwd=root, capture_output=True, text=True).stdout
    wall, cpu = time.perf_counter() - wall, _children_cpu() - cpu
    own = re.search(r"\(([0-9.]+) CPU s in this process", out)
    other = re.search(r"the other process: ([0-9.]+) CPU s", out)
    return (wall, cpu, float(own.group(1)) if own else None,
            float(other.group(1)) if other else None)


def _load_average():
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _run_child(mode, cache_dir, n_fits, root=None):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    root = root or Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(n_fits)],
                         env=env, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - start
    return result


# ----------------------------------------------------------------- reporting
def _fit_row(label, result):
    fits = result["fits"]
    steady = min(fits[2:]) if len(fits) > 2 else float("nan")
    warm = sum(cpu for _, cpu in result["kernels"].values()) if "kernels" in result else None
    warm_wall = sum(w for w, _ in result["kernels"].values()) if "kernels" in result else None
    return [label, f"{result['import_s']:.2f}",
            "-" if warm is None else f"{warm_wall:.2f} ({warm:.2f} CPU)",
            f"{fits[0]:.3f}", f"{fits[1]:.3f}", f"{steady:.3f}",
            f"{fits[0] / steady:.2f}x", f"{fits[1] / steady:.2f}x", f"{result['process_s']:.1f}"]


def _split(whole):
    """The command's CPU seconds per process, as it printed them."""
    if whole[2] is None:
        return ""
    return (f": {whole[2]:.1f} in the command's own process and {whole[3]:.1f} in the other "
            "one, imports included")


def _commit(checkout):
    """The short commit of a git checkout (the baseline named by its code, not its path)."""
    result = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def report(args, cold_warmup, whole, runs, machine, blas, loads, elapsed, baseline_whole=None):
    from bench_estep import _markdown_table as _table
    from bench_estep import machine_section

    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    kernels = cold_warmup["kernels"]
    kernel_rows = [[name, f"{wall:.2f}", f"{cpu:.2f}"] for name, (wall, cpu) in kernels.items()]
    total_wall = sum(w for w, _ in kernels.values())
    total_cpu = sum(c for _, c in kernels.values())
    kernel_rows.append(["**all**", f"**{total_wall:.2f}**", f"**{total_cpu:.2f}**"])
    fit_rows = [_fit_row(label, result) for label, result in runs]
    baseline_text = "" if baseline_whole is None else (
        f" The same command by the baseline checkout (git {_commit(args.baseline)}, the code "
        f"before this "
        f"change), in the same run: {baseline_whole[0]:.1f} s wall "
        f"({baseline_whole[0] / whole[0]:.2f}x this one's), {baseline_whole[1]:.1f} CPU "
        f"seconds ({baseline_whole[1] / whole[1]:.2f}x){_split(baseline_whole)}.")
    header = ["process", "import skmoe (s)", "warm_up() (s)", "1st fit (s)", "2nd fit (s)",
              "steady fit (s)", "1st / steady", "2nd / steady", "whole process (s)"]
    return f"""# bench_compile results

Recorded {date} by `python benchmarks/bench_compile.py{" --quick" if args.quick else ""}`
(total {elapsed:.0f} s; load average at the start of each process: {"; ".join(loads)}).
Each row is one new Python process; "cold" processes have an empty `NUMBA_CACHE_DIR`.

## 1. Compiling every kernel, empty cache

Goal: all within {GOAL_COMPILE_S:.0f} s. **The whole command, `python -m skmoe warmup` in a new
process with an empty cache** (Python's and skmoe's imports included; it compiles in two
processes at once on this two-core machine, `skmoe._warmup.PROCESS_GROUPS`):
**{whole[0]:.1f} s wall**, {whole[1]:.1f} CPU seconds of all its processes{_split(whole)}
(load average at its start: {loads[1]}).{baseline_text}

In one process, `warm_up()` with an empty cache: each kernel of `skmoe._warmup.SIGNATURES`
compiled with the argument types the estimators use (wall seconds, and CPU seconds of the
process: Numba compiles on the calling thread, so the CPU seconds are what the compilation
costs on an idle core).

{_table(["kernel", "seconds", "CPU seconds"], kernel_rows)}

## 2. Fits in a new process

`MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)` on
`make_switching_regression(n_samples=20,000, n_features=5, n_experts=3, random_state=0)`,
{args.fits} fits in a row in each process; "steady" is the best of the fits after the second.
Goal: the first fit with the cache present within {GOAL_FIRST_X}x of the steady fit.

{_table(header, fit_rows)}

{machine_section(machine, blas)}"""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        # Nothing imported before the measurement: skmoe's import is part of it.
        child(argv[1], int(argv[2]))
        return
    from bench_estep import benchmark_parser, blas_info, machine_info

    parser = benchmark_parser(__doc__, RESULTS)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout of skmoe (the code before a change) whose "
                             "warm-up command and cached fits are measured too")
    args = parser.parse_args(argv)
    args.fits = 4 if args.quick else 6
    if args.output is None and not args.quick:
        args.output = RESULTS
    start = time.perf_counter()
    runs, loads = [], []
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as other:
        loads.append(_load_average())
        cold_warmup = _run_child("warmup", cache, args.fits)
        print(f"cold warm_up: {sum(c for _, c in cold_warmup['kernels'].values()):.1f} CPU s",
              flush=True)
        runs.append(("cold: warm_up() compiles everything, then fits", cold_warmup))
        with tempfile.TemporaryDirectory() as empty:
            loads.append(_load_average())
            whole = _whole_warm_up(empty)
        print(f"python -m skmoe warmup: {whole[0]:.1f} s, {whole[1]:.1f} CPU s", flush=True)
        if not args.quick:
            loads.append(_load_average())
            runs.append(("cold: fits only (the first compiles what it uses)",
                         _run_child("fits", other, args.fits)))
        loads.append(_load_average())
        runs.append(("cached: fits only", _run_child("fits", cache, args.fits)))
        loads.append(_load_average())
        runs.append(("cached: warm_up() loads everything, then fits",
                     _run_child("warmup", cache, args.fits)))
        baseline_whole = None
        if args.baseline is not None:
            with tempfile.TemporaryDirectory() as base_cache:
                loads.append(_load_average())
                baseline_whole = _whole_warm_up(base_cache, args.baseline.resolve())
                print(f"baseline python -m skmoe warmup: {baseline_whole[0]:.1f} s", flush=True)
                loads.append(_load_average())
                runs.append(("baseline, cached: fits only",
                             _run_child("fits", base_cache, args.fits,
                                        args.baseline.resolve())))
    for label, result in runs:
        print(label, " ".join(f"{t:.3f}" for t in result["fits"]), flush=True)
    text = report(args, cold_warmup, whole, runs, machine_info(), blas_info(), loads,
                  time.perf_counter() - start, baseline_whole)
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
