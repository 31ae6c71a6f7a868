"""warm_up compiles every kernel with the argument types the estimators use."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, _fastmath
from skmoe.__main__ import main
from skmoe._warmup import PROCESS_GROUPS, SIGNATURES, public_kernels, warm_up
from skmoe.datasets import make_gated_classification, make_switching_regression

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _public_kernels():
    kernels = public_kernels()
    # The Gram algebra moved to _linear; exp and log are private to _fastmath.
    assert {"e_step", "solve_gram_stack", "weighted_design_block"} <= set(kernels)
    assert not any(name in kernels for name in vars(_fastmath))
    return kernels


def _compiled():
    return {name: set(kernel.signatures) for name, kernel in _public_kernels().items()}


def test_every_public_kernel_is_warmed_up():
    assert set(SIGNATURES) == set(_public_kernels())
    seconds = warm_up()
    assert set(seconds) == set(SIGNATURES)
    for name, signatures in SIGNATURES.items():
        assert len(_public_kernels()[name].signatures) >= len(signatures)


def test_fits_and_predictions_after_warm_up_compile_nothing():
    warm_up()
    before = _compiled()
    X, y = make_switching_regression(n_samples=300, n_features=3, n_experts=3, random_state=0)
    for experts in (None, LinearRegression()):
        model = MixtureOfExpertsRegressor(experts, n_experts=3, n_init=2, top_k=2, max_iter=5,
                                          random_state=0).fit(X, y)
        model.predict(X)
        model.predict_quantiles(X[:5])
    X, y = make_gated_classification(n_samples=300, n_features=3, n_experts=2, n_classes=3,
                                     random_state=0)
    MixtureOfExpertsClassifier(n_experts=2, max_iter=5, random_state=0).fit(X, y).predict(X)
    MixtureOfExpertsClassifier(n_experts=2, max_iter=5, random_state=0).fit(X, y > 0)
    assert _compiled() == before


def test_warmup_command_reports_every_kernel(capsys):
    assert main(["warmup"]) == 0
    out = capsys.readouterr().out
    for name in SIGNATURES:
        assert f"{name}: " in out
    assert f"{len(SIGNATURES)} kernels ready in" in out
    assert np.isfinite(float(out.strip().splitlines()[-1].split(" in ")[1].split()[0]))


def _run(code, **env):
    """Run ``code`` in a new Python process that imports this checkout's skmoe."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), **env}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


_LOADED = ("import skmoe; from skmoe._warmup import public_kernels; "
           "print(sum(len(k.signatures) for k in public_kernels().values()))")


def test_import_loads_every_cached_kernel_and_compiles_none(tmp_path):
    # An empty cache: the import compiles nothing (the first fit would).
    assert _run(_LOADED, NUMBA_CACHE_DIR=str(tmp_path)) == "0"
    # This process's cache holds every kernel after warm_up: a new process has
    # them all once imported.
    warm_up()
    n_signatures = sum(len(signatures) for signatures in SIGNATURES.values())
    assert _run(_LOADED) == str(n_signatures)


_TWO_PROCESSES = (
    "import json; from skmoe import _warmup;"
    "_warmup.SIGNATURES = {n: _warmup.SIGNATURES[n] for n in "
    "('penalise_gate_loss', 'penalise_gate_hessian')};"
    "_warmup.PROCESS_GROUPS = (('penalise_gate_loss',), ('penalise_gate_hessian',));"
    "{before}"
    "seconds = _warmup.warm_up(processes=2); kernels = _warmup.public_kernels();"
    "print(json.dumps([sorted(seconds)] + [[sum(k.stats.cache_misses.values()), "
    "sum(k.stats.cache_hits.values()), len(k._cache._cache_file._load_index())] "
    "for k in (kernels['penalise_gate_loss'], kernels['penalise_gate_hessian'])]))")


def test_warm_up_in_two_processes_compiles_each_group_once(tmp_path):
    # Two small kernels, one per process: the other process compiles its group
    # into the cache, this one compiles the first group and neither compiles
    # nor loads the second (Numba counts a compilation as a cache miss and a
    # load as a hit); both are in the cache.
    code = _TWO_PROCESSES.replace("{before}", "")
    seconds, first, second = json.loads(_run(code, NUMBA_CACHE_DIR=str(tmp_path)))
    assert seconds == ["penalise_gate_hessian", "penalise_gate_loss"]
    assert first == [1, 0, 1]
    assert second == [0, 0, 1]


def test_warm_up_compiles_what_a_failed_process_left(tmp_path):
    # The other process fails: this one compiles its group.
    code = _TWO_PROCESSES.replace(
        "{before}", "import subprocess, sys; _warmup._start_group = lambda names: "
        "subprocess.Popen([sys.executable, '-c', 'raise SystemExit(1)'], "
        "stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True);")
    seconds, first, second = json.loads(_run(code, NUMBA_CACHE_DIR=str(tmp_path)))
    assert seconds == ["penalise_gate_hessian", "penalise_gate_loss"]
    assert first == [1, 0, 1]
    assert second == [1, 0, 1]


def test_every_kernel_is_in_one_process_group():
    groups = [name for group in PROCESS_GROUPS for name in group]
    assert sorted(groups) == sorted(SIGNATURES)


_HEAVY = ("sklearn", "pandas", "scipy.special", "skmoe._regressor", "skmoe.compare")


def test_package_and_kernels_import_without_scikit_learn_pandas_or_scipy_special():
    # The warm-up's processes import these and nothing heavier; the estimators
    # (and scikit-learn) come on first access.
    code = ("import sys, skmoe, skmoe._warmup; "
            f"print(sorted(m for m in {_HEAVY!r} if m in sys.modules)); "
            "from skmoe import MixtureOfExpertsRegressor; "
            "print(MixtureOfExpertsRegressor.__module__, 'sklearn' in sys.modules)")
    heavy, estimator = _run(code).splitlines()
    assert heavy == "[]"
    assert estimator == "skmoe._regressor True"


def test_package_names_resolve_lazily():
    import skmoe

    for name in skmoe.__all__:
        assert getattr(skmoe, name) is not None
        assert name in dir(skmoe)
    assert MixtureOfExpertsRegressor is skmoe.MixtureOfExpertsRegressor
    assert MixtureOfExpertsClassifier is skmoe.MixtureOfExpertsClassifier
    with pytest.raises(AttributeError, match="module 'skmoe' has no attribute 'Mixture'"):
        skmoe.Mixture  # noqa: B018


# The cached functions: the kernels' modules and the helpers they call.
_CACHE_COUNTS = """
import json
from numba.core.registry import CPUDispatcher
from skmoe import _fastmath, _special
from skmoe._warmup import KERNEL_MODULES
counts = {}
for module in (*KERNEL_MODULES, _special, _fastmath):
    for name, function in vars(module).items():
        function = getattr(function, "serial_kernel", function)
        if isinstance(function, CPUDispatcher) and function.__module__ == module.__name__:
            key = f"{module.__name__}.{function.__name__}"
            counts[key] = len(function._cache._cache_file._load_index())
print(json.dumps(counts))
"""


def test_warmup_command_compiles_every_kernel_once_without_scikit_learn(tmp_path):
    # The whole command in a new process with an empty cache: its process
    # imports neither scikit-learn nor pandas (the other one's modules are
    # checked above), and every kernel lands in the cache with the signatures
    # of SIGNATURES, each compiled function with one signature only.
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "NUMBA_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "skmoe", "warmup"],
                          env=env, capture_output=True, text=True, check=True, cwd=root)
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "skmoe._warmup" in imported
    assert not {name for name in imported if name.split(".")[0] in ("sklearn", "pandas")}
    lines = done.stdout.splitlines()
    assert lines[-1].startswith(f"{len(SIGNATURES)} kernels ready in ")
    assert sum(line.endswith("(other process)") for line in lines) == len(PROCESS_GROUPS[1])
    assert any(line.startswith("the other process: ") for line in lines)
    counts = json.loads(_run(_CACHE_COUNTS, NUMBA_CACHE_DIR=str(tmp_path)))
    kernels = public_kernels()
    for name, signatures in SIGNATURES.items():
        kernel = kernels[name]
        assert counts.pop(f"{kernel.__module__}.{kernel.__name__}") == len(signatures), name
    # Helpers the kernels call, compiled with them: one signature each.
    assert set(counts.values()) <= {0, 1}, {name: n for name, n in counts.items() if n > 1}
    assert sum(counts.values()) > 40
