"""Parameter descriptions shared by the public estimators, written once."""

_SHARED = {
    "n_experts": """n_experts : int, default=None
        Number of experts K. None means the length of ``experts`` when it is
        a list, else 3 (a single expert cloned three times). Given with a
        list, it must equal the list's length (a ValueError otherwise).""",
    "gate": """gate : estimator, default=None
        The gate. None means ``SoftmaxGate()``: its parameters can be set as
        ``gate__C`` all the same (``set_params(gate__C=0.1)`` or a
        ``GridSearchCV`` grid over ``gate__C``), which first sets ``gate`` to
        ``SoftmaxGate()`` (an estimator cannot be the default value itself:
        scikit-learn requires defaults that are not mutable objects, and a
        shared default gate would be changed for every mixture at once;
        ``get_params`` returns the constructor's value unchanged, so
        ``gate__*`` keys appear there only once a gate is set). A ``SoftmaxGate`` is
        cloned and always warm-started inside the EM loop. Any other classifier
        with ``predict_proba`` and a ``sample_weight`` argument to ``fit`` is
        fitted on the data replicated once per expert, weighted by the
        responsibilities, and its probabilities are mixed with 0.1% of the
        uniform distribution so that no expert is ever excluded for good (the
        fitted classifier is ``gate_.classifier_``; None with a single
        expert, which takes every row).""",
    "gate_features": """gate_features : array-like of int, str or bool, default=None
        The columns the gate sees (flexmix's concomitant variables): integer
        indices (negative ones count from the last column), column names of a
        DataFrame, or a boolean mask of one value per column; each column at
        most once. None means every column. An empty list ``[]`` means a gate
        without inputs (flexmix's ``FLXPconstant``): mixing proportions only,
        the same for every row, fitted in closed form (the weighted mean of
        the responsibilities); ``gate`` must then be None.""",
    "expert_features": """expert_features : array-like of int, str or bool, default=None
        The columns the experts see, selected like ``gate_features``. None
        means every column.""",
    "assignment": """assignment : {"soft", "hard", "stochastic"}, default="soft"
        What the M-step fits to. ``"soft"``: the responsibilities (EM).
        ``"hard"``: each row goes wholly to its most responsible expert
        (classification EM). ``"stochastic"``: each row goes to one expert
        drawn from its responsibilities, anew every iteration (stochastic EM,
        reproducible with ``random_state``). The reported log-likelihood is
        the mixture's in every case; it never decreases only for ``"soft"``.""",
    "init": """init : {"auto", "kmeans", "random", "emem"} or array-like of shape \
(n_samples, n_experts), default="auto"
        Initial responsibilities of each start. ``"kmeans"``: k-means on the
        standardised ``[X, y]``, later starts on weighted bootstraps of the
        rows; ``"random"``: Dirichlet(1) rows, new for every start;
        ``"emem"``: short-run EM, each start the best of 2 runs of at most
        30 EM iterations from random partitions of the rows, then
        continued; ``"auto"``: a k-means start when ``n_init=1``; with
        several starts, ``"emem"`` for each, the first start's short runs
        beginning with the k-means partition (k-means finds regimes that are
        clusters in one start; short-run EM explores where regimes overlap
        in x and differ in y given x); an array: non-negative rows summing
        to one, or all zero to leave a row out of the first M-step (later
        starts mix the other rows with Dirichlet rows). In regression, rows whose ``y``
        is at least 10 robust standard deviations from the median of ``y``,
        when they are one row or hold at most 5% of the weight, are left out
        of the first M-step of random starts and emEM's random partitions,
        and k-means runs with and without them, short runs of EM choosing:
        a far ``y`` took an expert of its own.""",
    "n_init": """n_init : int, default=1
        Number of EM starts; the one with the highest penalised
        log-likelihood is kept. ``n_starts_at_best_`` says how many reached
        it. A single start is a k-means start (``init="auto"``); on data
        whose regimes overlap, use several (to compare with another
        package's best of 20 starts, 20).""",
    "max_iter": """max_iter : int, default=300
        Maximum number of EM iterations per start. Default fits on the
        generators of :mod:`skmoe.datasets` and on small real data sets
        (scikit-learn's and R's) took 6 to 160 iterations to meet the default
        ``tol`` with 2 to 5 experts; a fit that runs out of iterations warns
        (ConvergenceWarning) and keeps where it stopped.""",
    "tol": """tol : float, default=1e-5
        EM stops when the penalised log-likelihood per sample
        (``lower_bound_``: the total log-likelihood, less the penalties,
        divided by the summed sample weights, so per row with unit weights)
        changes by less than ``tol`` nats between two iterations, and the
        iteration that met it solved the gate's problem (its generalised-EM
        steps, and those of LogisticRegression experts, stop short of it).
        Per sample, the rule does not depend on the number of rows: 1e-5 is
        0.01 nats in total on 1,000 rows, 1 nat on 100,000. EM converges
        linearly, often slowly: where the log-likelihood still creeps up, a
        fit stopped by ``tol`` can lie more than ``tol`` below where EM would
        have gone on (on the data sets above, mostly within 1e-4 per sample;
        use ``tol=1e-6`` when the last digits matter).""",
    "min_expert_weight": """min_expert_weight : float, default=1e-3
        An expert whose share of the total responsibility falls below this
        fraction is removed (with a warning); ``n_experts_`` reports how many
        remain. With ``groups``, the share is that of the groups, each counting
        once (flexmix's ``minprior``).""",
    "min_rows_per_parameter": """min_rows_per_parameter : float, default=3.0
        Rows an expert must be responsible for, per parameter it fits, to stay
        in the mixture: checked after every M-step, an expert below it is
        removed (with a warning) and the others are refitted at once. Its rows
        are its share of the weighted responsibilities times the number of rows
        with positive weight; its parameters are its coefficients and
        intercept (a ScaledRidge's effective degrees of freedom, a tree's
        leaves, 1 for experts without a count) plus the likelihood's own (a
        noise variance). An expert with fewer rows than parameters fits them
        exactly, claims no noise and extrapolates wildly; 0 turns the rule
        off. Each leaf of a tree expert (a final step with
        ``min_weight_fraction_leaf``) likewise keeps this many rows' worth
        (rows of mean weight) of the expert's weight.""",
    "n_jobs": """n_jobs : int, default=None
        Number of joblib workers. With ``n_init > 1`` the starts run in
        parallel; with one start, the experts of each M-step are fitted in
        parallel (plain LinearRegression and ScaledRidge experts on dense
        data excepted: they are fitted together from their Gram matrices, in
        one pass), and so are the fold refits of an expert whose noise is
        cross-fitted (the regressor's ``noise_variance``).
        Workers are threads by default (scikit-learn's trees and
        BLAS/LAPACK release the GIL, and threads share X instead of copying
        it every M-step); ``joblib.parallel_config(backend="loky")`` selects
        processes, for experts that hold the GIL. None means 1 unless in a
        joblib context; -1 means all processors. Results do not depend on
        ``n_jobs``.""",
    "random_state": """random_state : int, RandomState instance or None, default=None
        Controls the initialisations, the seeds given to the experts' and the
        gate's own ``random_state`` parameters, the weighted resamples and the
        draws of ``assignment="stochastic"``. Pass an int for reproducible
        fits.""",
    "verbose": """verbose : int, default=0
        0 is silent; 1 prints one line per start; 2 also prints one line per
        EM iteration (iteration, log-likelihood, change, seconds).""",
    "warm_start": """warm_start : bool, default=False
        When True and the estimator is fitted, ``fit`` resumes EM from the
        fitted experts, gate and likelihood parameters (``experts``,
        ``n_experts``, ``gate``, ``gate_features``, ``expert_features``,
        ``init`` and ``n_init`` are then ignored, with a UserWarning naming
        those changed since the fit). X must have the columns of that fit:
        the same number, and the same names in the same order, as at
        prediction time; other columns raise a ValueError.""",
    "top_k": """top_k : int, default=None
        At prediction time (``predict``, ``predict_proba``), send each row
        only to its ``top_k`` most probable experts under the gate, with the
        gate renormalised over them; rows are grouped by expert, so each
        expert is called once, on its rows. None uses every expert. Fitting,
        ``score_samples``, ``bic`` and ``aic`` always use every expert.""",
    # A continuation of the experts' description (indented as one).
    "experts_names": """Experts may be given as ``(name, estimator)`` pairs, as the
    estimators of ``StackingRegressor``: ``get_params()`` then lists each
    expert under its name and its parameters as ``<name>__<parameter>``,
    which ``set_params`` and ``GridSearchCV`` take (names must be unique,
    contain no ``__`` and differ from the constructor's parameters). The
    experts of a list without names cannot be reached one by one
    (``set_params(experts__0__alpha=...)`` raises a ValueError that says
    to name them); those of a single template can (``experts__alpha``,
    which with ``experts=None`` first sets the default expert).""",
    "step_size_decay": """step_size_decay : float in (0.5, 1], default=0.7
        The step-size schedule of :meth:`partial_fit` (stepwise EM, Cappé
        and Moulines, 2009): batch ``t`` (from 0) moves the running
        sufficient statistics by ``eta_t = (t + 2) ** -step_size_decay``
        towards its own, ``s <- (1 - eta_t) s + eta_t s_batch``. Values in
        (0.5, 1] make the steps sum to infinity and their squares converge,
        as stochastic approximation needs; smaller values forget old batches
        faster (they follow a drifting stream), 1 weighs every batch
        equally. ``fit`` does not use it.""",
    "partial_fit": """Update the mixture with one batch of rows: one step of stepwise EM.

        The batch's responsibilities come from the current model (from
        k-means on the first batch of an unfitted estimator; a fitted
        estimator continues from its fitted model, but ``fit`` keeps no
        running statistics, so that first batch takes a whole step: the
        gate, the linear experts and the noise variances are solved from it
        alone; refit with ``warm_start=True`` to add a few rows to a fitted
        model). Linear experts
        (``LinearRegression``, ``Ridge``, ``ScaledRidge``, regressor only) and
        the Gaussian noise variances are solved from decayed running weighted
        Gram matrices; other experts are updated by their own
        ``partial_fit(X, y, sample_weight=w * R[:, k])`` (SGD, passive
        aggressive, MLP, naive Bayes models); the softmax gate takes a
        damped Newton step on the batch's soft targets, with a decayed running
        Hessian. Each step has size ``(t + 2) ** -step_size_decay``. Experts
        are never removed, and ``n_iter_`` counts the batches seen. No
        expert is refitted on folds: the noise variances are in sample and
        no label noise is modelled, whatever ``noise_variance`` and
        ``label_noise`` say (a UserWarning says so when they ask for
        ``"cross_fitted"``).
        ``lower_bound_`` is the per-sample log-likelihood of the last batch
        under the model before its update (a held-out measure): ``-inf``
        after the first batch of an unfitted estimator, which has no model
        before it (``lower_bounds_`` then holds no value).""",
    "fitted_common": """experts_ : list of estimators
        The fitted experts that survived.
    gate_ : estimator
        The fitted gate; with ``gate_features=[]``, a constant gate whose
        ``proportions_`` are the mixing proportions.
    n_experts_ : int
        Number of experts after removals.
    n_iter_ : int
        EM iterations of the best start.
    converged_ : bool
        Whether the best start converged.
    lower_bound_ : float
        Final per-sample penalised log-likelihood of the best start, the
        objective EM climbs: the weighted log-likelihood less the
        ``SoftmaxGate``'s penalty and the experts' penalties that skmoe reads
        (``ScaledRidge`` experts of the regressor, ``LogisticRegression``
        and ``ScaledLogisticRegression`` experts of the classifier with an L2
        penalty or none, and those of inner mixtures), divided by the summed
        sample weights.
        :meth:`score_samples` and :meth:`log_likelihood` give the
        log-likelihood without the penalties.
    lower_bounds_ : list of float
        Per-sample penalised log-likelihood (as ``lower_bound_``) after each
        iteration of the best start.
    effective_n_samples_ : ndarray of shape (`n_experts_`,)
        Each expert's total (weighted) responsibility on the training rows at
        the final E-step.
    gate_share_ : ndarray of shape (`n_experts_`,)
        Each expert's mean gate probability on the training rows (weighted).
    init_lower_bounds_ : list of list of float
        The per-sample penalised log-likelihood after each iteration of every
        start, in the order the starts ran (the kept start's list is
        ``lower_bounds_``). With ``init="emem"`` (or ``"auto"`` with several
        starts), a start's list holds the iterations of its best short run,
        then those that continued it; with ``warm_start``, the iterations of
        the resumed fit only.
    n_starts_at_best_ : int
        How many starts ended within 0.01 nats (of the total penalised
        log-likelihood) of the best one: close to ``n_init`` when the optimum
        is stable, 1 when only one start found it (more starts may find a
        better one). With ``warm_start``, 1.
    gate_scaler_ : StandardScaler or None
        Standardises the gate's columns (with the sample weights), so that the
        gate's penalty does not depend on the units of the features; None for
        a gate without inputs. It centres them too, but for sparse columns too
        wide to be made dense (then ``with_mean=False``).
    gate_features_ : ndarray of int
        Indices of the columns the gate sees (empty for a gate without inputs).
    expert_features_ : ndarray of int
        Indices of the columns the experts see.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.""",
}


# Parameters shared by the methods that score (X, y) under the fitted mixture.
_SHARED["scored_data"] = """X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Input data.
    y : array-like of shape (n_samples,)
        Targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Row weights, as in :meth:`fit`; None means unit weights.
    groups : array-like of shape (n_samples,), default=None
        Group labels, as in :meth:`fit`; None: every row on its own."""


def fill_doc(obj):
    """Replace ``{name}`` markers in ``obj.__doc__`` with the shared descriptions.

    Each marker stands alone on its line; the description is indented as the
    marker is (the texts above are written for a class docstring, whose
    parameters are indented by 4 spaces), so that a method's docstring can
    share them too.
    """
    lines = []
    for line in obj.__doc__.split("\n"):
        marker = line.strip()
        name = marker[1:-1] if marker.startswith("{") and marker.endswith("}") else None
        if name not in _SHARED:
            lines.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        text = _SHARED[name].split("\n")
        lines.append(indent + text[0])
        lines.extend(indent + part[4:] if part.strip() else "" for part in text[1:])
    obj.__doc__ = "\n".join(lines)
    return obj
