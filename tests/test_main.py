"""The command line, end to end in subprocesses, and its argument handling in process."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skmoe.__main__ import build_parser, main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _csv(directory, name, text):
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _numeric_rows(n=12, seed=0):
    rng = np.random.RandomState(seed)
    return "\n".join(f"{a:.3f},{b:.3f},{a + b:.3f}" for a, b in rng.normal(size=(n, 2)))


def _command():
    """The installed console script when there is one, else ``python -m skmoe``."""
    script = Path(sys.executable).with_name("skmoe")
    return [str(script)] if script.exists() else [sys.executable, "-m", "skmoe"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Start every command at once (they spend most of their time importing), then collect.

    Returns a dict: case -> (exit status, stdout, stderr), plus the output directory of
    the successful run under "out_dir".
    """
    data = tmp_path_factory.mktemp("data")
    out_dir = tmp_path_factory.mktemp("out") / "results"
    iris = pd.read_csv(_csv(data, "seed.csv", "a,b,c,species\n" + "\n".join(
        f"{i % 7 * 0.5 + s},{(i * 3) % 5 - s},{i % 3 + 2 * s},{name}"
        for s, name in enumerate(["setosa", "versicolor", "virginica"]) for i in range(12)
    )))
    labelled = data / "labelled.csv"
    iris.to_csv(labelled, index=False)
    python_m = [sys.executable, "-m", "skmoe", "compare"]
    cases = {
        "generated": python_m + ["--n-samples", "150", "--cv", "2", "--estimators",
                                 "linear,moe_linear", "--seed", "1", "--out", str(out_dir)],
        "csv_script": _command() + ["compare", "--csv", str(labelled), "--target", "species",
                                    "--cv", "3", "--estimators", "linear", "tree", "--quiet"],
        "missing_target": python_m + [
            "--csv", _csv(data, "a.csv", "a,b,y\n" + _numeric_rows()), "--target", "nope"],
        "non_numeric": python_m + [
            "--csv", _csv(data, "b.csv", "a,city,y\n1,paris,2\n2,rome,3\n3,oslo,1\n"),
            "--target", "y"],
        "empty": python_m + ["--csv", _csv(data, "c.csv", ""), "--target", "y"],
        "one_class": python_m + [
            "--csv", _csv(data, "d.csv", "a,y\n1,x\n2,x\n3,x\n4,x\n5,x\n6,x\n"),
            "--target", "y"],
    }
    env = {**os.environ, "MPLBACKEND": "Agg"}
    started = {
        case: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True, cwd=data, env=env)
        for case, command in cases.items()
    }
    results = {case: (process.wait(timeout=300), *process.communicate())
               for case, process in started.items()}
    results["out_dir"] = out_dir
    return results


def test_compare_writes_the_table_and_its_files(runs):
    status, out, err = runs["generated"]
    assert status == 0, err
    assert err == ""  # not a terminal: no progress bar
    assert "150 rows x 4 features, regression; 2 estimators, 2-fold cross-validation" in out
    assert "estimator" in out and "log-likelihood" in out
    # The data come from a gated mixture of linear experts: the mixture of linear experts
    # must win, not merely be named in a verdict (both verdicts start the same way).
    assert ("Verdict: a mixture of experts wins on R²: moe_linear leads the best other family "
            "(linear, single model) by ") in out
    out_dir = runs["out_dir"]
    table = pd.read_csv(out_dir / "results.csv", index_col="estimator")
    assert set(table.index) == {"linear", "moe_linear"}
    assert {"family", "r2_mean", "r2_std", "log_likelihood_mean", "fit_time"} <= set(table)
    report = (out_dir / "results.md").read_text(encoding="utf-8")
    assert report.startswith("# skmoe compare: switching_regression, 150 rows, 2-fold CV")
    assert "| moe_linear | mixture of experts |" in report
    assert "## Verdict" in report
    assert (out_dir / "results.png").read_bytes()[:8] == PNG_MAGIC


def test_console_script_on_a_csv_with_label_target(runs):
    status, out, err = runs["csv_script"]
    assert status == 0, err
    assert err == ""
    assert "compare:" not in out  # --quiet drops the header
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["estimator", "family", "accuracy", "log-loss"]
    assert {line.split()[0] for line in lines[1:3]} == {"linear", "tree"}
    assert lines[-1].startswith("Verdict: tree") or lines[-1].startswith("Verdict: linear")


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_target", "a.csv: no column named 'nope'; its columns are: a, b, y. Pass one "
                           "of them to --target."),
        ("non_numeric", "b.csv: feature columns 'city' are not numeric; encode them as "
                        "numbers (e.g. one-hot) or drop them."),
        ("empty", "c.csv: the file is empty; it needs a header row and data rows."),
        ("one_class", "d.csv: target column 'y' has a single value ('x'): there is nothing "
                      "to predict or compare."),
    ],
)
def test_bad_input_is_one_line_and_status_2(runs, case, message):
    status, out, err = runs[case]
    assert status == 2
    assert out == ""
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("python -m skmoe compare: error: ")  # the name it was called by
    assert message in err


# ----------------------------------------------------------- in process
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--dataset", "mnist"], "unknown dataset 'mnist'; choose one of: switching_regression"),
        (["--dataset", "data/prices.csv"],
         "--dataset takes the name of a data set, and 'data/prices.csv' is a file path; read "
         "a CSV file with --csv data/prices.csv --target COLUMN."),
        # argparse reads --data as an abbreviation of --dataset.
        (["--data", "prices.csv"],
         "--dataset takes the name of a data set, and 'prices.csv' is a file path; read a "
         "CSV file with --csv prices.csv --target COLUMN."),
        (["--csv", "x.csv"], "--csv needs --target COLUMN"),
        (["--target", "y"], "--target goes with --csv"),
        (["--dataset", "diabetes", "--n-samples", "50"],
         "--n-samples applies to the generated data sets only, not to 'diabetes'"),
        (["--n-samples", "20", "--cv", "30"], "the data has 20 rows, fewer than --cv 30 folds"),
        (["--scoring", "accuracy"], "unknown score 'accuracy' for regression; choose from: "
                                    "r2, rmse, mae, max_error, log_likelihood."),
        (["--estimators", "linear,nope"], "unknown estimator 'nope' for regression; choose "
                                          "from: linear, tree,"),
        (["--csv", "missing.csv", "--target", "y"],
         "missing.csv: no such file; check the path given to --csv."),
    ],
)
def test_main_reports_bad_arguments(argv, message, capsys):
    assert main(["compare", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_main_refuses_rare_classes_and_missing_values(tmp_path, capsys):
    rare = _csv(tmp_path, "rare.csv", "a,y\n" + "\n".join(
        f"{i},{'b' if i == 0 else 'a'}" for i in range(10)))
    assert main(["compare", "--csv", rare, "--target", "y", "--cv", "3"]) == 2
    assert "class 'b' has only 1 rows, fewer than --cv 3 folds" in capsys.readouterr().err
    holes = _csv(tmp_path, "holes.csv", "a,b,y\n1,,2\n2,3,3\n3,4,1\n4,5,2\n")
    assert main(["compare", "--csv", holes, "--target", "y", "--cv", "2"]) == 2
    assert "feature columns 'b' have missing values" in capsys.readouterr().err
    header = _csv(tmp_path, "header.csv", "a,y\n")
    assert main(["compare", "--csv", header, "--target", "y"]) == 2
    assert "has a header but no data rows" in capsys.readouterr().err


def test_main_refuses_files_too_small_for_the_folds_up_front(tmp_path, capsys):
    # A one-row file was blamed on its target; a two-row one exited 1 after a fit failed.
    one = _csv(tmp_path, "one.csv", "a,y\n1,2.5\n")
    assert main(["compare", "--csv", one, "--target", "y"]) == 2
    err = capsys.readouterr().err
    assert "one.csv: has a single data row: there is nothing to cross-validate" in err
    assert len(err.strip().splitlines()) == 1
    two = _csv(tmp_path, "two.csv", "a,y\n1,2.5\n2,3.5\n")
    assert main(["compare", "--csv", two, "--target", "y", "--cv", "2"]) == 2
    assert ("the data has 2 rows: with --cv 2 the smallest training fold has 1 rows, fewer "
            "than the 20 that stacking") in capsys.readouterr().err
    assert main(["compare", "--csv", two, "--target", "y", "--cv", "2", "--estimators",
                 "linear"]) == 2
    assert ("fewer than the 3 that the out-of-fold residual variance (3 inner folds) needs"
            in capsys.readouterr().err)
    rows = "\n".join(f"{i},{i % 7 * 0.5}" for i in range(12))
    small = _csv(tmp_path, "small.csv", "a,y\n" + rows + "\n")
    assert main(["compare", "--csv", small, "--target", "y", "--cv", "2", "--n-experts",
                 "8", "--estimators", "moe_linear"]) == 2
    assert ("the smallest training fold has 6 rows, fewer than the 8 that moe_linear "
            "(--n-experts 8) needs") in capsys.readouterr().err


def test_main_runs_a_small_comparison_in_process(tmp_path, capsys):
    status = main(["compare", "--dataset", "gated-classification", "--n-samples", "90",
                   "--cv", "2", "--estimators", "linear", "tree", "--scoring", "log_loss",
                   "accuracy", "--quiet"])
    assert status == 0
    out = capsys.readouterr().out
    header = out.strip().splitlines()[0].split()
    assert header[:4] == ["estimator", "family", "log-loss", "accuracy"]
    assert "Best of each family on log-loss" in out


def test_parser_options_and_demo_alias():
    args = build_parser().parse_args(["demo"])
    assert args.command == "demo"
    assert (args.dataset, args.cv, args.seed, args.out, args.quiet) == (None, 5, 0, None, False)
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["compare", "--cv", "1"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        build_parser().parse_args(["compare", "--dataset", "iris", "--csv", "x.csv"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["compare", "--n-jobs", "0"])
