"""numpy_llvm's on-disk cache of compiled kernels (session 17): a fresh process loads the
machine code an earlier one compiled, and its kernels give the compiled ones' bits (and
those of independent references: a float64 convolution, the NumPy runner of an elementwise
program); a damaged, foreign or stale file is compiled again, a directory others can write
to is not used, and TENSORFLUX_KERNEL_CACHE=0 writes nothing."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_llvm
from tests.tolerances import assert_same_bits

if not numpy_llvm.available():
    pytest.skip("llvmlite's native kernels do not run here", allow_module_level=True)

# A process that runs two convolutions (two conv_rows kernels) and a fused elementwise
# program (one loop), saves the results to `out` and prints numpy_llvm.cache_counts().
_PROBE = """
    import json, sys
    import numpy as np
    from tensorflux import float32
    from tensorflux.backends import numpy_backend as nb
    from tensorflux.backends import numpy_llvm
    {before}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 10, 10, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 32)).astype(np.float32)
    v = rng.standard_normal((1, 1, 8, 16)).astype(np.float32)
    a, b = rng.standard_normal((2, 1 << 15)).astype(np.float32)
    a[::7] = np.nan
    program = (("multiply", (0, 1), (), float32), ("add", (2, 0), (), float32),
               ("maximum", (3, 1), (), float32))
    loop = nb.specialize("fused_elementwise", {{"program": program}}, 2, result_size=a.size)
    results = {{"conv3": nb.conv2d(x, w, (1, 1), "SAME", (1, 1), "NHWC"),
               "conv1": nb.conv2d(x, v, (1, 1), "VALID", (1, 1), "NHWC"),
               "loop": loop(a, b)}}
    np.savez(sys.argv[1], **results)
    print(json.dumps(numpy_llvm.cache_counts()))
"""


def _environment(directory):
    """This process's environment with the native kernels and their cache on, in
    `directory`."""
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("TENSORFLUX_NATIVE_KERNELS", "TENSORFLUX_KERNEL_CACHE")}
    environment["TENSORFLUX_CACHE_DIR"] = str(directory)
    return environment


def _probe(tmp_path, directory, before="", **env):
    """cache_counts() and the results of _PROBE in a fresh interpreter whose cache is
    `directory`."""
    out = tmp_path / "results.npz"
    environment = {**_environment(directory), **env}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_PROBE.format(before=before)), str(out)],
        capture_output=True, text=True, env=environment, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    with np.load(out) as saved:
        results = {name: saved[name] for name in saved.files}
    return json.loads(result.stdout.strip().splitlines()[-1]), results


def _files(directory):
    return sorted(p for p in directory.iterdir() if p.is_file()) if directory.exists() else []


def _same_bits(first, second):
    assert first.keys() == second.keys()
    for name in first:
        assert_same_bits(first[name], second[name], name)


def _check_against_references(results):
    """The convolutions against a float64 sum over the taps, the loop against the NumPy
    runner's bits."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 10, 10, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 32)).astype(np.float32)
    v = rng.standard_normal((1, 1, 8, 16)).astype(np.float32)
    a, b = rng.standard_normal((2, 1 << 15)).astype(np.float32)
    a[::7] = np.nan
    padded = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    expected = sum(np.einsum("nhwc,co->nhwo", padded[:, i:i + 10, j:j + 10], w[i, j])
                   for i in range(3) for j in range(3))
    np.testing.assert_allclose(results["conv3"], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(results["conv1"], np.einsum("nhwc,co->nhwo", x, v[0, 0]),
                               rtol=1e-5, atol=1e-5)
    from tensorflux import float32

    program = (("multiply", (0, 1), (), float32), ("add", (2, 0), (), float32),
               ("maximum", (3, 1), (), float32))
    with np.errstate(all="ignore"):
        numpy = nb.fused_elementwise(a, b, program=program)
    assert results["loop"].tobytes() == numpy.tobytes()


def test_a_fresh_process_loads_the_compiled_code_and_gets_its_bits(tmp_path):
    cache = tmp_path / "kernels"
    cold, compiled = _probe(tmp_path, cache)
    assert cold["loaded"] == 0 and cold["compiled"] >= 3
    assert cold["written"] == cold["compiled"] == len(_files(cache))
    assert (cache.stat().st_mode & 0o777) == 0o700
    times = {p.name: p.stat().st_mtime_ns for p in _files(cache)}
    warm, loaded = _probe(tmp_path, cache)
    assert warm == {"compiled": 0, "loaded": cold["compiled"], "written": 0}
    assert {p.name: p.stat().st_mtime_ns for p in _files(cache)} == times
    _same_bits(compiled, loaded)
    _check_against_references(loaded)
    # (and the bits of a process with no cache at all)
    _, uncached = _probe(tmp_path, tmp_path / "unused", TENSORFLUX_KERNEL_CACHE="0")
    _same_bits(compiled, uncached)


def test_a_damaged_or_foreign_file_is_compiled_again_and_replaced(tmp_path):
    cache = tmp_path / "kernels"
    _, compiled = _probe(tmp_path, cache)
    first, second, third = _files(cache)[:3]
    data = first.read_bytes()
    first.write_bytes(data[:-100])  # truncated
    flipped = bytearray(second.read_bytes())
    flipped[len(flipped) // 2] ^= 0x10  # one bit of the code
    second.write_bytes(bytes(flipped))
    third.write_bytes(data)  # another kernel's whole file under this one's name
    counts, results = _probe(tmp_path, cache)
    assert counts["compiled"] == counts["written"] == 3
    _same_bits(compiled, results)
    again, results = _probe(tmp_path, cache)
    assert again["compiled"] == 0
    _same_bits(compiled, results)


def test_a_directory_others_can_write_to_is_not_used(tmp_path):
    cache = tmp_path / "kernels"
    _, compiled = _probe(tmp_path, cache)
    cache.chmod(0o770)
    counts, results = _probe(tmp_path, cache)
    assert counts["loaded"] == counts["written"] == 0 and counts["compiled"] >= 3
    _same_bits(compiled, results)


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0,
                    reason="making files of another user needs root")
def test_a_directory_or_file_another_user_owns_is_not_used(tmp_path):
    cache = tmp_path / "kernels"
    _probe(tmp_path, cache)
    files = _files(cache)
    os.chown(files[0], 65534, 65534)
    counts, _ = _probe(tmp_path, cache)
    assert counts["compiled"] == counts["written"] == 1  # (replaced by one of ours)
    assert files[0].stat().st_uid == 0
    os.chown(cache, 65534, 65534)
    counts, _ = _probe(tmp_path, cache)
    assert counts["loaded"] == counts["written"] == 0


def test_the_switch_off_writes_nothing(tmp_path):
    cache = tmp_path / "kernels"
    counts, _ = _probe(tmp_path, cache, TENSORFLUX_KERNEL_CACHE="0")
    assert counts["loaded"] == counts["written"] == 0 and counts["compiled"] >= 3
    assert not cache.exists()


def test_an_unusable_directory_leaves_the_kernels_compiled_in_memory(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_bytes(b"")
    counts, results = _probe(tmp_path, blocked / "kernels")
    assert counts["written"] == 0 and counts["compiled"] >= 3
    _check_against_references(results)


def test_other_optimisation_settings_miss(tmp_path):
    cache = tmp_path / "kernels"
    cold, _ = _probe(tmp_path, cache)
    counts, _ = _probe(tmp_path, cache, "numpy_llvm._PIPELINE_OPTIONS = {'speed_level': 2}")
    assert counts["loaded"] == 0 and counts["written"] == counts["compiled"] >= 3
    assert len(_files(cache)) == cold["written"] + counts["written"]


_KERNEL = '''
from tensorflux.backends import numpy_llvm


def scaled(tag="probe"):
    """A kernel writing a[i] * {factor} over i < n."""
    def build(ir, module):
        f = numpy_llvm.Builder(ir, module, "scale", [("a", ir.FloatType().as_pointer())],
                               ["n"])
        a = f.args["a"]

        def body(i):
            at = f.b.gep(a, [i])
            f.b.store(f.b.fmul(f.b.load(at), ir.Constant(ir.FloatType(), {factor})), at)
        f.loop(f.const(0), f.args["n"], body)
        f.b.ret_void()
    return numpy_llvm.compiled((tag,), "scale", build, 1, 1)
'''

# Runs that kernel (and, after a garbage collection, the same code under another key) over
# ones and prints cache_counts() and the results.
_SCALE = """
    import gc, json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from tensorflux.backends import numpy_llvm
    import cache_probe_kernel
    numpy_llvm.available()
    x, y = np.ones(5, np.float32), np.ones(3, np.float32)
    cache_probe_kernel.scaled()(x.ctypes.data, x.size)
    gc.collect()
    cache_probe_kernel.scaled("other")(y.ctypes.data, y.size)
    print(json.dumps([numpy_llvm.cache_counts(), x.tolist(), y.tolist()]))
"""


def _scale(tmp_path, cache, factor):
    """_SCALE's output in a fresh interpreter, with the kernel module written for `factor`."""
    (tmp_path / "cache_probe_kernel.py").write_text(_KERNEL.format(factor=factor))
    # (no .pyc: an edit within the second it was written in would not be seen)
    environment = {**_environment(cache), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(_SCALE), str(tmp_path)],
                            capture_output=True, text=True, env=environment, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_changed_kernel_module_misses(tmp_path):
    """The same keys from an edited module: its new code, not the old files."""
    cache = tmp_path / "kernels"
    assert _scale(tmp_path, cache, 2.5) == [{"compiled": 2, "loaded": 0, "written": 2},
                                            [2.5] * 5, [2.5] * 3]
    assert _scale(tmp_path, cache, 2.5) == [{"compiled": 0, "loaded": 2, "written": 0},
                                            [2.5] * 5, [2.5] * 3]
    assert _scale(tmp_path, cache, 3.5) == [{"compiled": 2, "loaded": 0, "written": 2},
                                            [3.5] * 5, [3.5] * 3]
    assert len(_files(cache)) == 4


def test_a_whole_file_without_the_function_is_compiled_again(tmp_path):
    """A file whose header checks out but whose code lacks the kernel's function (so the
    engine made to load it is set aside, not freed with the target machine it shares)."""
    cache = tmp_path / "kernels"
    _scale(tmp_path, cache, 2.5)
    llvm = numpy_llvm._llvm
    other = llvm.parse_assembly("define void @other() {\n  ret void\n}\n")
    other.triple = llvm.get_process_triple()
    code = numpy_llvm._target[0].emit_object(other)
    for file in _files(cache):
        head = file.read_bytes()[:40]  # (magic and the key's digest)
        file.write_bytes(head + hashlib.sha256(code).digest()
                         + len(code).to_bytes(8, "little") + code)
    assert _scale(tmp_path, cache, 2.5) == [{"compiled": 2, "loaded": 0, "written": 2},
                                            [2.5] * 5, [2.5] * 3]


def test_processes_filling_the_cache_at_once_leave_whole_files(tmp_path):
    """Three cold processes at once: each compiles and renames its own whole file over the
    others', and a fourth loads every kernel."""
    cache = tmp_path / "kernels"
    environment = _environment(cache)
    runs = [subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_PROBE.format(before="")),
         str(tmp_path / f"results{k}.npz")], env=environment, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for k in range(3)]
    for run in runs:
        _, error = run.communicate(timeout=300)
        assert run.returncode == 0, error
    counts, results = _probe(tmp_path, cache)
    assert counts["compiled"] == 0 and counts["loaded"] >= 3
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # (no temporary files)
    with np.load(tmp_path / "results0.npz") as first:
        _same_bits({name: first[name] for name in first.files}, results)


_FIT = """
    import json, sys
    import numpy as np
    from tensorflux import keras
    from tensorflux.backends import numpy_llvm
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((256, 28, 28, 1), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 256)]
    layers = keras.layers
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2), layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dense(10, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    np.savez(sys.argv[1], *model.get_weights())
    print(json.dumps(numpy_llvm.cache_counts()))
"""


def test_a_convnet_trains_to_the_same_weights_on_loaded_kernels(tmp_path):
    """W2's layers (convolutions, their gradients, pooling, Adam's update loops) for two
    steps: the same weights from a process that compiled its kernels and from one that
    loaded them."""
    cache = tmp_path / "kernels"
    weights = []
    for _ in range(2):
        out = tmp_path / f"weights{len(weights)}.npz"
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(_FIT), str(out)], capture_output=True,
            text=True, env=_environment(cache), timeout=300, check=False)
        assert result.returncode == 0, result.stderr
        with np.load(out) as saved:
            weights.append({name: saved[name] for name in saved.files})
        counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["compiled"] == 0 and counts["loaded"] >= 5
    _same_bits(*weights)


def test_the_cache_directory_follows_the_environment(tmp_path, monkeypatch):
    for name in ("TENSORFLUX_CACHE_DIR", "XDG_CACHE_HOME", "TENSORFLUX_KERNEL_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert numpy_llvm._cache_directory() == str(tmp_path / "home/.cache/tensorflux/kernels")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # (ignored, as the XDG rules say)
    assert numpy_llvm._cache_directory() == str(tmp_path / "home/.cache/tensorflux/kernels")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert numpy_llvm._cache_directory() == str(tmp_path / "xdg/tensorflux/kernels")
    monkeypatch.setenv("TENSORFLUX_CACHE_DIR", str(tmp_path / "mine"))
    assert numpy_llvm._cache_directory() == str(tmp_path / "mine")
    monkeypatch.setenv("TENSORFLUX_KERNEL_CACHE", "0")
    assert numpy_llvm._cache_directory() is None
