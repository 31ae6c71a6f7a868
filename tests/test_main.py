"""The command line, end to end in subprocesses, and its argument handling in process."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import skmoe
from skmoe.__main__ import build_parser, main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _csv(directory, name, text):
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _numeric_rows(n=12, seed=0):
    rng = np.random.RandomState(seed)
    return "\n".join(f"{a:.3f},{b:.3f},{a + b:.3f}" for a, b in rng.normal(size=(n, 2)))


def _untidy_csv(path, sep=";"):
    """A CSV file as a user brings it: a string column, missing values, a count target.

    ``visits`` is a count with 12 distinct values (0 to 11): a number to regress on,
    not 12 classes.
    """
    rng = np.random.RandomState(0)
    n = 240
    city = rng.choice(["paris", "rome", "oslo"], n)
    x = rng.normal(size=n)
    visits = np.minimum(rng.poisson(np.exp(0.3 + 0.6 * x + 0.8 * (city == "rome"))), 11)
    frame = pd.DataFrame({"x": x.round(3), "z": rng.normal(size=n).round(3), "city": city,
                          "visits": visits})
    frame.loc[rng.rand(n) < 0.1, "z"] = np.nan
    frame.loc[rng.rand(n) < 0.05, "city"] = np.nan
    assert frame["visits"].nunique() == 12
    frame.to_csv(path, sep=sep, index=False)
    return frame


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
        "untidy": python_m + ["--csv", str(data / "untidy.csv"), "--sep", ";", "--target",
                              "visits", "--cv", "3", "--estimators",
                              "linear,hist_gradient_boosting,moe_linear"],
        "empty": python_m + ["--csv", _csv(data, "c.csv", ""), "--target", "y"],
        "one_class": python_m + [
            "--csv", _csv(data, "d.csv", "a,y\n1,x\n2,x\n3,x\n4,x\n5,x\n6,x\n"),
            "--target", "y"],
    }
    _untidy_csv(data / "untidy.csv")
    # The subprocesses import the skmoe under test, wherever it was imported from.
    package_root = str(Path(skmoe.__file__).resolve().parents[1])
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [package_root,
                                                       os.environ.get("PYTHONPATH")]))}
    started = {
        case: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True, cwd=data, env=env)
        for case, command in cases.items()
    }
    results = {case: (process.wait(timeout=300), *process.communicate())
               for case, process in started.items()}
    results["out_dir"] = out_dir
    results["data_dir"] = data
    return results


def test_compare_writes_the_table_and_its_files(runs):
    status, out, err = runs["generated"]
    assert status == 0, err
    # Not a terminal: a progress line as the comparison starts and one per estimator.
    progress = err.splitlines()
    assert progress[0] == "compare: 2 estimators x 2 folds"
    assert progress[1].startswith("compare: [1/2] linear: 2 folds, ")
    assert progress[2].startswith("compare: [2/2] moe_linear: 2 folds, ")
    assert progress[2].endswith(" s of fitting and scoring")
    assert len(progress) == 3
    assert "150 rows x 4 features, regression; 2 estimators, 2-fold cross-validation" in out
    assert "Where each log-likelihood comes from:" in out
    assert ("  linear: no density of its own, so a Gaussian around the predictions whose "
            "variance is the mean squared out-of-fold residual on the training fold (3 inner "
            "folds).") in out
    assert "  moe_linear: the model's own density (score_samples)." in out
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
    # The markdown table, as pandas writes it (cells padded to the column's width).
    rows = [line for line in report.splitlines() if line.startswith("| moe_linear ")]
    assert len(rows) == 1
    assert [cell.strip() for cell in rows[0].strip("|").split("|")][:2] == [
        "moe_linear", "mixture of experts"]
    assert report.count("| linear ") == 1
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
        # compare's own checks, reported as they are, before anything is fitted.
        (["--n-samples", "20", "--cv", "30"],
         "error: cv=30 folds need at least 30 rows, got n_samples=20."),
        # The command line leaves the folds' and jobs' ranges to compare.
        (["--n-samples", "20", "--cv", "1"],
         "error: The 'cv' parameter of compare must be an int in the range [2, inf)"),
        (["--n-samples", "40", "--n-jobs", "0"],
         "error: The 'n_jobs' parameter of compare must be"),
        (["--scoring", "accuracy"], "error: scoring contains 'accuracy', which is not a "
                                    "regression score; choose from ['r2', 'rmse', 'mae', "
                                    "'max_error', 'log_likelihood']."),
        (["--dataset", "iris", "--sep", ";"], "--sep goes with --csv."),
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


def test_main_refuses_rare_classes(tmp_path, capsys):
    rare = _csv(tmp_path, "rare.csv", "a,y\n" + "\n".join(
        f"{i},{'b' if i == 0 else 'a'}" for i in range(10)))
    assert main(["compare", "--csv", rare, "--target", "y", "--cv", "3"]) == 2
    assert "class 'b' has only 1 rows, fewer than --cv 3 folds" in capsys.readouterr().err
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


def test_main_refuses_one_row_test_folds_when_r2_is_scored(tmp_path, capsys, monkeypatch):
    # --cv as large as the rows (leave-one-out) scored every fold's R² on one row:
    # the table and its verdict ranked the estimators on NaN, with exit status 0.
    rows = "\n".join(f"{i},{(i * 7) % 5 * 0.5}" for i in range(6))
    small = _csv(tmp_path, "six.csv", "a,y\n" + rows + "\n")
    monkeypatch.setattr("skmoe.compare.cross_validate_each", _no_fits)
    assert main(["compare", "--csv", small, "--target", "y", "--cv", "6", "--estimators",
                 "linear"]) == 2
    err = capsys.readouterr().err
    assert ("r2 needs at least 2 rows in every test fold, but the smallest of the 6 folds "
            "has 1 row: the R² of one row is undefined. Use fewer folds, or leave r2 out "
            "of scoring.") in err
    assert len(err.strip().splitlines()) == 1
    monkeypatch.undo()
    # Without R², one-row test folds are scored.
    assert main(["compare", "--csv", small, "--target", "y", "--cv", "6", "--estimators",
                 "linear", "--scoring", "rmse", "--quiet"]) == 0
    assert "nan" not in capsys.readouterr().out


def test_main_refuses_a_target_whose_squares_the_scores_cannot_hold(tmp_path, capsys,
                                                                    monkeypatch):
    # y of 1e160 exited 1 after moe_linear failed on a fold, or 0 with NaN scores for
    # the other estimators.
    # The message names the CSV's column, as the other checks of the target do.
    rows = "\n".join(f"{i},{(i * 7) % 5 * 1e160}" for i in range(40))
    huge = _csv(tmp_path, "huge.csv", "a,price\n" + rows + "\n")
    monkeypatch.setattr("skmoe.compare.cross_validate_each", _no_fits)
    assert main(["compare", "--csv", huge, "--target", "price", "--estimators", "linear"]) == 2
    assert (f"{huge}: target column 'price' has a standard deviation of 1.41e+160, outside "
            "[1e-152, 1e+152]: r2, rmse, log_likelihood square it, beyond float64 (NaN "
            "scores). Divide target column 'price' by 1e160" in capsys.readouterr().err)
    # With scores that do not square it, the target is accepted.
    monkeypatch.undo()
    assert main(["compare", "--csv", huge, "--target", "price", "--estimators", "linear",
                 "--scoring", "mae", "--quiet"]) == 0


def _no_fits(*args, **kwargs):
    raise AssertionError("an estimator was cross-validated before the folds were checked")


def test_a_column_of_row_names_is_refused(tmp_path, capsys):
    # It was one-hot encoded, one category per row, and fitted as features.
    rows = "\n".join(f"car {i},{i % 7},{2 * (i % 7) + 1}" for i in range(30))
    path = _csv(tmp_path, "named.csv", "model,x,y\n" + rows + "\n")
    assert main(["compare", "--csv", path, "--target", "y", "--estimators", "linear",
                 "--cv", "3", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert ("X's column 'model' is not numeric and holds a different value on every row "
            "(e.g. 'car 0', 'car 1'), as an identifier does") in err
    assert len(err.strip().splitlines()) == 1


def test_numbers_with_decimal_commas_are_refused_unless_decimal_is_given(tmp_path, capsys):
    # Read as text, such features were one-hot encoded (one category per number) and
    # such a target taken for class labels: "class '-0,2317' has only 1 rows".
    rng = np.random.RandomState(0)
    values = rng.normal(size=(40, 2)).round(4)
    target = (2 * values[:, 0] - values[:, 1]).round(4)
    points = "\n".join(f"{a};{b};{c}" for (a, b), c in zip(values, target))
    commas = _csv(tmp_path, "commas.csv", "a;b;y\n" + points.replace(".", ",") + "\n")
    plain = _csv(tmp_path, "points.csv", "a;b;y\n" + points + "\n")
    args = ["--target", "y", "--sep", ";", "--estimators", "linear", "--cv", "2", "--quiet"]
    assert main(["compare", "--csv", commas, *args]) == 2
    err = capsys.readouterr().err
    assert (f"commas.csv: column 'a' holds numbers written with a decimal comma (e.g. "
            f"'{str(values[0, 0]).replace('.', ',')}'), which would be read as text; pass "
            "--decimal ','.") in err
    assert main(["compare", "--csv", commas, "--decimal", ",", *args]) == 0
    with_commas = capsys.readouterr().out.splitlines()
    assert main(["compare", "--csv", plain, *args]) == 0
    with_points = capsys.readouterr().out.splitlines()
    # The same scores (the table's row up to the fit and predict times) and verdicts.
    assert with_commas[2].split()[:12] == with_points[2].split()[:12]
    assert with_commas[3:] == with_points[3:]
    assert main(["compare", "--dataset", "diabetes", "--decimal", ","]) == 2
    assert "--decimal goes with --csv" in capsys.readouterr().err


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
        build_parser().parse_args(["compare", "--cv", "two"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        build_parser().parse_args(["compare", "--dataset", "iris", "--csv", "x.csv"])


# ------------------------------------------------------- untidy data, --sep, --out
def test_compare_on_an_untidy_csv(runs):
    status, out, err = runs["untidy"]
    assert status == 0, err
    frame = pd.read_csv(runs["data_dir"] / "untidy.csv", sep=";")
    n_missing = int(frame["z"].isna().sum())
    assert n_missing > 0 and frame["city"].isna().any()
    assert "240 rows x 3 features, regression; 3 estimators, 3-fold cross-validation" in out
    assert "Preprocessing of the features, fitted on each training fold:" in out
    assert "  one-hot encoded for every model: 'city' (4 values)" in out
    assert (f"  missing values in 'z' ({n_missing} rows): replaced by the training fold's "
            "column median "
            "for linear, moe_linear; left to hist_gradient_boosting, which handles them") in out
    table = out.split("\n\n")[1].splitlines()
    assert table[0].split()[:3] == ["estimator", "family", "R²"]
    assert {line.split()[0] for line in table[1:]} == {
        "linear", "hist_gradient_boosting", "moe_linear"}
    assert "Where each log-likelihood comes from:" in out
    assert err.splitlines()[0] == "compare: 3 estimators x 3 folds"
    assert len(err.splitlines()) == 4


def test_a_semicolon_file_read_without_sep_gets_a_hint(tmp_path, capsys):
    path = tmp_path / "semi.csv"
    _untidy_csv(path)
    assert main(["compare", "--csv", str(path), "--target", "visits"]) == 2
    err = capsys.readouterr().err
    assert ("semi.csv: no column named 'visits'; its columns are: x;z;city;visits. Pass one of "
            "them to --target. The header holds ';': is that the separator (--sep)?") in err


def test_out_is_checked_before_anything_is_fitted(tmp_path, capsys):
    taken = tmp_path / "taken.csv"
    taken.write_text("not a directory\n", encoding="utf-8")
    assert main(["compare", "--n-samples", "100", "--out", str(taken)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"python -m skmoe compare: error: --out {taken}: is a file; give a "
                            "directory to write the results to.\n")
    below = taken / "results"
    assert main(["compare", "--n-samples", "100", "--out", str(below)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"python -m skmoe compare: error: --out {below}: {taken} is a "
                            "file, so the directory cannot be created.\n")
    assert not below.exists()


def test_help_states_the_rule_that_decides_the_task(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert ("strings, booleans and categories are class labels; integers (or whole-number "
            "floats) with at most 10 distinct values are class labels; any other numbers, "
            "such as a count with 12 values, are a regression target") in text
    assert "--sep CHAR" in text


def test_a_tab_separated_file_with_sep_backslash_t(tmp_path, capsys):
    path = tmp_path / "tabs.tsv"
    _untidy_csv(path, sep="\t")
    status = main(["compare", "--csv", str(path), "--sep", "\\t", "--target", "visits",
                   "--cv", "2", "--estimators", "linear", "--quiet"])
    assert status == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["estimator", "family", "R²"]
    assert lines[1].split()[:3] == ["linear", "single", "model"]
