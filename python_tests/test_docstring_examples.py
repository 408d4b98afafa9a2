"""Docstring examples must run when copied into a fresh Python session, not only with their module's globals."""

import doctest
import importlib
import pkgutil

import pytest

import nasfast

SKIP = {"nasfast.__main__", "nasfast._C"}
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
MIN_DOCSTRINGS = 35  # there are more; a floor so that a broken search cannot pass by finding nothing


def fresh_globals() -> dict:
    """What a new interactive session starts with: no numpy, no torch, no nasfast names."""
    return {"__name__": "__main__"}


def docstrings_with_examples() -> list[doctest.DocTest]:
    names = ["nasfast"] + [m.name for m in pkgutil.walk_packages(nasfast.__path__, "nasfast.")]
    found = []
    for name in names:
        if name in SKIP:
            continue
        module = importlib.import_module(name)
        for test in doctest.DocTestFinder().find(module, name, globs=fresh_globals()):
            if test.examples and test.name.startswith(name):
                found.append(test)
    return found


DOCSTRINGS = docstrings_with_examples()


def test_docstrings_found():
    assert len(DOCSTRINGS) >= MIN_DOCSTRINGS, [t.name for t in DOCSTRINGS]
    assert len({t.name for t in DOCSTRINGS}) == len(DOCSTRINGS)


@pytest.mark.parametrize("test", DOCSTRINGS, ids=[t.name for t in DOCSTRINGS])
def test_docstring_examples_run_with_empty_globals(test: doctest.DocTest):
    test.globs = fresh_globals()  # never what an earlier run left behind
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    out: list[str] = []
    result = runner.run(test, out=out.append)
    assert result.failed == 0, (
        f"{test.name} ({test.filename}:{test.lineno}): {result.failed} of {result.attempted} examples fail "
        "with empty globals (does the example import what it uses?)\n" + "".join(out)
    )
