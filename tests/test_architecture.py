"""DESIGN.md's import boundaries and code rules, checked by parsing every module with `ast`.

Every import statement counts, including those inside functions and methods, and so do
`importlib.import_module("x")` / `__import__("x")` calls with a constant module name.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tensorflux"

# Folders (relative to tensorflux/) whose job is arrays or I/O: the only places that may
# import NumPy or CuPy (DESIGN.md, "The house, bottom to top").
ARRAY_LIBRARY_ALLOWED = ("backends", "io", "keras/saving", "keras/datasets", "data", "summary",
                         "test")
ARRAY_LIBRARIES = {"numpy", "cupy", "cupyx"}
# Compute code: never NumPy/CuPy, whatever the allowlist above says.
COMPUTE_CODE = ("ops", "autodiff", "graph")
PICKLE_MODULES = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "shelve", "marshal"}
DYNAMIC_IMPORTERS = {"import_module", "__import__"}


def package_files():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def relative(path):
    return path.relative_to(PACKAGE).as_posix()


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


class Import:
    """One imported module: its absolute dotted name, line, and whether it is top level."""

    def __init__(self, name, line, top_level):
        self.name = name
        self.line = line
        self.top_level = top_level

    @property
    def root(self):
        return self.name.split(".")[0]

    def __repr__(self):
        where = "module level" if self.top_level else "inside a function"
        return f"{self.name} (line {self.line}, {where})"


def _resolve(node, current_module, is_package):
    """The absolute module names an Import/ImportFrom node brings in."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        base = node.module
    else:
        package = current_module.split(".")
        if not is_package:
            package = package[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    # `from tensorflux import backends` imports the submodule tensorflux.backends.
    return [base] + [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]


def _dynamic_import_name(node):
    """'x' for importlib.import_module("x") or __import__("x"); None otherwise."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if called not in DYNAMIC_IMPORTERS or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def imports_of_source(source, current_module="tensorflux.example", is_package=False):
    """Every import of a module's source, with whether it runs at import time."""
    tree = ast.parse(source)
    found = []

    def visit(node, top_level):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in _resolve(node, current_module, is_package):
                found.append(Import(name, node.lineno, top_level))
        elif isinstance(node, ast.Call):
            name = _dynamic_import_name(node)
            if name is not None:
                found.append(Import(name, node.lineno, top_level))
        nested = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, top_level and not nested)

    visit(tree, True)
    return found


def imports_of(path):
    return imports_of_source(path.read_text(encoding="utf-8"), module_name(path),
                             path.name == "__init__.py")


def under(path, folders):
    rel = relative(path)
    return any(rel == f + ".py" or rel.startswith(f + "/") for f in folders)


FILES = package_files()
IDS = [relative(p) for p in FILES]


def test_the_package_is_found():
    # Guards the tests below against passing vacuously on an empty or moved package.
    names = set(IDS)
    assert {"__init__.py", "dtypes.py", "tensor.py", "primitive.py"} <= names
    assert any(name.startswith("ops/") for name in names)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_numpy_and_cupy_only_in_backends_and_io(path):
    if under(path, ARRAY_LIBRARY_ALLOWED):
        return
    bad = [i for i in imports_of(path) if i.root in ARRAY_LIBRARIES]
    assert not bad, (f"tensorflux/{relative(path)} imports {bad}; only tensorflux/backends/ "
                     f"(and the I/O folders {ARRAY_LIBRARY_ALLOWED[1:]}) may import NumPy or "
                     f"CuPy. Route the call through a backend kernel instead.")


@pytest.mark.parametrize("path", [p for p in FILES if under(p, COMPUTE_CODE)],
                         ids=[relative(p) for p in FILES if under(p, COMPUTE_CODE)])
def test_compute_code_never_imports_array_libraries(path):
    bad = [i for i in imports_of(path) if i.root in ARRAY_LIBRARIES]
    assert not bad, f"compute code tensorflux/{relative(path)} imports {bad}"


def test_keras_calls_ops_not_array_libraries():
    # One test over all of keras/ (which may not exist yet), rather than an empty parametrize.
    keras_files = [p for p in FILES if under(p, ("keras",))
                   and not under(p, ("keras/saving", "keras/datasets"))]
    bad = {relative(p): found for p in keras_files
           if (found := [i for i in imports_of(p) if i.root in ARRAY_LIBRARIES])}
    assert not bad, f"Keras code imports NumPy/CuPy (call tensorflux ops instead): {bad}"


def test_dtypes_depends_on_nothing_but_a_lazy_backend():
    path = PACKAGE / "dtypes.py"
    for imp in imports_of(path):
        if imp.root != "tensorflux":
            assert imp.root not in ARRAY_LIBRARIES, f"dtypes.py imports {imp}"
            continue
        lazy_backend = not imp.top_level and (imp.name == "tensorflux.backends"
                                              or imp.name.startswith("tensorflux.backends."))
        assert lazy_backend, (f"dtypes.py imports {imp}; it may import only tensorflux.backends, "
                              f"and only inside a function")


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_library_code_raises_instead_of_asserting(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert not lines, (f"tensorflux/{relative(path)} uses `assert` on lines {lines}; raise an "
                       f"error naming the op instead (asserts vanish under python -O)")


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_no_pickle(path):
    bad = [i for i in imports_of(path) if i.root in PICKLE_MODULES]
    assert not bad, f"tensorflux/{relative(path)} imports {bad}; no pickle anywhere (DESIGN.md)"


# ---------------------------------------------------------------- the checker itself

def test_checker_sees_nested_relative_and_dynamic_imports():
    source = (
        "import os\n"
        "def f():\n"
        "    import numpy as np\n"
        "    class C:\n"
        "        def g(self):\n"
        "            from cupy import ndarray\n"
        "from . import backends\n"
        "from ..ops import math\n"
        "importlib.import_module('pickle')\n"
        "x = lambda: __import__('dill')\n"
    )
    found = {i.name: i.top_level for i in imports_of_source(source, "tensorflux.ops.array")}
    assert found["os"] is True
    assert found["numpy"] is False
    assert found["cupy"] is False
    assert found["tensorflux.ops.backends"] is True
    assert found["tensorflux.ops"] is True and found["tensorflux.ops.math"] is True
    assert found["pickle"] is True
    assert found["dill"] is False


def test_checker_resolves_relative_imports_in_packages():
    found = {i.name for i in imports_of_source("from .tape import GradientTape\n",
                                               "tensorflux.autodiff", is_package=True)}
    assert found == {"tensorflux.autodiff.tape", "tensorflux.autodiff.tape.GradientTape"}
