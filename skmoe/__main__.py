"""Command line: ``python -m skmoe demo``.

``demo`` fits a mixture of linear experts to a bundled switching-regression
dataset (generated with a fixed seed) and prints its held-out R² and mean
log-likelihood beside those of a single linear model.
"""

import argparse
import sys

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from . import MixtureOfExpertsRegressor, __version__
from .datasets import make_switching_regression


def _gaussian_mean_log_likelihood(y_true, y_pred, variance):
    return float(np.mean(-0.5 * (np.log(2 * np.pi * variance) + (y_true - y_pred) ** 2 / variance)))


def demo(seed=0):
    """Fit the regressor and a linear model on the bundled data and print both scores.

    Parameters
    ----------
    seed : int, default=0
        Seed of the train/test split and of the fits.

    Returns
    -------
    scores : dict
        ``{"mixture": (r2, mean_log_lik), "linear": (r2, mean_log_lik)}`` on the
        test rows.
    """
    X, y = make_switching_regression(
        n_samples=4000, n_features=4, n_experts=3, noise=0.3, random_state=42
    )
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=seed)

    mixture = MixtureOfExpertsRegressor(n_experts=3, n_init=3, random_state=seed)
    mixture.fit(X_train, y_train)
    linear = LinearRegression().fit(X_train, y_train)
    residual_variance = np.mean((y_train - linear.predict(X_train)) ** 2)

    scores = {
        "mixture": (
            r2_score(y_test, mixture.predict(X_test)),
            float(np.mean(mixture.score_samples(X_test, y_test))),
        ),
        "linear": (
            r2_score(y_test, linear.predict(X_test)),
            _gaussian_mean_log_likelihood(y_test, linear.predict(X_test), residual_variance),
        ),
    }
    print(f"skmoe {__version__}: switching regression, 4 features, 3 regimes, "
          f"{len(y_train)} training and {len(y_test)} test rows")
    print(f"{'model':<36}{'test R2':>10}{'test mean log-lik':>20}")
    names = {
        "mixture": f"MixtureOfExpertsRegressor (K={mixture.n_experts_})",
        "linear": "LinearRegression",
    }
    for key, (r2, log_lik) in scores.items():
        print(f"{names[key]:<36}{r2:>10.3f}{log_lik:>20.3f}")
    return scores


def main(argv=None):
    """Entry point of ``python -m skmoe``."""
    parser = argparse.ArgumentParser(prog="python -m skmoe", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="fit the regressor on bundled data")
    demo_parser.add_argument("--seed", type=int, default=0, help="seed of split and fits")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
