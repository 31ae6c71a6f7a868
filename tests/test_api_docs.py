"""Every public name has a valid numpydoc docstring and a place on the API page.

The public names are the ``__all__`` of ``skmoe`` and of each of its modules whose
name does not start with an underscore; the public methods and properties of the
public classes (those skmoe defines, not the ones inherited from scikit-learn) are
checked too.
"""

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import numpydoc.validate
import pytest

import skmoe

API_PAGE = Path(__file__).resolve().parent.parent / "docs" / "api.rst"

# numpydoc checks that no docstring of skmoe is held to, each with the reason.
IGNORED_CODES = {
    "SA01": "a See Also section only where a related name helps; most names have none",
    "EX01": "examples live in the user guide and the notebooks, which the suite runs",
    "ES01": "an extended summary only where the summary line does not say enough",
    "RT02": "returned values are named (`proba : ndarray`), as scikit-learn does",
}
# Errors ignored for one name only, with the reason.
IGNORED_FOR_NAME = {
    ("skmoe.inspection.GateRules", "PR01"):
        "a result built by gate_rules, not by users; its Attributes are documented",
    ("skmoe.inspection.MixtureReport", "PR01"):
        "a result built by report, not by users; its Attributes are documented",
    # A property that returns the bound method, so that hasattr(model, "partial_fit") is
    # False for experts that cannot stream; numpydoc reads a property's Parameters as
    # unknown.
    ("skmoe.MixtureOfExpertsRegressor.partial_fit", "PR02"):
        "a property returning the method its Parameters describe",
    ("skmoe.MixtureOfExpertsClassifier.partial_fit", "PR02"):
        "a property returning the method its Parameters describe",
}
# Names in __all__ that are not objects to document on the API page.
NOT_ON_API_PAGE = {("skmoe", "__version__")}


def _public_modules():
    names = ["skmoe"] + sorted(
        f"skmoe.{info.name}" for info in pkgutil.iter_modules(skmoe.__path__)
        if not info.name.startswith("_")
    )
    return [importlib.import_module(name) for name in names]


PUBLIC_MODULES = _public_modules()


def _defined_in_skmoe(cls, name):
    """Whether attribute ``name`` of ``cls`` is a method or property skmoe writes."""
    attribute = inspect.getattr_static(cls, name)
    # A method behind scikit-learn's available_if is the function it wraps.
    attribute = getattr(attribute, "fn", attribute) if hasattr(attribute, "check") else attribute
    if isinstance(attribute, (classmethod, staticmethod)):
        attribute = attribute.__func__
    elif isinstance(attribute, property):
        attribute = attribute.fget
    if not inspect.isfunction(attribute):
        return False
    return attribute.__module__.split(".")[0] == "skmoe"


def _documented_names():
    """Import paths of every public function, class, method and property."""
    paths = []
    for module in PUBLIC_MODULES:
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants (``__version__``, tables): no docstring of their own
            paths.append(f"{module.__name__}.{name}")
            if inspect.isclass(obj):
                paths.extend(
                    f"{module.__name__}.{name}.{member}" for member in sorted(dir(obj))
                    if not member.startswith("_") and _defined_in_skmoe(obj, member)
                )
    return paths


def test_every_public_module_declares_all():
    missing = [module.__name__ for module in PUBLIC_MODULES if not hasattr(module, "__all__")]
    assert missing == []


def test_the_walk_reaches_the_names_it_should():
    # A walk that silently found nothing would pass every check below.
    paths = set(_documented_names())
    assert {
        "skmoe.MixtureOfExpertsRegressor",
        "skmoe.MixtureOfExpertsRegressor.fit",
        "skmoe.MixtureOfExpertsRegressor.predict_quantiles",
        "skmoe.MixtureOfExpertsClassifier.predict_proba",
        "skmoe.SoftmaxGate.fit",
        "skmoe.inspection.select_n_experts",
        "skmoe.plotting.GateDisplay.from_estimator",
        "skmoe.metrics.crps",
    } <= paths
    # Methods scikit-learn documents are not ours to check; those skmoe overrides are.
    assert "skmoe.MixtureOfExpertsClassifier.set_score_request" not in paths
    assert "skmoe.MixtureOfExpertsClassifier.score" in paths
    assert "skmoe.MixtureOfExpertsRegressor.score" in paths
    assert "skmoe.MixtureOfExpertsRegressor.set_params" in paths


@pytest.mark.parametrize("path", _documented_names())
def test_docstring_is_valid_numpydoc(path):
    result = numpydoc.validate.validate(path)
    errors = [
        f"{code}: {message}" for code, message in result["errors"]
        if code not in IGNORED_CODES and (path, code) not in IGNORED_FOR_NAME
    ]
    assert errors == [], f"{path}:\n" + "\n".join(errors)


def _api_page_names():
    """module -> names the API page documents (autosummary entries and auto* directives)."""
    documented = {}
    module = None
    in_autosummary = False
    for line in API_PAGE.read_text(encoding="utf-8").splitlines():
        directive = re.match(r"\.\. (\w+)::\s*(\S*)", line)
        if directive:
            kind, argument = directive.groups()
            in_autosummary = kind == "autosummary"
            if kind == "currentmodule":
                module = argument
            elif kind in ("autoclass", "autofunction", "autodata"):
                documented.setdefault(module, set()).add(argument)
            continue
        if in_autosummary:
            entry = re.match(r"\s+([\w.]+)\s*$", line)
            if entry:
                documented.setdefault(module, set()).add(entry.group(1))
            elif line and not line[0].isspace():
                in_autosummary = False
    return documented


def test_api_page_lists_every_public_name_and_nothing_else():
    documented = _api_page_names()
    on_page = {(module, name.split(".")[0]) for module, names in documented.items()
               for name in names}
    public = {(module.__name__, name) for module in PUBLIC_MODULES
              for name in module.__all__} - NOT_ON_API_PAGE
    assert sorted(public - on_page) == [], "public names missing from docs/api.rst"
    assert sorted(on_page - public) == [], "docs/api.rst names that are not public"


def test_api_page_methods_exist():
    documented = _api_page_names()
    missing = []
    for module, names in documented.items():
        for name in names:
            obj = importlib.import_module(module)
            try:
                for part in name.split("."):
                    obj = getattr(obj, part)
            except AttributeError:
                missing.append(f"{module}.{name}")
    assert missing == []
