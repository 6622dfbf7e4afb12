"""The public API's docstrings: one convention (numpydoc sections, shapes where tensors go in or
out) and an example each, and every example runs (``doctest``) with the output it shows.

The public API is what the docs' API pages list: the ``__all__`` of the public modules (a module
without ``__all__``: its public functions and classes)."""
import doctest
import importlib
import inspect

import pytest

PUBLIC_MODULES = ["inverse_mel", "inverse_mel.functional", "inverse_mel.presets", "inverse_mel.pipeline",
                  "inverse_mel.metrics", "inverse_mel.demo"]
DEMO = ["synthesize", "power_spectrogram", "run_demo"]


def _public_objects():
    seen, found = set(), []
    for modname in PUBLIC_MODULES:
        mod = importlib.import_module(modname)
        if modname == "inverse_mel.demo":
            names = DEMO
        elif hasattr(mod, "__all__"):
            names = mod.__all__
        else:
            names = [n for n, o in vars(mod).items() if not n.startswith("_") and getattr(o, "__module__", None) == modname
                     and (inspect.isfunction(o) or inspect.isclass(o))]
        for name in names:
            obj = getattr(mod, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)) or id(obj) in seen:
                continue
            seen.add(id(obj))
            found.append(pytest.param(obj, id=f"{modname}.{name}"))
    return found


PUBLIC = _public_objects()


def test_the_public_api_is_all_there():
    names = {p.id for p in PUBLIC}
    for expected in ["inverse_mel.InverseMelScale", "inverse_mel.mel_to_audio", "inverse_mel.functional.inverse_mel_scale",
                     "inverse_mel.presets.detect", "inverse_mel.metrics.spectral_convergence"]:
        assert expected in names or any(n.endswith(expected.rsplit(".", 1)[1]) for n in names), expected
    assert len(PUBLIC) >= 25


@pytest.mark.parametrize("obj", PUBLIC)
def test_docstring_follows_numpydoc_with_an_example(obj):
    doc = inspect.getdoc(obj) or ""
    name = obj.__qualname__
    assert "\nExamples\n--------\n" in doc and ">>> " in doc, f"{name}: no numpydoc 'Examples' section with an example"
    assert "\nArgs:\n" not in doc and "\nReturns:\n" not in doc, f"{name}: Google-style sections; use numpydoc"
    if inspect.isclass(obj):
        assert "\nParameters\n----------\n" in doc or "\nAttributes\n----------\n" in doc, \
            f"{name}: no 'Parameters' or 'Attributes' section"
    else:
        params = [p for p in inspect.signature(obj).parameters]
        if params:
            assert "\nParameters\n----------\n" in doc, f"{name}: no 'Parameters' section"
        assert "\nReturns\n-------\n" in doc, f"{name}: no 'Returns' section"


@pytest.mark.parametrize("obj", PUBLIC)
def test_docstring_examples_run(obj):
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(obj, obj.__qualname__, globs={})
    assert tests, f"{obj.__qualname__}: no doctest found"
    import torch
    with torch.random.fork_rng():  # examples that seed the global generator leave it as it was
        for test in tests:
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{obj.__qualname__}: {result.failed} of {result.attempted} examples failed"


def test_a_wrong_example_fails():
    def wrong():
        """
        Examples
        --------
        >>> 1 + 1
        3
        """
    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(wrong, "wrong", globs={}):
        runner.run(test, out=lambda s: None)
    assert runner.summarize(verbose=False).failed == 1
