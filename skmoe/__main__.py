"""Command line: ``python -m skmoe compare`` (also installed as the ``skmoe`` script).

``compare`` cross-validates two mixtures of experts against a single linear
model, a decision tree, bagging, boosting and stacking on one data set, prints
the table with a verdict per family, and with ``--out DIR`` writes
``results.csv``, ``results.md`` and ``results.png`` there.

The default data set is ``switching_regression``: three linear regimes chosen
by a soft gate, with noise of standard deviation 0.1, 0.5 and 1.5. It is the
structure a mixture of linear experts assumes, so it is where the mixture
should win; the bundled real data sets (``diabetes``, ``breast_cancer``, ...)
show how it fares where that structure is not known to hold. ``demo`` is an
alias of ``compare``.

``warmup`` compiles the Numba kernels into their cache, once after installing.

A CSV file is read as it is: string and categorical columns are one-hot
encoded and missing values imputed (median) for the models that cannot take
them, the same preprocessing in front of every model; the terminal says what
was done. Errors in the input (a missing target column, an empty file, a
target with one value, an unwritable --out, ...) print one line and exit with
status 2, before anything is fitted.
"""

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

from ._warmup import command as warmup_command

if __name__ == "__main__" and sys.argv[1:] == ["warmup"]:
    # Before pandas, scikit-learn and the comparison are imported: the warm-up
    # needs the kernels' modules only, and starts compiling seconds sooner.
    sys.exit(warmup_command())

import numpy as np
import pandas as pd

from . import __version__
from ._density import DENSITY_NOTES
from ._tidy import describe
from .compare import (
    _MAX_CLASSES_AUTO,
    SCORES,
    _check_feature_scale,
    _check_scoring,
    _check_target_scale,
    _plain,
    check_target,
    compare,
    default_baselines,
    verdicts,
)
from .datasets import DATASETS, load_dataset

DEFAULT_DATASET = "switching_regression"


def _prog():
    """How the user called us: ``skmoe`` (the console script) or ``python -m skmoe``."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "skmoe" if name == "skmoe" else "python -m skmoe"


class CommandError(Exception):
    """A problem with the command's input: reported in one line, exit status 2."""


# ---------------------------------------------------------------------- the data
# Endings of file names that a named data set never has.
_FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".data", ".gz", ".zip", ".parquet", ".xlsx")


def _looks_like_path(name):
    """Whether a value given to --dataset names a file rather than a data set."""
    return ("/" in name or "\\" in name or name.lower().endswith(_FILE_SUFFIXES)
            or Path(name).is_file())


def _named_dataset(name, seed, n_samples):
    """X, y, name and description of a data set of :func:`skmoe.datasets.load_dataset`."""
    if _looks_like_path(name):
        raise CommandError(
            f"--dataset takes the name of a data set, and {name!r} is a file path; read a "
            f"CSV file with --csv {name} --target COLUMN."
        )
    try:
        data = load_dataset(name, n_samples=n_samples, random_state=seed)
    except ValueError as exc:
        raise CommandError(str(exc).replace("n_samples", "--n-samples")) from None
    return data.data, data.target, data.name, data.description


def _csv_error(path, what):
    return CommandError(f"{path}: {what}")


# A number written with a decimal comma: pandas reads a column of them as text.
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?(\d[\d.]*)?,\d+([eE][+-]?\d+)?\s*$")


def _text_columns_matching(frame, pattern):
    """Yield ``(column, first value)`` of each text column whose every value matches."""
    for column in frame.columns:
        values = frame[column].dropna()
        if (not pd.api.types.is_numeric_dtype(values) and values.size
                and values.map(lambda v: isinstance(v, str)
                               and pattern.match(v) is not None).all()):
            yield column, values.iloc[0]


def _check_decimal_commas(path, frame):
    """Refuse text columns whose every value is a number with a decimal comma.

    Read as text, such features were one-hot encoded as categories (one per
    distinct number) and such a target taken for class labels, silently.
    """
    for column, example in _text_columns_matching(frame, _DECIMAL_COMMA):
        raise _csv_error(
            path, f"column {column!r} holds numbers written with a decimal comma (e.g. "
            f"{example!r}), which would be read as text; pass --decimal ','.")


# A date (and time) as ISO 8601 writes it: pandas reads a column of them as text.
_ISO_DATE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*$")


def _check_dates(path, frame):
    """Refuse text columns whose every value is a date.

    Read as text, such features were one-hot encoded, one category per date (on
    a CSV of 60 daily rows, a linear model's R² fell from 0.996 to 0.673), and
    such a target taken for class labels, silently; the estimators refuse dates
    given as dates.
    """
    for column, example in _text_columns_matching(frame, _ISO_DATE):
        raise _csv_error(
            path, f"column {column!r} holds dates (e.g. {example!r}), which would "
            "be read as text, one category per date; convert them to numbers in the "
            "unit you mean (e.g. days since a date), or leave the column out.")


# pandas' name for a column whose header field is empty.
_UNNAMED = re.compile(r"^Unnamed: \d+$")


def _check_unnamed_columns(path, frame):
    """Refuse a column without a name in the header.

    A DataFrame written with its index (``to_csv`` without ``index=False``)
    has one: the row numbers were fitted as a feature, or taken as the
    target, silently.
    """
    for position, column in enumerate(frame.columns):
        if isinstance(column, str) and _UNNAMED.match(column):
            raise _csv_error(
                path, f"column {position + 1} has no name in the header (pandas calls it "
                f"{column!r}), as when a DataFrame is written with its index (to_csv "
                "without index=False); a row index would be fitted as a feature. Name the "
                "column in the header, or leave it out.")


def read_csv_dataset(path, target, sep=",", decimal="."):
    """Features and target from a CSV file, with one-line errors for bad input.

    The features are returned as pandas reads them (strings, missing values
    and all): :func:`skmoe.compare.compare` preprocesses them.

    Parameters
    ----------
    path : str or path-like
        A CSV file with a header row.
    target : str
        The name of the target column; every other column is a feature.
    sep : str, default=","
        The column separator.
    decimal : str, default="."
        The decimal point of the numbers.

    Returns
    -------
    X : pandas.DataFrame
        The feature columns.
    y : pandas.Series
        The target column.
    name : str
        The file's name.
    description : str
        One line naming the target.

    Raises
    ------
    CommandError
        When the file is missing, empty or unparsable, has fewer than two
        data rows, has a column without a name in its header (a written
        index), lacks the target column, has no feature column, has a column
        of numbers with decimal commas while ``decimal`` is ``"."``, or a
        column of dates.
    """
    path = Path(path)
    if not path.exists():
        raise _csv_error(path, "no such file; check the path given to --csv.")
    if path.is_dir():
        raise _csv_error(path, "is a directory; give a CSV file to --csv.")
    try:
        frame = pd.read_csv(path, sep=sep, decimal=decimal)
    except pd.errors.EmptyDataError:
        raise _csv_error(path, "the file is empty; it needs a header row and data rows.") \
            from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _csv_error(path, f"cannot be read as CSV ({first}).") from None
    if frame.shape[0] == 0:
        raise _csv_error(path, "has a header but no data rows.")
    if frame.shape[0] == 1:
        raise _csv_error(path, "has a single data row: there is nothing to cross-validate. "
                         "compare needs rows to train on in every fold.")
    _check_unnamed_columns(path, frame)
    if target not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:20]))
        more = ", ..." if frame.shape[1] > 20 else ""
        hint = ""
        if frame.shape[1] == 1:
            found = [c for c in (";", "\t", "|") if c != sep and c in str(frame.columns[0])]
            if found:
                hint = f" The header holds {found[0]!r}: is that the separator (--sep)?"
        raise _csv_error(
            path, f"no column named {target!r}; its columns are: {columns}{more}. Pass one "
            f"of them to --target.{hint}"
        )
    if decimal == ".":
        _check_decimal_commas(path, frame)
    _check_dates(path, frame)
    y = frame[target]
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise _csv_error(path, f"has no feature columns besides the target {target!r}.")
    return X, y, path.name, f"CSV file {path}, target column {target!r}"


def _check_out(out):
    """Refuse an --out directory that cannot be written, before anything is fitted."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise CommandError(f"--out {out}: is a file; give a directory to write the results to.")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise CommandError(f"--out {out}: {existing} is a file, so the directory cannot be "
                           "created.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CommandError(f"--out {out}: cannot write to {existing} (permission denied).")
    # Permission bits do not tell all (root passes them on a read-only file
    # system, and /proc): make the directories and a file, then remove them.
    created = []
    try:
        for directory in reversed([path, *path.parents]):
            if not directory.exists():
                directory.mkdir()
                created.append(directory)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise CommandError(f"--out {out}: cannot create or write to that directory "
                           f"({exc.strerror}).") from None
    finally:
        for directory in reversed(created):
            directory.rmdir()


# ------------------------------------------------------------------------ output
def _fmt(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{value:.1f}" if abs(value) >= 1000 else f"{value:.3f}"


def _display(results):
    """The table as strings: mean ± sd per score, then times, one row per estimator."""
    scores = results.attrs["scoring"]
    table = pd.DataFrame({"estimator": results.index.astype(str),
                          "family": results["family"].to_numpy()})
    for score in scores:
        label = SCORES[score][1] if score != "log_likelihood" else "log-likelihood"
        means, stds = results[f"{score}_mean"], results[f"{score}_std"]
        table[label] = [_fmt(m) if np.isnan(s) else f"{_fmt(m)} ± {_fmt(s)}"
                        for m, s in zip(means, stds)]
    table["fit s"] = [f"{t:.3f}" for t in results["fit_time"]]
    table["predict s"] = [f"{t:.3f}" for t in results["predict_time"]]
    return table


def format_table(results):
    """The comparison as aligned text, one estimator per line.

    Parameters
    ----------
    results : pandas.DataFrame
        The table returned by :func:`skmoe.compare.compare`.

    Returns
    -------
    text : str
        The table, header first (:meth:`pandas.DataFrame.to_string`).
    """
    table = _display(results)
    names = {}
    for column in ("estimator", "family"):
        # Names read best left-aligned; pandas right-aligns text, so pad them to the width.
        width = max(len(column), int(table[column].str.len().max()))
        table[column] = table[column].str.ljust(width)
        names[column] = column.ljust(width)
    text = table.rename(columns=names).to_string(index=False)
    return "\n".join(line.rstrip() for line in text.splitlines())


def format_markdown(results, title, verdict_lines, notes=()):
    """The comparison as a markdown report: title, table, verdicts, notes.

    Parameters
    ----------
    results : pandas.DataFrame
        The table returned by :func:`skmoe.compare.compare`.
    title : str
        First heading.
    verdict_lines : list of str
        From :func:`skmoe.compare.verdicts`.
    notes : list of str, default=()
        Extra lines (warnings raised during the fits).

    Returns
    -------
    text : str
        Markdown.
    """
    table = _display(results)
    align = ["left", "left"] + ["right"] * (table.shape[1] - 2)
    lines = [f"# {title}", "", table.to_markdown(index=False, colalign=align)]
    lines += ["", "## Verdict", ""]
    lines += [f"- {line}" for line in verdict_lines]
    preprocessing = _preprocessing_lines(results)
    if preprocessing:
        lines += ["", "## Preprocessing of the features", ""]
        lines += ["Fitted on each training fold:", ""]
        lines += [f"- {line}" for line in preprocessing]
    if "density" in results.columns:
        lines += ["", "## Where each log-likelihood comes from", ""]
        lines += [f"- {name}: {density}" for name, density in results["density"].items()]
        for line in _density_lines(results):
            lines += ["", line]
    if notes:
        lines += ["", "## Warnings raised during the fits", ""]
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _preprocessing_lines(results):
    done = results.attrs.get("preprocessing")
    if not done:
        return []
    native = [name for name in results.index if name not in done["imputed"]]
    return describe(done["one_hot"], done["missing"], done["imputed"], native)


def _density_lines(results):
    """How each model's log-likelihood is obtained, grouped by source."""
    if "density" not in results.columns:
        return []
    lines = []
    for label, names in results.groupby("density", sort=False).groups.items():
        lines.append(f"{', '.join(map(str, names))}: {DENSITY_NOTES[label]}.")
    return lines


def _warning_notes(results, width=110):
    notes = []
    for name, messages in results.attrs.get("warnings", {}).items():
        for message in messages[:2]:
            message = " ".join(message.split())
            short = message if len(message) <= width else message[: width - 3] + "..."
            notes.append(f"{name}: {short}")
    return notes


def _write_outputs(out, results, title, verdict_lines, notes):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import ComparisonDisplay

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create the output directory {out}: {exc.strerror}.") \
            from None
    results.to_csv(out / "results.csv")
    (out / "results.md").write_text(format_markdown(results, title, verdict_lines, notes),
                                    encoding="utf-8")
    # The primary score, and beside it the probabilistic one (where a mixture's density shows).
    scores = [results.attrs["primary"]]
    scores += [s for s in ("log_likelihood", "log_loss")
               if s in results.attrs["scoring"] and s != scores[0]][:1]
    figure, axes = plt.subplots(1, len(scores), figsize=(7.5 * len(scores), 5.5), squeeze=False)
    for score, ax in zip(scores, axes[0]):
        ComparisonDisplay.from_results(results, score=score, ax=ax)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(out / "results.png", dpi=110)
    plt.close(figure)
    return [out / "results.csv", out / "results.md", out / "results.png"]


# ----------------------------------------------------------------------- compare
def _names(values):
    """Estimator names from ``--estimators a,b c``."""
    names = [part.strip() for value in values for part in value.split(",")]
    return [name for name in names if name]


def _load(args):
    """X, y, name, description, and how errors name the target: (name, prefix)."""
    if args.csv is not None:
        if args.target is None:
            raise CommandError("--csv needs --target COLUMN, the column to predict.")
        if args.n_samples is not None:
            raise CommandError("--n-samples applies to the generated data sets, not to --csv.")
        sep = "\t" if args.sep in ("\\t", "tab") else args.sep
        for option, value in (("--sep", sep), ("--decimal", args.decimal)):
            if len(value) != 1:
                # pandas failed on '' with a traceback, and read longer ones as
                # regular expressions.
                raise CommandError(f"{option} takes one character, got {value!r}.")
        if sep == args.decimal:
            raise CommandError(f"--sep and --decimal are both {sep!r}; a CSV needs a column "
                               "separator other than its decimal point.")
        X, y, name, description = read_csv_dataset(args.csv, args.target, sep, args.decimal)
        return X, y, name, description, (f"target column {args.target!r}", f"{Path(args.csv)}: ")
    if args.target is not None:
        raise CommandError("--target goes with --csv; the named data sets have their own.")
    if args.sep != ",":
        raise CommandError("--sep goes with --csv.")
    if args.decimal != ".":
        raise CommandError("--decimal goes with --csv.")
    X, y, name, description = _named_dataset(args.dataset or DEFAULT_DATASET, args.seed,
                                             args.n_samples)
    return X, y, name, description, ("y", "target: ")


def run_compare(args):
    """Run ``compare`` with parsed arguments; returns the exit status."""
    if args.out is not None:
        _check_out(args.out)
    X, y, name, description, (target_name, where) = _load(args)
    try:
        # The target decides the task, and so the estimators to choose from.
        y_checked, task = check_target(y, args.task, input_name=target_name)
    except ValueError as exc:
        raise CommandError(f"{where}{exc}") from None
    n_rows = len(y_checked)
    if task == "classification":
        labels, counts = np.unique(y_checked, return_counts=True)
        if counts.min() < args.cv:
            rare = _plain(labels[counts.argmin()])
            raise CommandError(
                f"class {rare!r} has only {counts.min()} rows, fewer than --cv {args.cv} folds; "
                "lower --cv, drop the rare classes, or use --task regression for a numeric "
                "target."
            )
    baselines = default_baselines(task, n_experts=args.n_experts, random_state=args.seed)
    if args.estimators:
        chosen = _names(args.estimators)
        unknown = [name for name in chosen if name not in baselines]
        if unknown:
            raise CommandError(
                f"unknown estimator {unknown[0]!r} for {task}; choose from: "
                f"{', '.join(baselines)}."
            )
        baselines = {name: baselines[name] for name in dict.fromkeys(chosen)}
    _check_training_rows(n_rows, args.cv, baselines, task, args.n_experts)
    try:
        _check_feature_scale(X, baselines, where, " with --estimators")
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    scoring = _names(args.scoring) if args.scoring else None
    try:
        checked_scoring = _check_scoring(scoring, task)
    except ValueError as exc:
        raise CommandError(str(exc).splitlines()[0]) from None
    try:
        # Here rather than in compare, to name the CSV's column.
        _check_target_scale(y_checked, task, checked_scoring, target_name)
    except ValueError as exc:
        raise CommandError(f"{where}{exc}") from None

    try:
        results = compare(
            X, y_checked, estimators=baselines, cv=args.cv, scoring=scoring, n_jobs=args.n_jobs,
            random_state=args.seed, task=task, progress=not args.quiet,
        )
    except RuntimeError as exc:
        # An estimator failed on these data: say which, without a traceback.
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"{_prog()} compare: error: {first} (leave it out with --estimators).",
              file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:
        raise CommandError(str(exc).splitlines()[0]) from None

    say = print if not args.quiet else (lambda *a, **k: None)
    say(f"skmoe {__version__} compare: {name}: {description}")
    say(f"{n_rows} rows x {np.shape(X)[1]} features, {task}; {len(baselines)} estimators, "
        f"{args.cv}-fold cross-validation, seed {args.seed}")
    preprocessing = _preprocessing_lines(results)
    if preprocessing:
        say("Preprocessing of the features, fitted on each training fold:")
        for line in preprocessing:
            say(f"  {line}")

    verdict_lines = verdicts(results)
    # The probabilistic score has the last word too: it is where a mixture's density shows.
    second = [s for s in ("log_likelihood", "log_loss")
              if s in results.attrs["scoring"] and s != results.attrs["primary"]][:1]
    verdict_lines += [verdicts(results, score)[-1] for score in second]
    n_final = 1 + len(second)
    notes = _warning_notes(results)
    print()
    print(format_table(results))
    print()
    primary = SCORES[results.attrs["primary"]][1]
    print(f"Best of each family on {primary} (sd: standard deviation of the per-fold "
          "differences from the winner):")
    for line in verdict_lines[:-n_final]:
        print(f"  {line}")
    for line in verdict_lines[-n_final:]:
        print(line)
    density = _density_lines(results)
    if density and not args.quiet:
        print()
        print("Where each log-likelihood comes from:")
        for line in density:
            print(f"  {line}")
    if notes and not args.quiet:
        print()
        print("Warnings raised during the fits (one line each, first two per estimator):")
        for note in notes:
            print(f"  {note}")
    if args.out is not None:
        title = f"skmoe compare: {name}, {n_rows} rows, {args.cv}-fold CV, seed {args.seed}"
        written = _write_outputs(args.out, results, title, verdict_lines, notes)
        say()
        say("Wrote " + ", ".join(str(path) for path in written))
    return 0


# Rows a training fold needs for the default stacking: its 10 nearest neighbours
# within its own 5-fold split, itself within the 3-fold split that gives the
# out-of-fold residual variance of a regressor (10 * 5/4 * 3/2 rounded up).
_STACKING_TRAINING_ROWS = {"regression": 20, "classification": 13}


def _check_training_rows(n_rows, cv, estimators, task, n_experts):
    """Refuse data whose training folds are too small for the chosen estimators."""
    if not 2 <= cv <= n_rows:
        return  # compare refuses fewer than 2 folds, or more folds than rows
    smallest = n_rows - -(-n_rows // cv)
    needs = {"every estimator": 2}
    if task == "regression":
        needs["the out-of-fold residual variance (3 inner folds)"] = 3
    mixtures = [name for name in estimators if name.startswith("moe_")]
    if mixtures:
        needs[f"{', '.join(mixtures)} (--n-experts {n_experts})"] = n_experts
    if "stacking" in estimators:
        needs["stacking (10 nearest neighbours in its own 5 folds)"] = (
            _STACKING_TRAINING_ROWS[task])
    who, need = max(needs.items(), key=lambda item: item[1])
    if smallest < need:
        raise CommandError(
            f"the data has {n_rows} rows: with --cv {cv} the smallest training fold has "
            f"{smallest} rows, fewer than the {need} that {who} needs. Use more rows, a "
            "smaller --cv, or leave that estimator out with --estimators."
        )


def _positive_int(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def _seed(text):
    """A seed as NumPy takes it: an integer from 0 to 2**32 - 1 (others failed with a
    traceback in the estimators' parameter checks)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value <= 2**32 - 1:
        raise argparse.ArgumentTypeError(
            f"expected an integer from 0 to {2**32 - 1}, got {value}")
    return value


def _listing_epilog():
    lines = ["data sets (--dataset):"]
    lines += [f"  {name:<22}{description}" for name, description in DATASETS.items()]
    lines.append("estimators (--estimators; the same names for both tasks):")
    lines.append("  " + ", ".join(default_baselines("regression")))
    return "\n".join(lines)


def build_parser():
    """The argument parser of ``python -m skmoe``."""
    parser = argparse.ArgumentParser(
        prog=_prog(), description="Mixtures of experts for scikit-learn: command line.",
    )
    parser.add_argument("--version", action="version", version=f"skmoe {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub = commands.add_parser(
        "compare", aliases=["demo"],
        help="cross-validate mixtures of experts against bagging, boosting and stacking",
        description=__doc__.split("\n\n")[1].replace("\n", " ").replace("``", ""),
        epilog=_listing_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = sub.add_mutually_exclusive_group()
    source.add_argument("--dataset", metavar="NAME",
                        help=f"a named data set (default: {DEFAULT_DATASET}; see below)")
    source.add_argument("--csv", metavar="PATH", help="a CSV file with a header row")
    sub.add_argument("--target", metavar="COLUMN", help="the target column of --csv")
    sub.add_argument("--sep", metavar="CHAR", default=",",
                     help="the column separator of --csv (default ','; e.g. ';' or '\\t')")
    sub.add_argument("--decimal", metavar="CHAR", default=".",
                     help="the decimal point of the numbers of --csv (default '.'; e.g. "
                          "',')")
    sub.add_argument("--task", choices=["auto", "regression", "classification"],
                     default="auto",
                     help="default auto, from the target's type and number of distinct "
                          "values: strings, booleans and categories are class labels; "
                          f"integers (or whole-number floats) with at most {_MAX_CLASSES_AUTO} "
                          "distinct values are class labels; any other numbers, such as a "
                          f"count with {_MAX_CLASSES_AUTO + 2} values, are a regression target")
    sub.add_argument("--cv", type=int, default=5, metavar="K",
                     help="number of folds, at least 2 (default 5)")
    sub.add_argument("--estimators", nargs="+", metavar="NAME",
                     help="compare only these (comma or space separated; see below)")
    sub.add_argument("--scoring", nargs="+", metavar="SCORE",
                     help="scores to compute, the first sorts the table (regression: "
                          "r2 rmse mae max_error log_likelihood; classification: accuracy "
                          "balanced_accuracy log_loss brier roc_auc log_likelihood)")
    sub.add_argument("--n-experts", type=_positive_int(1), default=3, metavar="K",
                     help="experts of each mixture (default 3)")
    sub.add_argument("--n-samples", type=_positive_int(10), metavar="N",
                     help="rows of a generated data set (default 2000)")
    sub.add_argument("--n-jobs", type=int, default=None, metavar="N",
                     help="parallel fits over the folds of each estimator (default 1; -1: "
                          "all cores)")
    sub.add_argument("--out", metavar="DIR",
                     help="write results.csv, results.md and results.png to DIR (checked "
                          "before anything is fitted)")
    sub.add_argument("--seed", type=_seed, default=0,
                     help="seed of the data generators, the folds and the estimators "
                          "(default 0)")
    sub.add_argument("--quiet", action="store_true",
                     help="no progress on stderr (a bar on a terminal, one line per "
                          "estimator elsewhere), no header or notes: the table and verdicts "
                          "only")
    commands.add_parser(
        "warmup", help="compile the Numba kernels into their cache (once per installation)",
        description="Compile every Numba kernel of the estimators, or load it from the "
                    "cache; later processes then load them instead of compiling.",
    )
    return parser


def main(argv=None):
    """Entry point of ``python -m skmoe`` and of the ``skmoe`` script.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments; None means ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success, 1 when an estimator failed, 2 for bad input.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "warmup":
        return warmup_command()
    try:
        return run_compare(args)
    except CommandError as exc:
        print(f"{_prog()} compare: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
