"""Matplotlib Displays in scikit-learn's style.

Each Display is a class that stores what it draws, has class-method
constructors that compute it (``from_estimator``, ``from_results``, ...), and a
``plot(ax=None, ...)`` method that draws it and stores the matplotlib objects
in attributes ending in ``_`` (always ``ax_`` and ``figure_``), so that a plot
can be redrawn on other axes or restyled after the fact.

Displays
--------
ComparisonDisplay
    Cross-validated score against fit time, one point per estimator, from
    :func:`skmoe.compare.compare`.
GateDisplay
    Where the gate hands over: regions over two features, curves over one.
ExpertFitDisplay
    The data coloured by expert, each expert's curve, the mixture's mean and band.
ConvergenceDisplay
    The log-likelihood per EM iteration of every start.
SelectionDisplay
    A criterion against the number of experts, from
    :func:`skmoe.inspection.select_n_experts`.
GateExplanationDisplay
    Each gate feature's contribution to the chosen expert's log-odds, for a
    few rows and on average over a data set.

Matplotlib is imported only when a Display draws, so that importing this
module stays cheap.
"""

import warnings
from numbers import Integral

import numpy as np

__all__ = [
    "ComparisonDisplay",
    "ConvergenceDisplay",
    "ExpertFitDisplay",
    "GateDisplay",
    "GateExplanationDisplay",
    "SelectionDisplay",
]


# ----------------------------------------------------------------- shared helpers
def _pyplot(caller):
    """Import matplotlib.pyplot, or say which Display needs it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise ImportError(f"{caller} requires matplotlib: pip install matplotlib.") from exc
    return plt


def _axes(ax, caller):
    """The axes to draw on: ``ax``, or those of a new figure."""
    plt = _pyplot(caller)
    if ax is None:
        _, ax = plt.subplots()
    return ax, ax.figure


# ------------------------------------------------------------- ComparisonDisplay
# One colour and marker per estimator family, stable across plots.
_FAMILY_STYLE = {
    "mixture of experts": {"color": "tab:red", "marker": "*", "markersize": 13},
    "boosting": {"color": "tab:blue", "marker": "o", "markersize": 7},
    "bagging": {"color": "tab:green", "marker": "s", "markersize": 7},
    "stacking": {"color": "tab:purple", "marker": "D", "markersize": 7},
    "single model": {"color": "tab:gray", "marker": "^", "markersize": 7},
}
_OTHER_STYLE = {"color": "black", "marker": "x", "markersize": 7}


class ComparisonDisplay:
    """Cross-validated score against mean fit time, one point per estimator.

    Each estimator is a point at its mean fit time (x, log scale) and its mean
    score (y) with an error bar of one standard deviation over the folds,
    coloured by family, so that one sees at a glance which models are both
    accurate and cheap. Build it with :meth:`from_results` (a table from
    :func:`skmoe.compare.compare`) or :meth:`from_estimators` (runs the
    comparison); the constructor only stores the values.

    Parameters
    ----------
    names : array-like of str of shape (n_estimators,)
        Estimator names, used as point labels.
    score_mean : array-like of shape (n_estimators,)
        Mean score of each estimator.
    score_std : array-like of shape (n_estimators,)
        Standard deviation of the score over the folds (NaN draws no bar).
    fit_time : array-like of shape (n_estimators,)
        Mean fit time in seconds.
    families : array-like of str of shape (n_estimators,), default=None
        Family of each estimator (see :func:`skmoe.compare.estimator_family`),
        which sets colour and marker; None draws every point alike.
    score_name : str, default="score"
        Label of the y axis.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes with the plot.
    figure_ : matplotlib Figure
        Figure containing the plot.
    errorbars_ : dict of str to matplotlib ErrorbarContainer
        The point and error bar of each estimator, by name.
    annotations_ : dict of str to matplotlib Annotation
        The label of each point, by name (empty when drawn without labels).

    See Also
    --------
    skmoe.compare.compare : The comparison that gives the values.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmoe.plotting import ComparisonDisplay
    >>> display = ComparisonDisplay(
    ...     names=["linear", "moe_linear"], score_mean=[0.2, 0.6], score_std=[0.05, 0.04],
    ...     fit_time=[0.01, 0.5], families=["single model", "mixture of experts"],
    ...     score_name="R²").plot()
    >>> sorted(display.errorbars_)
    ['linear', 'moe_linear']
    """

    def __init__(self, *, names, score_mean, score_std, fit_time, families=None,
                 score_name="score"):
        self.names = names
        self.score_mean = score_mean
        self.score_std = score_std
        self.fit_time = fit_time
        self.families = families
        self.score_name = score_name

    @classmethod
    def from_results(cls, results, *, score=None, ax=None, annotate=True):
        """Plot a table returned by :func:`skmoe.compare.compare`.

        Parameters
        ----------
        results : pandas.DataFrame
            One row per estimator with ``<score>_mean``, ``<score>_std``,
            ``fit_time`` and ``family`` columns, indexed by name.
        score : str, default=None
            The score on the y axis; None means the table's primary score
            (``results.attrs["primary"]``), else the first ``*_mean`` column.
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.
        annotate : bool, default=True
            Write each estimator's name beside its point.

        Returns
        -------
        display : ComparisonDisplay
            The drawn Display.
        """
        columns = getattr(results, "columns", None)
        if columns is None:
            raise TypeError(
                "results must be the DataFrame returned by skmoe.compare.compare, got "
                f"{type(results).__name__}."
            )
        available = [c[: -len("_mean")] for c in columns if str(c).endswith("_mean")]
        if score is None:
            score = results.attrs.get("primary") or (available[0] if available else None)
        if score not in available:
            raise ValueError(f"score must be one of the scores in results {available}, got "
                             f"{score!r}.")
        missing = [c for c in ("fit_time", f"{score}_std") if c not in columns]
        if missing:
            raise ValueError(f"results lacks the columns {missing}; pass the table returned "
                             "by skmoe.compare.compare.")
        if len(results) == 0:
            raise ValueError("results has no rows: there is no estimator to draw.")
        from .compare import SCORES

        label = SCORES[score][1] if score in SCORES else score
        n_splits = results.attrs.get("n_splits")
        score_name = f"{label} (mean ± sd over {n_splits} folds)" if n_splits else label
        display = cls(
            names=[str(name) for name in results.index],
            score_mean=results[f"{score}_mean"].to_numpy(),
            score_std=results[f"{score}_std"].to_numpy(),
            fit_time=results["fit_time"].to_numpy(),
            families=(results["family"].to_numpy() if "family" in columns else None),
            score_name=score_name,
        )
        return display.plot(ax=ax, annotate=annotate)

    @classmethod
    def from_estimators(cls, estimators, X, y, *, score=None, ax=None, annotate=True,
                        **compare_params):
        """Compare estimators by cross-validation and plot the result.

        Parameters
        ----------
        estimators : dict, list or None
            As in :func:`skmoe.compare.compare`; None means the default
            baselines for the task.
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,)
            Target.
        score : str, default=None
            The score on the y axis; None means the primary score.
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.
        annotate : bool, default=True
            Write each estimator's name beside its point.
        **compare_params
            Passed to :func:`skmoe.compare.compare` (``cv``, ``scoring``,
            ``n_jobs``, ``random_state``, ``task``, ...).

        Returns
        -------
        display : ComparisonDisplay
            The drawn Display; ``display.results_`` holds the comparison table.
        """
        from .compare import compare

        results = compare(X, y, estimators=estimators, **compare_params)
        display = cls.from_results(results, score=score, ax=ax, annotate=annotate)
        display.results_ = results
        return display

    def plot(self, ax=None, *, annotate=True, errorbar_kwargs=None):
        """Draw the points with their error bars.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.
        annotate : bool, default=True
            Write each estimator's name beside its point.
        errorbar_kwargs : dict, default=None
            Keywords for matplotlib's ``errorbar``, applied to every point
            after the family style (e.g. ``{"capsize": 0}``).

        Returns
        -------
        display : ComparisonDisplay
            This Display, with ``ax_``, ``figure_``, ``errorbars_`` and
            ``annotations_`` set.
        """
        names = [str(name) for name in self.names]
        mean = np.asarray(self.score_mean, dtype=np.float64)
        std = np.asarray(self.score_std, dtype=np.float64)
        fit_time = np.asarray(self.fit_time, dtype=np.float64)
        families = (["estimator"] * len(names) if self.families is None
                    else [str(f) for f in self.families])
        lengths = {len(names), mean.shape[0], std.shape[0], fit_time.shape[0], len(families)}
        if len(lengths) != 1:
            raise ValueError(
                "names, score_mean, score_std, fit_time and families must have the same "
                f"length, got lengths {sorted(lengths)}."
            )
        ax, figure = _axes(ax, f"{type(self).__name__}.plot")
        # A fit time of 0 cannot sit on a log axis: floor it at a microsecond.
        x = np.maximum(fit_time, 1e-6)
        self.errorbars_, self.annotations_ = {}, {}
        labelled = set()
        for name, xi, yi, si, family in zip(names, x, mean, std, families):
            style = {
                "linestyle": "none", "capsize": 3, "elinewidth": 1,
                **_FAMILY_STYLE.get(family, _OTHER_STYLE),
                **(errorbar_kwargs or {}),
            }
            label = family if family not in labelled else None
            labelled.add(family)
            yerr = None if np.isnan(si) else si
            self.errorbars_[name] = ax.errorbar([xi], [yi], yerr=yerr, label=label, **style)
            if annotate:
                self.annotations_[name] = ax.annotate(
                    name, (xi, yi), xytext=(5, 4), textcoords="offset points", fontsize=8,
                )
        ax.set_xscale("log")
        ax.set_xlabel("mean fit time per fold (s, log scale)")
        ax.set_ylabel(self.score_name)
        ax.grid(True, which="major", alpha=0.3)
        if self.families is not None:
            ax.legend(title="family", fontsize=8, title_fontsize=8, loc="best")
        self.ax_ = ax
        self.figure_ = figure
        return self


# ----------------------------------------------------------- reading a mixture
def _grid_rows(X, features, values):
    """Rows that vary the given features over ``values`` and hold the others at their mean."""
    X = np.asarray(X, dtype=np.float64)
    rows = np.tile(np.nanmean(X, axis=0), (values[0].size, 1))
    for feature, column in zip(features, values):
        rows[:, feature] = column
    return rows


def _check_mixture(estimator, caller):
    """Refuse anything but a fitted mixture (an unfitted one raised an AttributeError)."""
    from ._stderr import check_mixture

    check_mixture(estimator, caller)


def _fitted_rows(estimator, X):
    """X as float64 after the checks of ``predict``: the columns the estimator was
    fitted on, in the same order (a DataFrame of reordered columns gave the
    grid of one feature the range of another, silently)."""
    from sklearn.utils.validation import validate_data

    return validate_data(estimator, X, reset=False, dtype=np.float64,
                         ensure_all_finite="allow-nan")


def _check_grid_resolution(grid_resolution):
    """Refuse a grid of fewer than 2 points, or a number of points that is not an integer."""
    if (not isinstance(grid_resolution, Integral) or isinstance(grid_resolution, bool)
            or grid_resolution < 2):
        raise ValueError(
            f"grid_resolution must be an integer of at least 2, got {grid_resolution!r}."
        )


def _feature_index(estimator, feature):
    """Column index of ``feature`` (an index or a column name)."""
    if isinstance(feature, str):
        names = list(getattr(estimator, "feature_names_in_", []))
        if feature not in names:
            raise ValueError(f"feature {feature!r} is not a column the estimator was fitted on.")
        return names.index(feature)
    # int(0.7) is 0 and int(True) is 1: neither names a column.
    if not isinstance(feature, Integral) or isinstance(feature, (bool, np.bool_)):
        raise ValueError(
            f"feature must be a column index (an integer) or a column name, got {feature!r}."
        )
    index = int(feature)
    if not 0 <= index < estimator.n_features_in_:
        raise ValueError(
            f"feature index {index} is out of range for {estimator.n_features_in_} features."
        )
    return index


def _feature_label(estimator, index):
    names = getattr(estimator, "feature_names_in_", None)
    return str(names[index]) if names is not None else f"x{index}"


def _as_frame_if_named(estimator, rows):
    """Give grid rows the estimator's column names, so it does not warn about them."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return rows
    import pandas as pd

    return pd.DataFrame(rows, columns=names)


class GateDisplay:
    """Where the gate hands over: gate regions over two features, or curves over one.

    With two features, each point of a grid is coloured by its most probable
    expert, with the colour's strength showing how sure the gate is; with one
    feature, each expert's gate probability is a curve. The other features are
    held at their mean.

    Parameters
    ----------
    gate : ndarray of shape (n_points, n_experts) or (n_y, n_x, n_experts)
        Gate probabilities on the grid: one row per grid point for one
        feature; for two, one per point of the (n_y, n_x) meshgrid.
    grid : list of ndarray
        The grid values of each feature: one array for one feature, the two
        meshgrid arrays for two.
    feature_names : list of str
        Names of the features on the axes.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        One curve per expert (one feature).
    contour_ : matplotlib QuadContourSet
        The filled regions (two features).
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    """

    def __init__(self, gate, grid, feature_names):
        self.gate = gate
        self.grid = grid
        self.feature_names = feature_names

    @classmethod
    def from_estimator(cls, estimator, X, features=(0, 1), grid_resolution=100, ax=None):
        """Compute the gate on a grid over one or two features of X, and draw it.

        Parameters
        ----------
        estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
            A fitted mixture.
        X : array-like of shape (n_samples, n_features)
            Data whose range sets the grid (the other features take their mean).
        features : int, str or sequence of one or two of them, default=(0, 1)
            The features on the axes.
        grid_resolution : int, default=100
            Points per feature.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        display : GateDisplay
            A new Display holding what it computed, drawn (see :meth:`plot`).
        """
        features = [features] if isinstance(features, (int, str, np.integer)) else list(features)
        if len(features) not in (1, 2):
            raise ValueError(f"features must name one or two features, got {features!r}.")
        _check_grid_resolution(grid_resolution)
        _check_mixture(estimator, "GateDisplay")
        X_values = _fitted_rows(estimator, X)
        indices = [_feature_index(estimator, f) for f in features]
        if len(indices) == 2 and indices[0] == indices[1]:
            raise ValueError(
                f"features must name two different features, got {features!r} (both "
                f"column {indices[0]})."
            )
        axes = [np.linspace(np.nanmin(X_values[:, i]), np.nanmax(X_values[:, i]),
                            grid_resolution) for i in indices]
        grid = axes if len(indices) == 1 else list(np.meshgrid(*axes))
        rows = _grid_rows(X_values, indices, [g.ravel() for g in grid])
        gate = estimator.predict_gate(_as_frame_if_named(estimator, rows))
        if len(indices) == 2:
            gate = gate.reshape(grid[0].shape + (gate.shape[1],))
        names = [_feature_label(estimator, i) for i in indices]
        return cls(gate, grid, names).plot(ax=ax)

    def plot(self, ax=None):
        """Draw the gate.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        display : GateDisplay
            This Display, with ``ax_``, ``figure_`` and its artists (see Attributes) set.
        """
        ax, figure = _axes(ax, "GateDisplay")
        n_experts = self.gate.shape[-1]
        colours = [f"C{k}" for k in range(n_experts)]
        if len(self.grid) == 1:
            self.lines_ = [
                ax.plot(self.grid[0], self.gate[:, k], color=colours[k], label=f"expert {k}")[0]
                for k in range(n_experts)
            ]
            ax.set_xlabel(self.feature_names[0])
            ax.set_ylabel("gate probability")
            ax.set_ylim(-0.02, 1.02)
        else:
            from matplotlib.colors import ListedColormap

            winner = self.gate.argmax(axis=-1)
            self.contour_ = ax.contourf(self.grid[0], self.grid[1], winner,
                                        levels=np.arange(n_experts + 1) - 0.5,
                                        cmap=ListedColormap(colours), alpha=0.35)
            self.certainty_ = ax.contour(self.grid[0], self.grid[1], self.gate.max(axis=-1),
                                         levels=[0.6, 0.9], colors="k", linewidths=0.6)
            ax.set_xlabel(self.feature_names[0])
            ax.set_ylabel(self.feature_names[1])
            from matplotlib.patches import Patch

            ax.legend(handles=[Patch(color=c, alpha=0.35, label=f"expert {k}")
                               for k, c in enumerate(colours)], loc="best")
        if len(self.grid) == 1:
            ax.legend(loc="best")
        ax.set_title("Gate")
        self.ax_, self.figure_ = ax, figure
        return self


class ExpertFitDisplay:
    """What each expert learned along one feature, and the mixture around it.

    The data are coloured by their most responsible expert; each expert's
    prediction is a curve (other features at their mean), and the mixture's
    mean is drawn with a band of two standard deviations (regression; none,
    with a warning, where the standard deviation is infinite: Student t
    experts with ``df <= 2``).

    Parameters
    ----------
    x : ndarray of shape (n_samples,)
        The feature's values in the data.
    y : ndarray of shape (n_samples,)
        Targets (regression) or encoded classes.
    assignment : ndarray of shape (n_samples,)
        Most responsible expert of each row.
    grid : ndarray of shape (n_grid,)
        Values of the feature where the curves are evaluated.
    expert_curves : ndarray of shape (n_grid, n_experts)
        Each expert's prediction on the grid.
    mean : ndarray of shape (n_grid,)
        The mixture's mean on the grid.
    std : ndarray of shape (n_grid,) or None
        The mixture's standard deviation on the grid (regression).
    feature_name : str
        Label of the x axis.

    Attributes
    ----------
    scatter_ : list of matplotlib PathCollection
        The rows assigned to each expert.
    lines_ : list of matplotlib Line2D
        One curve per expert.
    mean_line_ : matplotlib Line2D
    band_ : matplotlib PolyCollection or None
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    """

    def __init__(self, x, y, assignment, grid, expert_curves, mean, std, feature_name):
        self.x = x
        self.y = y
        self.assignment = assignment
        self.grid = grid
        self.expert_curves = expert_curves
        self.mean = mean
        self.std = std
        self.feature_name = feature_name

    @classmethod
    def from_estimator(cls, estimator, X, y, feature=0, grid_resolution=200, ax=None,
                       groups=None):
        """Compute the experts' curves along ``feature`` and draw them over the data.

        Parameters
        ----------
        estimator : MixtureOfExpertsRegressor
            A fitted mixture for regression.
        X : array-like of shape (n_samples, n_features)
            Data.
        y : array-like of shape (n_samples,)
            Targets.
        feature : int or str, default=0
            The feature on the x axis.
        grid_resolution : int, default=200
            Points of the curves.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.
        groups : array-like of shape (n_samples,), default=None
            The rows' groups, for a mixture fitted with ``groups``: each row is
            then coloured by its group's most responsible expert (all rows of
            a group share one expert). None colours each row by its own.

        Returns
        -------
        display : ExpertFitDisplay
            A new Display holding what it computed, drawn (see :meth:`plot`).
        """
        from ._regressor import MixtureOfExpertsRegressor

        # Any family: the noise parameters' names depend on it.
        if not (isinstance(estimator, MixtureOfExpertsRegressor)
                and hasattr(estimator, "family_")):
            raise TypeError(
                "ExpertFitDisplay needs a fitted MixtureOfExpertsRegressor, got "
                f"{type(estimator).__name__}"
                f"{' (not fitted)' if isinstance(estimator, MixtureOfExpertsRegressor) else ''}."
            )
        _check_grid_resolution(grid_resolution)
        X_values = _fitted_rows(estimator, X)
        index = _feature_index(estimator, feature)
        from ._validation import check_no_datetimes

        # Dates were read as counts of their unit, silently (the fit refuses them).
        check_no_datetimes(y, "y")
        y = np.asarray(y, dtype=np.float64)
        grid = np.linspace(np.nanmin(X_values[:, index]), np.nanmax(X_values[:, index]),
                           grid_resolution)
        rows = _grid_rows(X_values, [index], [grid])
        expert_rows = rows[:, estimator.expert_features_]
        curves = np.column_stack([e.predict(expert_rows) for e in estimator.experts_])
        mean, std = estimator.predict(_as_frame_if_named(estimator, rows), return_std=True)
        assignment = estimator._posterior(X, y, None, groups)[0].argmax(axis=1)
        return cls(X_values[:, index], y, assignment, grid, curves, mean, std,
                   _feature_label(estimator, index)).plot(ax=ax)

    def plot(self, ax=None):
        """Draw the data, the experts' curves and the mixture.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        display : ExpertFitDisplay
            This Display, with ``ax_``, ``figure_`` and its artists (see Attributes) set.
        """
        ax, figure = _axes(ax, "ExpertFitDisplay")
        n_experts = self.expert_curves.shape[1]
        self.scatter_ = []
        self.lines_ = []
        for k in range(n_experts):
            rows = self.assignment == k
            self.scatter_.append(ax.scatter(self.x[rows], self.y[rows], s=8, alpha=0.4,
                                            color=f"C{k}"))
            self.lines_.append(ax.plot(self.grid, self.expert_curves[:, k], color=f"C{k}",
                                       linewidth=1.5, label=f"expert {k}")[0])
        self.mean_line_ = ax.plot(self.grid, self.mean, color="k", linewidth=2,
                                  label="mixture mean")[0]
        self.band_ = None
        if self.std is not None and np.all(np.isfinite(self.std)):
            self.band_ = ax.fill_between(self.grid, self.mean - 2 * self.std,
                                         self.mean + 2 * self.std, color="k", alpha=0.12,
                                         label="mean ± 2 sd")
        elif self.std is not None:
            # A band of infinite width was drawn and labelled as two standard deviations.
            warnings.warn(
                "The mixture's standard deviation is infinite on the grid (Student t "
                "noise with df <= 2 has no variance), so no 'mean ± 2 sd' band is drawn; "
                "predict_interval gives the mixture's central intervals.",
                UserWarning, stacklevel=2,
            )
        ax.set_xlabel(self.feature_name)
        ax.set_ylabel("y")
        ax.legend(loc="best")
        self.ax_, self.figure_ = ax, figure
        return self


class ConvergenceDisplay:
    """The penalised log-likelihood per EM iteration, one line per start.

    Parameters
    ----------
    histories : list of list of float
        Per-sample penalised log-likelihood of every start
        (``init_lower_bounds_``).
    best : int
        Index of the start that was kept.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        One line per start; the kept one is drawn thicker.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    """

    def __init__(self, histories, best):
        self.histories = histories
        self.best = best

    @classmethod
    def from_estimator(cls, estimator, ax=None):
        """Draw the histories of a fitted mixture's starts.

        Parameters
        ----------
        estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
            A fitted mixture.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        display : ConvergenceDisplay
            A new Display holding what it computed, drawn (see :meth:`plot`).
        """
        _check_mixture(estimator, "ConvergenceDisplay")
        histories = [list(h) for h in estimator.init_lower_bounds_]
        best = histories.index(list(estimator.lower_bounds_))
        return cls(histories, best).plot(ax=ax)

    def plot(self, ax=None):
        """Draw one line per start.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        display : ConvergenceDisplay
            This Display, with ``ax_``, ``figure_`` and its artists (see Attributes) set.
        """
        ax, figure = _axes(ax, "ConvergenceDisplay")
        self.lines_ = []
        for start, history in enumerate(self.histories):
            kept = start == self.best
            self.lines_.append(ax.plot(
                np.arange(1, len(history) + 1), history, marker=".",
                linewidth=2.5 if kept else 1, alpha=1 if kept else 0.6,
                label=f"start {start}" + (" (kept)" if kept else ""),
            )[0])
        ax.set_xlabel("EM iteration")
        ax.set_ylabel("penalised log-likelihood per sample")
        ax.legend(loc="lower right")
        self.ax_, self.figure_ = ax, figure
        return self


class SelectionDisplay:
    """A model-selection criterion against the number of experts.

    Parameters
    ----------
    n_experts : array-like of shape (n_candidates,)
        The numbers of experts tried.
    values : array-like of shape (n_candidates,)
        The criterion of each.
    criterion : str
        Its name (``"bic"``, ``"aic"``, ``"icl"`` or ``"cv"``).
    best : int
        Position of the chosen candidate.

    Attributes
    ----------
    line_ : matplotlib Line2D
    best_marker_ : matplotlib Line2D
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    """

    def __init__(self, n_experts, values, criterion, best):
        self.n_experts = np.asarray(n_experts)
        self.values = np.asarray(values, dtype=float)
        self.criterion = criterion
        self.best = best

    @classmethod
    def from_results(cls, table, ax=None):
        """Draw the table returned by :func:`skmoe.inspection.select_n_experts`.

        Parameters
        ----------
        table : pandas.DataFrame
            The first element of ``select_n_experts``'s result.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        display : SelectionDisplay
            A new Display holding what it computed, drawn (see :meth:`plot`).
        """
        criterion = next((c for c in ("bic", "aic", "icl", "cv") if c in table.columns), None)
        if criterion is None or "best" not in table.columns:
            raise ValueError("table must come from skmoe.inspection.select_n_experts.")
        if not table["best"].to_numpy().any():
            # An empty table failed in NumPy's indexing (index 0 is out of bounds).
            raise ValueError("table has no row marked best; pass the table returned by "
                             "skmoe.inspection.select_n_experts.")
        if criterion == "bic" and "icl" in table.columns:
            criterion = "icl"
        best = int(np.flatnonzero(table["best"].to_numpy())[0])
        return cls(table["n_experts"], table[criterion], criterion, best).plot(ax=ax)

    @classmethod
    def from_estimator(cls, estimator, X, y, n_experts=range(1, 7), criterion="bic", cv=5,
                       ax=None):
        """Run :func:`skmoe.inspection.select_n_experts` and draw its table.

        Parameters
        ----------
        estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
            The mixture to tune.
        X : array-like of shape (n_samples, n_features)
            Data.
        y : array-like of shape (n_samples,)
            Targets.
        n_experts : iterable of int, default=range(1, 7)
            Numbers of experts to try.
        criterion : {"bic", "aic", "icl", "cv"}, default="bic"
            The criterion.
        cv : int or cross-validation generator, default=5
            Folds for ``"cv"``.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        display : SelectionDisplay
            A new Display holding what it computed, drawn (see :meth:`plot`).
        """
        from .inspection import select_n_experts

        table, _ = select_n_experts(estimator, X, y, n_experts=n_experts, criterion=criterion,
                                    cv=cv)
        return cls.from_results(table, ax=ax)

    def plot(self, ax=None):
        """Draw the criterion against the number of experts.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        display : SelectionDisplay
            This Display, with ``ax_``, ``figure_`` and its artists (see Attributes) set.
        """
        ax, figure = _axes(ax, "SelectionDisplay")
        self.line_ = ax.plot(self.n_experts, self.values, marker="o", color="C0")[0]
        self.best_marker_ = ax.plot([self.n_experts[self.best]], [self.values[self.best]],
                                    marker="*", markersize=16, color="C3", linestyle="none",
                                    label=f"chosen: K = {self.n_experts[self.best]}")[0]
        better = "higher" if self.criterion == "cv" else "lower"
        ax.set_xlabel("number of experts")
        ax.set_ylabel(f"{self.criterion} ({better} is better)")
        ax.set_xticks(self.n_experts)
        ax.legend(loc="best")
        self.ax_, self.figure_ = ax, figure
        return self


# ------------------------------------------------------ GateExplanationDisplay
class GateExplanationDisplay:
    """Why the gate chose an expert: feature contributions to its log-odds.

    Two panels. Left: for a few rows, each gate feature's contribution to
    the log-odds of the row's chosen expert against the others (see
    :func:`skmoe.inspection.explain_gate`), one group of horizontal bars per
    row, labelled with the chosen expert and the log-odds at the training
    mean (the baseline). Right: over a data set, each gate feature's mean
    absolute contribution to each expert's log-odds, one bar per expert and
    feature: which features move the gate, and towards whom.

    Parameters
    ----------
    contributions : pandas.DataFrame
        :func:`~skmoe.inspection.explain_gate`'s table for the rows shown.
    importance : pandas.DataFrame
        One row per gate feature, one column per expert: the mean absolute
        contribution of the feature to the expert's log-odds.

    Attributes
    ----------
    bars_ : list of matplotlib BarContainer
        The bars of the rows (one container per row).
    importance_bars_ : list of matplotlib BarContainer
        The bars of the mean absolute contributions (one container per expert).
    ax_ : ndarray of two matplotlib Axes
        The two panels.
    figure_ : matplotlib Figure
    """

    def __init__(self, contributions, importance):
        self.contributions = contributions
        self.importance = importance

    @classmethod
    def from_estimator(cls, estimator, X, rows=5, ax=None):
        """Explain some rows of X and the gate over all of X, and draw both.

        Parameters
        ----------
        estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
            A fitted mixture whose gate has inputs.
        X : array-like of shape (n_samples, n_features)
            The data set of the right panel.
        rows : int or array-like of int, default=5
            The rows of the left panel: the first ``rows`` rows, or these
            positions in X.
        ax : sequence of two matplotlib Axes, default=None
            Where to draw; a new figure with two panels when None.

        Returns
        -------
        display : GateExplanationDisplay
            A new Display holding what it computed, drawn (see :meth:`plot`).
        """
        import pandas as pd

        from .inspection import explain_gate

        _check_mixture(estimator, "GateExplanationDisplay")
        if estimator.gate_features_.size == 0:
            raise ValueError(
                "GateExplanationDisplay needs a gate with inputs; this mixture was fitted "
                "with gate_features=[]."
            )
        if np.ndim(rows) == 0:
            # int(2.5) is 2, and no rows at all left explain_gate an empty X to blame.
            if not isinstance(rows, Integral) or isinstance(rows, bool) or rows < 1:
                raise ValueError(
                    f"rows must be a positive integer (the first rows) or positions in X, "
                    f"got {rows!r}."
                )
            positions = np.arange(min(int(rows), len(X)))
        else:
            positions = np.asarray(rows)
        subset = X.iloc[positions] if hasattr(X, "iloc") else np.asarray(X)[positions]
        contributions = explain_gate(estimator, subset)
        features = [c for c in contributions.columns
                    if c not in ("expert", "probability", "log_odds", "baseline", "interaction")]
        importance = pd.DataFrame(
            {f"expert {k}": explain_gate(estimator, X, expert=k)[features].abs().mean()
             for k in range(estimator.n_experts_)})
        return cls(contributions, importance).plot(ax=ax)

    def plot(self, ax=None):
        """Draw the two panels.

        Parameters
        ----------
        ax : sequence of two matplotlib Axes, default=None
            Where to draw; a new figure with two panels when None.

        Returns
        -------
        display : GateExplanationDisplay
            This Display, with ``ax_``, ``figure_`` and its artists (see Attributes) set.
        """
        plt = _pyplot("GateExplanationDisplay")
        if ax is None:
            figure, ax = plt.subplots(1, 2, figsize=(11, 5), layout="constrained")
        else:
            figure = ax[0].figure
        left, right = ax
        features = list(self.importance.index)
        n_rows, n_features = len(self.contributions), len(features)
        height = 0.8 / max(n_rows, 1)
        positions = np.arange(n_features)
        self.bars_ = []
        for i, (label, row) in enumerate(self.contributions.iterrows()):
            self.bars_.append(left.barh(
                positions + i * height, row[features].to_numpy(dtype=float), height=height,
                color=f"C{int(row['expert'])}", alpha=0.4 + 0.6 * (i + 1) / n_rows,
                label=f"row {label}: expert {int(row['expert'])}, "
                      f"baseline {row['baseline']:+.2f}, log-odds {row['log_odds']:+.2f}"))
        left.axvline(0.0, color="black", linewidth=0.8)
        left.set_yticks(positions + 0.4 - height / 2, features)
        left.set_xlabel("contribution to the chosen expert's log-odds")
        # Below the panel: one line per row would hide the bars.
        left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15))
        n_experts = self.importance.shape[1]
        width = 0.8 / n_experts
        self.importance_bars_ = [
            right.barh(positions + k * width, self.importance[column].to_numpy(), height=width,
                       color=f"C{k}", label=column)
            for k, column in enumerate(self.importance.columns)
        ]
        right.set_yticks(positions + 0.4 - width / 2, features)
        right.set_xlabel("mean |contribution| to the expert's log-odds")
        right.legend(fontsize=8, loc="best")
        self.ax_ = np.array([left, right])
        self.figure_ = figure
        return self
