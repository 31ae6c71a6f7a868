"""Sphinx configuration of the skmoe documentation.

Build with ``make docs`` at the top of the repository, or::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Warnings are errors: the documentation is checked as the code is.

Links to the documentation of Python, NumPy, SciPy, joblib and scikit-learn
(intersphinx) need network access; they are switched on by setting the
environment variable ``SKMOE_DOCS_INTERSPHINX=1``, so that an offline build
stays free of warnings.
"""

import os
import sys

# Document the package of this checkout even when it is not installed.
sys.path.insert(0, os.path.abspath(".."))

import skmoe  # noqa: E402

# -- Project ------------------------------------------------------------------

project = "skmoe"
author = "The skmoe developers"
copyright = "The skmoe developers"
release = skmoe.__version__
version = ".".join(release.split(".")[:2])

# -- General ------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
]

root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "notebooks/.ipynb_checkpoints"]
templates_path = []

# -- autodoc / autosummary / numpydoc ----------------------------------------

autosummary_generate = False
autodoc_default_options = {"member-order": "alphabetical"}
autodoc_typehints = "none"

# The API page lists the members with autoclass, so numpydoc does not add its
# own table of class members (which would need generated stub pages).
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- notebooks (myst-nb) -----------------------------------------------------

# docs/notebooks is a link to the repository's notebooks/ folder. The pages show
# the outputs the notebooks were saved with: the test suite executes them (nbmake),
# the documentation build does not.
nb_execution_mode = "off"
nb_merge_streams = True

# -- intersphinx (opt-in, needs the network) ----------------------------------

intersphinx_mapping = {}
if os.environ.get("SKMOE_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "joblib": ("https://joblib.readthedocs.io/en/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
    }
intersphinx_timeout = 10

# -- HTML ---------------------------------------------------------------------

html_theme = "alabaster"
html_theme_options = {
    "description": "Mixtures of experts for scikit-learn, fitted by EM",
    "fixed_sidebar": True,
}
html_static_path = []
html_title = f"skmoe {release}"
