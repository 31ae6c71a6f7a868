"""The examples of the documentation pages run and give what the pages say."""

import doctest
import warnings
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("page", ["flexmix.rst"])
def test_examples_of_the_page_run(page):
    with warnings.catch_warnings():
        # Warnings of the fits (a removed expert, a start that did not converge) are
        # part of what a reader sees, not failures of the examples.
        warnings.simplefilter("ignore", UserWarning)
        result = doctest.testfile(str(DOCS / page), module_relative=False,
                                  optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
                                  verbose=False, report=True)
    assert result.attempted > 20
    assert result.failed == 0
