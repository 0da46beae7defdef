"""Every docstring example in the package runs and prints what it says (one test per module)."""

import doctest
import importlib
import pkgutil

import pytest

import tensorflux

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(tensorflux.__path__, prefix="tensorflux."))
# Modules that import an optional package at module level: skipped, saying so, without it.
NEEDS = {"tensorflux.backends.cupy_backend": "cupy"}


def test_modules_are_found():
    assert {"tensorflux.tensor", "tensorflux.dtypes", "tensorflux.ops.math"} <= set(MODULES)


@pytest.mark.parametrize("name", ["tensorflux"] + MODULES)
def test_docstring_examples(name):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name], reason=f"{name} needs the optional {NEEDS[name]}")
    module = importlib.import_module(name)
    # Each module's examples start from a fresh Keras session: auto-generated names
    # ("dense", not "dense_3") and the global dtype policy do not depend on the order.
    from tensorflux.keras import backend

    backend.clear_session()
    report = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    backend.clear_session()  # (and leaves none of its names to the tests after it)
    assert result.failed == 0, (f"{name}: {result.failed} of {result.attempted} docstring "
                                f"examples failed:\n" + "".join(report))
