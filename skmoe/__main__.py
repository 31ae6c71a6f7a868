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

Errors in the input (a missing target column, non-numeric features, an empty
file, a target with one value, ...) print one line and exit with status 2.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from ._warmup import warm_up
from .compare import SCORES, _plain, check_target, compare, default_baselines, verdicts
from .datasets import make_gated_classification, make_switching_regression

DEFAULT_DATASET = "switching_regression"


def _prog():
    """How the user called us: ``skmoe`` (the console script) or ``python -m skmoe``."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "skmoe" if name == "skmoe" else "python -m skmoe"


class CommandError(Exception):
    """A problem with the command's input: reported in one line, exit status 2."""


# ---------------------------------------------------------------------- datasets
def _switching_regression(seed, n_samples):
    X, y = make_switching_regression(
        n_samples=n_samples or 2000, n_features=4, n_experts=3, noise=[0.1, 0.5, 1.5],
        gate_sharpness=3.0, random_state=seed,
    )
    return X, y


def _gated_classification(seed, n_samples):
    X, y = make_gated_classification(
        n_samples=n_samples or 2000, n_features=4, n_experts=3, n_classes=3,
        gate_sharpness=3.0, random_state=seed,
    )
    return X, y


def _bundled(loader_name):
    def load(seed, n_samples):
        from sklearn import datasets

        return getattr(datasets, loader_name)(return_X_y=True)

    return load


# name -> (loader(seed, n_samples), generated, description)
DATASETS = {
    "switching_regression": (
        _switching_regression, True,
        "skmoe generator, the default: 3 linear regimes picked by a soft gate, noise sd "
        "0.1/0.5/1.5, 4 features",
    ),
    "gated_classification": (
        _gated_classification, True,
        "skmoe generator: 3 multinomial-logistic regimes picked by a soft gate, 3 classes, "
        "4 features",
    ),
    "diabetes": (_bundled("load_diabetes"), False,
                 "scikit-learn: disease progression of 442 patients, 10 features"),
    "breast_cancer": (_bundled("load_breast_cancer"), False,
                      "scikit-learn: 569 tumours, malignant or benign, 30 features"),
    "wine": (_bundled("load_wine"), False,
             "scikit-learn: 178 wines, 3 cultivars, 13 features"),
    "iris": (_bundled("load_iris"), False,
             "scikit-learn: 150 irises, 3 species, 4 features"),
    "digits": (_bundled("load_digits"), False,
               "scikit-learn: 1797 8x8 images of digits, 10 classes, 64 features (slow)"),
}


# Endings of file names that a named data set never has.
_FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".data", ".gz", ".zip", ".parquet", ".xlsx")


def _looks_like_path(name):
    """Whether a value given to --dataset names a file rather than a data set."""
    return ("/" in name or "\\" in name or name.lower().endswith(_FILE_SUFFIXES)
            or Path(name).is_file())


def _dataset_name(name):
    if _looks_like_path(name):
        raise CommandError(
            f"--dataset takes the name of a data set, and {name!r} is a file path; read a "
            f"CSV file with --csv {name} --target COLUMN."
        )
    key = name.strip().lower().replace("-", "_")
    key = key[len("make_"):] if key.startswith("make_") else key
    key = key[len("load_"):] if key.startswith("load_") else key
    if key not in DATASETS:
        raise CommandError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}.")
    return key


def load_dataset(name, *, seed=0, n_samples=None):
    """The features and target of a named data set.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS` (``"make_"``/``"load_"`` prefixes and dashes
        are accepted).
    seed : int, default=0
        Seed of the generated data sets.
    n_samples : int, default=None
        Rows of a generated data set (None means 2000); refused for the
        bundled ones.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Features.
    y : ndarray of shape (n_samples,)
        Target.
    name : str
        The data set's canonical name.
    description : str
        One line saying what the data set is.
    """
    key = _dataset_name(name)
    loader, generated, description = DATASETS[key]
    if n_samples is not None and not generated:
        raise CommandError(
            f"--n-samples applies to the generated data sets only, not to {key!r}."
        )
    X, y = loader(seed, n_samples)
    return X, y, key, description


def _csv_error(path, what):
    return CommandError(f"{path}: {what}")


def read_csv_dataset(path, target):
    """Features and target from a CSV file, with one-line errors for bad input.

    Parameters
    ----------
    path : str or path-like
        A CSV file with a header row.
    target : str
        The name of the target column; every other column is a feature.

    Returns
    -------
    X : pandas.DataFrame
        The numeric feature columns.
    y : pandas.Series
        The target column.
    name : str
        The file's name.
    description : str
        One line naming the target.

    Raises
    ------
    CommandError
        When the file is missing, empty or unparsable, lacks the target
        column, has no feature column, has non-numeric or missing feature
        values, or a target with missing values or a single value.
    """
    path = Path(path)
    if not path.exists():
        raise _csv_error(path, "no such file; check the path given to --csv.")
    if path.is_dir():
        raise _csv_error(path, "is a directory; give a CSV file to --csv.")
    try:
        frame = pd.read_csv(path)
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
    if target not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:20]))
        more = ", ..." if frame.shape[1] > 20 else ""
        raise _csv_error(
            path, f"no column named {target!r}; its columns are: {columns}{more}. Pass one "
            "of them to --target."
        )
    y = frame[target]
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise _csv_error(path, f"has no feature columns besides the target {target!r}.")
    bad = [str(c) for c, dtype in X.dtypes.items()
           if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))]
    if bad:
        raise _csv_error(
            path, f"feature columns {_listing(bad)} are not numeric; encode them as numbers "
            "(e.g. one-hot) or drop them."
        )
    missing = [str(c) for c in X.columns if X[c].isna().any()]
    if missing:
        raise _csv_error(
            path, f"feature columns {_listing(missing)} have missing values; fill or drop "
            "them first."
        )
    if y.isna().any():
        raise _csv_error(
            path, f"target column {target!r} has {int(y.isna().sum())} missing values; drop "
            "or fill those rows first."
        )
    values = y.unique()
    if values.shape[0] < 2:
        raise _csv_error(
            path, f"target column {target!r} has a single value ({_plain(values[0])!r}): there is "
            "nothing to predict or compare. Choose another --target."
        )
    return X, y, path.name, f"CSV file {path}, target column {target!r}"


def _listing(names, limit=5):
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# ------------------------------------------------------------------------ output
def _fmt(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{value:.1f}" if abs(value) >= 1000 else f"{value:.3f}"


def _table(results):
    """Header and rows of the printed table: mean ± sd per score, then times."""
    scores = results.attrs["scoring"]
    header = ["estimator", "family"]
    header += [SCORES[s][1] if s != "log_likelihood" else "log-likelihood" for s in scores]
    header += ["fit s", "predict s"]
    rows = []
    for name, row in results.iterrows():
        cells = [str(name), row["family"]]
        for score in scores:
            mean, std = row[f"{score}_mean"], row[f"{score}_std"]
            cells.append(_fmt(mean) if np.isnan(std) else f"{_fmt(mean)} ± {_fmt(std)}")
        cells += [f"{row['fit_time']:.3f}", f"{row['predict_time']:.3f}"]
        rows.append(cells)
    return header, rows


def format_table(results):
    """The comparison as aligned text, one estimator per line.

    Parameters
    ----------
    results : pandas.DataFrame
        The table returned by :func:`skmoe.compare.compare`.

    Returns
    -------
    text : str
        The table, header first.
    """
    header, rows = _table(results)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for cells in [header, *rows]:
        parts = [c.ljust(w) if i < 2 else c.rjust(w)
                 for i, (c, w) in enumerate(zip(cells, widths))]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


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
    header, rows = _table(results)
    align = ["---", "---"] + ["---:"] * (len(header) - 2)
    lines = [f"# {title}", ""]
    for cells in [header, align, *rows]:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "## Verdict", ""]
    lines += [f"- {line}" for line in verdict_lines]
    if "density" in results.columns:
        lines += ["", "## Where each log-likelihood comes from", ""]
        lines += [f"- {name}: {density}" for name, density in results["density"].items()]
    if notes:
        lines += ["", "## Warnings raised during the fits", ""]
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


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


def run_compare(args):
    """Run ``compare`` with parsed arguments; returns the exit status."""
    if args.csv is not None:
        if args.target is None:
            raise CommandError("--csv needs --target COLUMN, the column to predict.")
        if args.n_samples is not None:
            raise CommandError("--n-samples applies to the generated data sets, not to --csv.")
        X, y, name, description = read_csv_dataset(args.csv, args.target)
    else:
        if args.target is not None:
            raise CommandError("--target goes with --csv; the named data sets have their own.")
        X, y, name, description = load_dataset(args.dataset or DEFAULT_DATASET,
                                               seed=args.seed, n_samples=args.n_samples)

    n_rows = len(y)
    if n_rows < args.cv:
        raise CommandError(f"the data has {n_rows} rows, fewer than --cv {args.cv} folds.")
    try:
        # The target decides the task, and so the estimators to choose from.
        y_checked, task = check_target(y, args.task)
    except ValueError as exc:
        raise CommandError(f"target: {exc}") from None
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
    scoring = _names(args.scoring) if args.scoring else None
    valid = [name for name, (kind, _, _) in SCORES.items() if kind in (task, "both")]
    for score in scoring or []:
        if score not in valid:
            raise CommandError(f"unknown score {score!r} for {task}; choose from: "
                               f"{', '.join(valid)}.")

    _check_training_rows(n_rows, args.cv, baselines, task, args.n_experts)

    say = print if not args.quiet else (lambda *a, **k: None)
    n_features = np.shape(X)[1]
    say(f"skmoe {__version__} compare: {name}: {description}")
    say(f"{n_rows} rows x {n_features} features, {task}; {len(baselines)} estimators, "
        f"{args.cv}-fold cross-validation, seed {args.seed}")
    try:
        results = compare(
            X, y_checked, estimators=baselines, cv=args.cv, scoring=scoring,
            n_jobs=args.n_jobs, random_state=args.seed, task=task,
            progress=not args.quiet and sys.stderr.isatty(),
        )
    except RuntimeError as exc:
        # An estimator failed on these data: say which, without a traceback.
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"{_prog()} compare: error: {first} (leave it out with --estimators).",
              file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:
        raise CommandError(str(exc).splitlines()[0]) from None

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


def _n_jobs(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError("0 jobs has no meaning; use a positive int or -1")
    return value


def _listing_epilog():
    lines = ["data sets (--dataset):"]
    lines += [f"  {name:<22}{description}" for name, (_, _, description) in DATASETS.items()]
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
    sub.add_argument("--task", choices=["auto", "regression", "classification"],
                     default="auto",
                     help="default auto: labels (strings, or at most 20 distinct integers) "
                          "mean classification, other numbers regression")
    sub.add_argument("--cv", type=_positive_int(2), default=5, metavar="K",
                     help="number of folds (default 5)")
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
    sub.add_argument("--n-jobs", type=_n_jobs, default=None, metavar="N",
                     help="parallel fits over folds x estimators (default 1; -1: all cores)")
    sub.add_argument("--out", metavar="DIR",
                     help="write results.csv, results.md and results.png to DIR")
    sub.add_argument("--seed", type=int, default=0,
                     help="seed of the data generators, the folds and the estimators "
                          "(default 0)")
    sub.add_argument("--quiet", action="store_true",
                     help="no progress bar, no header or notes: the table and verdicts only")
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
        seconds = warm_up(verbose=True)
        print(f"{len(seconds)} kernels ready in {sum(seconds.values()):.1f} s")
        return 0
    try:
        return run_compare(args)
    except CommandError as exc:
        print(f"{_prog()} compare: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
