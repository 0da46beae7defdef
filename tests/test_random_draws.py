"""The NumPy backend's uniform draws from Philox's raw words (numpy_backend._uniform_words)
give exactly NumPy's Generator.random numbers, whole and by pieces of the stream on threads."""

import numpy as np
import pytest

from tensorflux import dtypes
from tensorflux.backends import numpy_backend as nb

SHAPES = [(4096,), (4097,), (4099,), (128, 1600), (3, 5, 7, 41), (300001,), (262147,)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64, dtypes.float16])
@pytest.mark.parametrize("shape", SHAPES)
def test_uniform_draws_are_numpys_generator_numbers(monkeypatch, threads, dtype, shape):
    monkeypatch.setattr(nb, "_THREADS", threads)
    monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 1)
    native = nb.native_dtype(dtype)
    for seed in ([1, 2], [7, 12345678901]):
        generator = np.random.Generator(np.random.Philox(np.random.SeedSequence(seed)))
        expected = generator.random(shape, dtype=nb._draw_dtype(native)).astype(native)
        if native.itemsize < 4:
            expected = np.minimum(expected, np.asarray(1 - 2.0 ** -11, native))
        drawn = nb.random_uniform(np.asarray(seed, np.uint64), shape=shape, dtype=dtype,
                                  seed=None)
        assert drawn.dtype == native and drawn.shape == shape
        np.testing.assert_array_equal(drawn, expected)
        eager = nb.random_uniform(shape=shape, dtype=dtype, seed=tuple(seed))
        np.testing.assert_array_equal(eager, expected)


def test_a_long_draw_runs_in_several_pieces(monkeypatch):
    monkeypatch.setattr(nb, "_THREADS", 2)
    monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 1)
    seen = []
    in_parallel = nb._in_parallel

    def counted(run, pieces, nbytes):
        seen.append(len(pieces))
        return in_parallel(run, pieces, nbytes)
    monkeypatch.setattr(nb, "_in_parallel", counted)
    nb.random_uniform(np.asarray([3, 4], np.uint64), shape=(300001,), dtype=dtypes.float32,
                      seed=None)
    assert seen and seen[0] > 1
