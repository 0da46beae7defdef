"""TensorFlow API leftovers of session 14 (helper R2), against TF 2.21.

TF is not installed in the test venv: the expected values are NumPy float64 results, values
derived by hand, or TF 2.21 outputs quoted with the TF code that printed them.
"""

import os

import numpy as np
import pytest

import tensorflux as tf

SEGMENT_OPS = ["unsorted_segment_sum", "unsorted_segment_max", "unsorted_segment_min",
               "unsorted_segment_prod", "unsorted_segment_mean", "unsorted_segment_sqrt_n"]


# ------------------------------------------------------------------ 1. segment id range

@pytest.mark.parametrize("op", SEGMENT_OPS)
def test_unsorted_segment_id_at_or_above_num_segments_is_refused(op):
    # TF 2.21: tf.math.<op>(tf.constant([1., 2., 3.]), tf.constant([0, 5, 1]), 2) raises
    # InvalidArgumentError "segment_ids[1] = 5 is out of range [0, 2)" (all six ops).
    fn = getattr(tf.math, op)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"segment_ids\[1\] = 5 is out "
                                                             r"of range \[0, 2\)"):
        fn(tf.constant([1.0, 2.0, 3.0]), tf.constant([0, 5, 1]), 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"segment_ids\[1\] = 2 is out"):
        fn(tf.constant([1.0, 2.0, 3.0]), tf.constant([0, 2, 1]), 2)


@pytest.mark.parametrize("op", SEGMENT_OPS)
def test_unsorted_segment_negative_ids_are_dropped(op):
    # TF 2.21: tf.math.<op>(tf.constant([1., 2., 3.]), tf.constant([0, -1, 1]), 2) is
    # [1., 3.] for all six ops (each segment holds one value; the -1 row is dropped).
    out = getattr(tf.math, op)(tf.constant([1.0, 2.0, 3.0]), tf.constant([0, -1, 1]), 2)
    np.testing.assert_allclose(out.numpy(), [1.0, 3.0])


def test_unsorted_segment_range_error_names_a_multi_index_and_int64_ids():
    # TF 2.21: tf.math.unsorted_segment_sum(tf.ones([2, 2]), [[0, 3], [1, 1]], 2) raises
    # "segment_ids[0,1] = 3 is out of range [0, 2)".
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"unsorted_segment_sum: segment_ids\[0,1\] = 3 is out of range"):
        tf.math.unsorted_segment_sum(tf.ones([2, 2]), tf.constant([[0, 3], [1, 1]]), 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"segment_ids\[1\] = 7"):
        tf.math.unsorted_segment_sum(tf.ones([2]), tf.constant([0, 7], tf.int64), 2)


def test_unsorted_segment_check_with_constant_ids_inside_tf_function():
    @tf.function
    def f(x):
        return tf.math.unsorted_segment_sum(x, tf.constant([0, 5, 1]), 2)

    with pytest.raises(tf.errors.InvalidArgumentError, match="out of range"):
        f(tf.constant([1.0, 2.0, 3.0]))


def test_internal_callers_still_drop_ids_at_num_segments():
    # tf.repeat's run-time path and bincount rely on ids == num_segments being dropped.
    np.testing.assert_array_equal(tf.repeat([1, 2], [2, 3]).numpy(),
                                  np.repeat([1, 2], [2, 3]))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
    def rep(counts):
        return tf.repeat(tf.constant([7, 8, 9]), counts)

    np.testing.assert_array_equal(rep(tf.constant([1, 0, 2])).numpy(), [7, 9, 9])
    np.testing.assert_array_equal(
        tf.math.bincount(tf.constant([1, 1, 4]), maxlength=3).numpy(), [0, 2, 0])
    slices = tf.IndexedSlices(tf.constant([[1.0], [2.0]]), tf.constant([0, 2]),
                              tf.constant([3, 1]))
    np.testing.assert_array_equal(tf.convert_to_tensor(slices).numpy(), [[1.0], [0.0], [2.0]])


# ------------------------------------------------------------------ 2. get_static_value

def test_get_static_value_partial_of_a_stack():
    seen = {}

    @tf.function
    def f(x):
        seen["mixed"] = tf.get_static_value(tf.stack([x, 4]), partial=True)
        seen["unknown"] = tf.get_static_value(tf.stack([x, x]), partial=True)
        seen["known"] = tf.get_static_value(tf.stack([3, 4]), partial=True)
        seen["whole"] = tf.get_static_value(tf.stack([x, 4]))
        return x

    f.get_concrete_function(tf.TensorSpec([], tf.int32))
    # TF 2.21 prints, for the same f: array([None, array(4, dtype=int32)], dtype=object),
    # array([None, None], dtype=object), array([3, 4], dtype=int32), None.
    mixed = seen["mixed"]
    assert mixed.dtype == object and mixed.shape == (2,)
    assert mixed[0] is None and int(mixed[1]) == 4
    assert seen["unknown"].dtype == object and list(seen["unknown"]) == [None, None]
    np.testing.assert_array_equal(seen["known"], [3, 4])
    assert seen["known"].dtype == np.int32
    assert seen["whole"] is None


# ------------------------------------------------------------------ 3. case(exclusive=True)

def _pairs(x):
    return [(x > 0, lambda: tf.constant(1)), (x > -1, lambda: tf.constant(2))]


def test_case_exclusive_eager():
    # TF 2.21 eagerly: tf.case(pairs, default, exclusive=True) with both predicates True
    # raises InvalidArgumentError ("... exclusive=True: more than 1 conditions ... evaluated
    # as True"); with exclusive=False it returns the first pair's value, 1.
    x = tf.constant(1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than 1 conditions"):
        tf.case(_pairs(x), default=lambda: tf.constant(3), exclusive=True)
    assert int(tf.case(_pairs(x), default=lambda: tf.constant(3))) == 1
    assert int(tf.case(_pairs(tf.constant(0)), default=lambda: tf.constant(3),
                       exclusive=True)) == 2


def test_case_exclusive_in_tf_function():
    @tf.function
    def f(x):
        return tf.case(_pairs(x), default=lambda: tf.constant(3), exclusive=True)

    # TF 2.21: f(1) raises InvalidArgumentError at run time; f(-1) and f(-5) give 3, f(0) 2.
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than 1 conditions"):
        f(tf.constant(1))
    assert [int(f(tf.constant(v))) for v in (-1, -5, 0)] == [3, 3, 2]

    @tf.function
    def g(x):
        return tf.case(_pairs(x) + [(x > -2, lambda: tf.constant(4))], exclusive=True)

    # TF 2.21: without a default the last pair stands in for it and is not counted:
    # g(1) names two conditions, g(0) is 2 although x > -2 is True too.
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than 1 conditions"):
        g(tf.constant(1))
    assert int(g(tf.constant(0))) == 2


# ------------------------------------------------------------------ 4. snapshot

def test_snapshot_shard_func_and_reader_func(tmp_path):
    path = os.path.join(tmp_path, "snap")

    def make():
        return tf.data.Dataset.range(8).snapshot(
            path, shard_func=lambda x: x % 3, reader_func=lambda shards: shards.flat_map(
                lambda d: d))

    ds = make()
    # TF 2.21, the same pipeline: the first pass is [0..7]; the second and a new dataset
    # object on the same path read shard 0, 1, 2 in turn: [0, 3, 6, 1, 4, 7, 2, 5].
    assert [int(v) for v in ds] == list(range(8))
    assert [int(v) for v in ds] == [0, 3, 6, 1, 4, 7, 2, 5]
    assert [int(v) for v in make()] == [0, 3, 6, 1, 4, 7, 2, 5]
    # interleaving the 3 shards one at a time gives the original order back (TF 2.21 too)
    again = tf.data.Dataset.range(8).snapshot(
        path, reader_func=lambda shards: shards.interleave(lambda d: d, cycle_length=3))
    assert [int(v) for v in again] == list(range(8))
    assert int(again.cardinality()) == 8


@pytest.mark.parametrize("compression", ["AUTO", "GZIP", "SNAPPY", None, "NONE"])
def test_snapshot_compressions(tmp_path, compression):
    ds = tf.data.Dataset.range(3).snapshot(os.path.join(tmp_path, "s"),
                                           compression=compression)
    assert [int(v) for v in ds] == [0, 1, 2]
    assert [int(v) for v in ds] == [0, 1, 2]


def test_snapshot_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="compression must be"):
        tf.data.Dataset.range(3).snapshot(os.path.join(tmp_path, "a"), compression="LZ4")
    # TF 2.21: a shard_func returning int32 fails with "`shard_func` must return a scalar
    # int64."; a reader_func returning 5 fails too.
    bad = tf.data.Dataset.range(3).snapshot(os.path.join(tmp_path, "b"),
                                            shard_func=lambda x: tf.cast(x, tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="scalar int64"):
        list(bad)
    ds = tf.data.Dataset.range(3).snapshot(os.path.join(tmp_path, "c"),
                                           reader_func=lambda shards: 5)
    assert [int(v) for v in ds] == [0, 1, 2]
    with pytest.raises(TypeError, match="reader_func must return a tf.data.Dataset"):
        list(ds)


def test_experimental_snapshot_transformation(tmp_path):
    path = os.path.join(tmp_path, "e")
    ds = tf.data.Dataset.range(4).apply(tf.data.experimental.snapshot(
        path, shard_func=lambda x: x % 2, reader_func=lambda s: s.flat_map(lambda d: d)))
    assert [int(v) for v in ds] == [0, 1, 2, 3]
    assert [int(v) for v in ds] == [0, 2, 1, 3]


# ------------------------------------------------------------------ 5. tridiagonal_solve

SINGULAR = [[1.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 1.0]]  # det 0


def test_tridiagonal_perturb_singular_matches_tf():
    d = tf.constant(SINGULAR, tf.float64)
    # TF 2.21: tf.linalg.tridiagonal_solve(d, tf.constant([1., 2., 1.], tf.float64),
    #     perturb_singular=True) -> array([0., 1., 0.])
    out = tf.linalg.tridiagonal_solve(d, tf.constant([1.0, 2.0, 1.0], tf.float64),
                                      perturb_singular=True)
    np.testing.assert_array_equal(out.numpy(), [0.0, 1.0, 0.0])
    # TF 2.21, rhs [[1., 0.], [2., 1.], [1., 3.]] (float64), perturb_singular=True:
    expected = [[0.0, -9.007199254740996e15], [1.0, 9.007199254740996e15],
                [0.0, -9.007199254740992e15]]
    rhs = tf.constant([[1.0, 0.0], [2.0, 1.0], [1.0, 3.0]], tf.float64)
    out = tf.linalg.tridiagonal_solve(d, rhs, perturb_singular=True)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-15)
    # the same inside a tf.function (a host call each run)
    traced = tf.function(lambda d, r: tf.linalg.tridiagonal_solve(d, r, perturb_singular=True))
    np.testing.assert_allclose(traced(d, rhs).numpy(), expected, rtol=1e-15)


def test_tridiagonal_perturb_singular_zero_matrix():
    # TF 2.21: the zero 3x3 matrix, rhs [1., 2., 3.], perturb_singular=True gives
    # float64 [4.4942328371557898e+307, 2.9961552247705263e+307, 4.4942328371557898e+307]
    # and float32 [8.507059e+37, 5.671373e+37, 8.507059e+37] (2**1022 and 2**126: the
    # pivots become the smallest normal numbers).
    zero = [[0.0] * 3] * 3
    out = tf.linalg.tridiagonal_solve(tf.constant(zero, tf.float64),
                                      tf.constant([1.0, 2.0, 3.0], tf.float64),
                                      perturb_singular=True)
    np.testing.assert_allclose(out.numpy(), [4.4942328371557898e307, 2.9961552247705263e307,
                                             4.4942328371557898e307], rtol=1e-15)
    out = tf.linalg.tridiagonal_solve(tf.constant(zero), tf.constant([1.0, 2.0, 3.0]),
                                      perturb_singular=True)
    np.testing.assert_allclose(out.numpy(), [8.507059e37, 5.671373e37, 8.507059e37],
                               rtol=1e-6)
    # TF 2.21: a 1x1 zero system, rhs [3.], perturb_singular=True -> [4.49423283715579e+307]
    out = tf.linalg.tridiagonal_solve(tf.constant([[0.0], [0.0], [0.0]], tf.float64),
                                      tf.constant([3.0], tf.float64), perturb_singular=True)
    np.testing.assert_allclose(out.numpy(), [4.49423283715579e307], rtol=1e-14)


def test_tridiagonal_without_pivoting():
    # TF 2.21, partial_pivoting=False: [[1,1,0],[1,1,1],[0,1,1]] (super, diag, sub) meets a
    # zero pivot (1 - 1*1/1) -> [nan, nan, nan]; a complex128 system that fails is all 0
    # there ([0.+0.j 0.+0.j 0.+0.j] for tf.complex(SINGULAR, 0.5 * SINGULAR)).
    out = tf.linalg.tridiagonal_solve(
        tf.constant([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]], tf.float64),
        tf.constant([1.0, 2.0, 3.0], tf.float64), partial_pivoting=False)
    assert np.isnan(out.numpy()).all()
    s = tf.constant(SINGULAR, tf.float64)
    out = tf.linalg.tridiagonal_solve(tf.complex(s, 0.5 * s),
                                      tf.constant([1.0, 2.0, 1.0], tf.complex128),
                                      partial_pivoting=False)
    np.testing.assert_array_equal(out.numpy(), [0, 0, 0])
    # a batch: one system fine (NumPy float64 solve), one with a zero first pivot (NaN)
    diags = np.array([[[2.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 2.0, 1.0]],
                      [[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [0.0, 1.0, 1.0]]])
    rhs = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 2.0]])
    out = tf.linalg.tridiagonal_solve(tf.constant(diags), tf.constant(rhs),
                                      partial_pivoting=False).numpy()
    dense = np.diag(diags[0, 1]) + np.diag(diags[0, 0, :-1], 1) + np.diag(diags[0, 2, 1:], -1)
    np.testing.assert_allclose(out[0], np.linalg.solve(dense, rhs[0]), rtol=1e-14)
    assert np.isnan(out[1]).all()


# ------------------------------------------------------------------ 6. JPEG through Pillow

def _jpeg_test_image():
    y, x = np.mgrid[0:37, 0:53]
    return np.stack([(x * 5 + y * 3) % 256, (x * y) % 256,
                     (255 - x * 4 + (y % 7) * 20) % 256], -1).astype(np.uint8)


def _digest(data):
    import hashlib

    return hashlib.sha256(data).hexdigest()[:16]


# The first 16 hex digits of sha256(tf.io.encode_jpeg(tf.constant(img), **kw).numpy()) in
# TF 2.21, img = _jpeg_test_image() (format="grayscale" on img[:, :, :1]).
TF_ENCODED = {
    "default": ({}, "a3ce054fe3504c5e"),
    "q50": ({"quality": 50}, "b2328bf58a507a43"),
    "progressive": ({"progressive": True}, "844f35741084fbf8"),
    "444": ({"chroma_downsampling": False}, "c7c8e22b9091126d"),
    "cm": ({"density_unit": "cm", "x_density": 100, "y_density": 200}, "6e4764ae72d01f95"),
    "xmp": ({"xmp_metadata": "hello"}, "d40a9301bdede2a0"),
    "optimize": ({"optimize_size": True}, "92a29e23b47f3bbc"),
    "q80": ({"quality": 80}, "478791d66aa357ae"),
}


@pytest.mark.parametrize("case", sorted(TF_ENCODED))
def test_encode_jpeg_bytes_match_tf(case):
    pytest.importorskip("PIL")
    kwargs, digest = TF_ENCODED[case]
    data = tf.io.encode_jpeg(tf.constant(_jpeg_test_image()), **kwargs).numpy()
    assert _digest(data) == digest


def test_encode_jpeg_grayscale_and_errors():
    pytest.importorskip("PIL")
    img = _jpeg_test_image()
    data = tf.image.encode_jpeg(tf.constant(img[:, :, :1]), format="grayscale").numpy()
    assert _digest(data) == "82631bff177808a8"  # TF 2.21, as in TF_ENCODED
    # TF 2.21: "image must have 1 or 3 channels, got [37,53,2]"; quality 101: "quality must
    # be in [0,100], got 101"; a float image and format="rgba" are refused too.
    with pytest.raises(tf.errors.InvalidArgumentError, match="1 or 3 channels"):
        tf.io.encode_jpeg(tf.constant(img[:, :, :2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"quality must be in \[0,100\]"):
        tf.io.encode_jpeg(tf.constant(img), quality=101)
    with pytest.raises(tf.errors.InvalidArgumentError, match="uint8"):
        tf.io.encode_jpeg(tf.constant(img.astype(np.float32)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="format"):
        tf.io.encode_jpeg(tf.constant(img), format="rgba")
    with pytest.raises(tf.errors.InvalidArgumentError, match="1 channels for format"):
        tf.io.encode_jpeg(tf.constant(img), format="grayscale")


# sha256 prefixes of tf.io.decode_jpeg(data, dct_method=..., fancy_upscaling=...,
# ratio=...).numpy().tobytes() in TF 2.21, data = the quality-80 encoding above.
TF_DECODED = [
    ("", False, 1, (37, 53, 3), "99d1b021595c1672"),
    ("", False, 2, (19, 27, 3), "37e6a5941fc2b2b5"),
    ("INTEGER_FAST", False, 1, (37, 53, 3), "99d1b021595c1672"),
    ("INTEGER_ACCURATE", True, 1, (37, 53, 3), "334cebefe1ff0ecb"),
    ("INTEGER_ACCURATE", True, 2, (19, 27, 3), "5fe5000f19e0d5a3"),
]


@pytest.mark.parametrize("dct, fancy, ratio, shape, digest", TF_DECODED)
def test_decode_jpeg_settings_match_tf(dct, fancy, ratio, shape, digest):
    pytest.importorskip("PIL")
    data = tf.io.encode_jpeg(tf.constant(_jpeg_test_image()), quality=80)
    pixels = tf.io.decode_jpeg(data, dct_method=dct, fancy_upscaling=fancy, ratio=ratio)
    assert pixels.shape == shape
    assert _digest(pixels.numpy().tobytes()) == digest


def test_decode_jpeg_mixed_settings_are_close_and_bad_arguments():
    pytest.importorskip("PIL")
    data = tf.io.encode_jpeg(tf.constant(_jpeg_test_image()), quality=80)
    exact = tf.io.decode_jpeg(data, dct_method="INTEGER_ACCURATE").numpy().astype(int)
    default = tf.io.decode_jpeg(data).numpy().astype(int)  # TF: INTEGER_FAST + fancy
    assert np.abs(default - exact).max() <= 3
    with pytest.raises(tf.errors.InvalidArgumentError, match="dct_method must be one of"):
        tf.io.decode_jpeg(data, dct_method="FLOAT")
    with pytest.raises(tf.errors.InvalidArgumentError, match="acceptable_fraction"):
        tf.io.decode_jpeg(data, acceptable_fraction=2)


def test_decode_jpeg_truncated():
    pytest.importorskip("PIL")
    data = tf.io.encode_jpeg(tf.constant(_jpeg_test_image()), quality=80).numpy()
    cut = data[:len(data) // 2]
    # TF 2.21: InvalidArgumentError without try_recover_truncated; with it a (37, 53, 3)
    # image whose last row is grey, [128, 128, 128].
    with pytest.raises(tf.errors.InvalidArgumentError, match="try_recover_truncated"):
        tf.io.decode_jpeg(cut)
    pixels = tf.io.decode_jpeg(cut, try_recover_truncated=True).numpy()
    assert pixels.shape == (37, 53, 3)
    assert (pixels[-1] == 128).all()


def test_jpeg_shape_is_jpeg_and_crop():
    pytest.importorskip("PIL")
    data = tf.io.encode_jpeg(tf.constant(_jpeg_test_image()), quality=80)
    # TF 2.21: extract_jpeg_shape -> [37, 53, 3] (int64 with output_type); is_jpeg True;
    # decode_and_crop_jpeg(data, [2, 3, 10, 20], dct_method="INTEGER_ACCURATE") has shape
    # (10, 20, 3) and sha256 prefix e18e12360b8c6d72.
    assert tf.io.extract_jpeg_shape(data).numpy().tolist() == [37, 53, 3]
    assert tf.image.extract_jpeg_shape(data, output_type=tf.int64).dtype == tf.int64
    assert bool(tf.io.is_jpeg(data)) and not bool(tf.io.is_jpeg(b"\x89PNG\r\n"))
    crop = tf.io.decode_and_crop_jpeg(data, [2, 3, 10, 20], dct_method="INTEGER_ACCURATE")
    assert crop.shape == (10, 20, 3)
    assert _digest(crop.numpy().tobytes()) == "e18e12360b8c6d72"
    with pytest.raises(tf.errors.InvalidArgumentError, match="crop window"):
        tf.io.decode_and_crop_jpeg(data, [30, 3, 10, 20])


# ------------------------------------------------------------------ absent names

def test_tensor_shape_rank_assertions_match_tf():
    S = tf.TensorShape
    # TF 2.21 (same calls): assert_has_rank(2) on (None, 3) and any rank on an unknown
    # shape pass; the messages below are TF's.
    assert S([None, 3]).assert_has_rank(2) is None and S(None).assert_has_rank(3) is None
    with pytest.raises(ValueError, match=r"Shape \(None, 3\) must have rank 3"):
        S([None, 3]).assert_has_rank(3)
    with pytest.raises(ValueError, match=r"Shape \(None, 3\) is not fully defined"):
        S([None, 3]).assert_is_fully_defined()
    assert S([2, 3]).assert_is_fully_defined() is None
    assert S([None, 3]).assert_same_rank(S([1, 2])) is None
    with pytest.raises(ValueError, match=r"Shapes \(None, 3\) and \(1,\) must have the same "
                                         r"rank"):
        S([None, 3]).assert_same_rank([1])
    assert S([None, 3]).with_rank_at_least(1) == S([None, 3])
    assert S(None).with_rank_at_least(2).rank is None
    with pytest.raises(ValueError, match="must have rank at least 3"):
        S([None, 3]).with_rank_at_least(3)
    with pytest.raises(ValueError, match="must have rank at most 1"):
        S([None, 3]).with_rank_at_most(1)
    assert S([None, 3]).with_rank_at_most(3) == S([None, 3])


def test_tensor_shape_supertypes_match_tf():
    S = tf.TensorShape
    # TF 2.21: TensorShape([None, None]), TensorShape(None) twice; True, False, True;
    # TensorShape([2, None]), TensorShape(None).
    assert S([None, 3]).most_specific_compatible_shape(S([2, 4])).as_list() == [None, None]
    assert S([None, 3]).most_specific_compatible_shape(S([2])).rank is None
    assert S(None).most_specific_compatible_shape(S([2])).rank is None
    assert S([2, 3]).is_subtype_of(S([None, 3]))
    assert not S([None, 3]).is_subtype_of(S([2, 3]))
    assert S([2, 3]).is_subtype_of(S(None))
    assert S([2, 3]).most_specific_common_supertype([S([2, 4]), S([2, 3])]).as_list() == \
        [2, None]
    assert S([2, 3]).most_specific_common_supertype([S([2])]).rank is None


def test_timestamp_eager_and_per_run_in_tf_function():
    import time

    before = time.time()
    t = tf.timestamp()
    assert t.dtype == tf.float64 and t.shape == ()
    assert before <= float(t) <= time.time()

    @tf.function
    def f():
        return tf.timestamp()

    first = float(f())
    time.sleep(0.02)
    assert float(f()) >= first + 0.015  # read at each run, not folded at trace time


def test_config_memory_info_device_policy_and_synchronous_execution():
    e = tf.config.experimental
    # TF 2.21 on a CPU-only machine: get_memory_info('CPU:0') -> {'current': 0, 'peak': 0},
    # get_memory_usage('CPU:0') -> 0, reset_memory_stats -> None; get_device_policy() is
    # 'silent'; a bad policy is a ValueError; get_synchronous_execution() is True.
    assert e.get_memory_info("CPU:0") == {"current": 0, "peak": 0}
    assert e.get_memory_usage("/device:CPU:0") == 0
    assert e.reset_memory_stats("CPU:0") is None
    with pytest.raises(ValueError, match="expected a CPU or GPU device"):
        e.get_memory_info("TPU:0")
    assert e.get_device_policy() == "silent"
    try:
        e.set_device_policy("warn")
        assert e.get_device_policy() == "warn"
        with pytest.raises(ValueError, match="Invalid argument `device_policy`"):
            e.set_device_policy("bogus")
    finally:
        e.set_device_policy(None)
    assert e.get_device_policy() == "silent"
    assert e.get_synchronous_execution() is True
    try:
        e.set_synchronous_execution(False)
        assert e.get_synchronous_execution() is False
    finally:
        e.set_synchronous_execution(True)


def test_prefetch_and_copy_to_device():
    ds = tf.data.Dataset.range(3)
    # TF 2.21: both give [0, 1, 2] on '/cpu:0'
    assert [int(v) for v in ds.apply(tf.data.experimental.prefetch_to_device("/cpu:0"))] == \
        [0, 1, 2]
    assert [int(v) for v in ds.apply(tf.data.experimental.copy_to_device("/cpu:0"))] == \
        [0, 1, 2]
    with pytest.raises(ValueError, match="device name"):
        tf.data.experimental.prefetch_to_device("not a device")


def test_tensor_array_split():
    # TF 2.21: tf.TensorArray(tf.float32, size=2).split([1., 2., 3., 4., 5.], [2, 3]) then
    # .read(1) is [3., 4., 5.]; lengths summing to 4 for 5 rows raise "Expected sum of
    # lengths to be equal to values.shape[0], but sum of lengths is 4 ...".
    ta = tf.TensorArray(tf.float32, size=2).split(tf.constant([1.0, 2.0, 3.0, 4.0]), [2, 2])
    np.testing.assert_array_equal(ta.read(1).numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(ta.concat().numpy(), [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="sum of lengths is 4"):
        tf.TensorArray(tf.float32, size=2).split(tf.constant([1.0] * 5), [2, 2])
    with pytest.raises(tf.errors.UnimplementedError, match="lengths must be equal"):
        tf.TensorArray(tf.float32, size=2).split(tf.constant([1.0] * 5), [2, 3])

    @tf.function
    def f(v):
        return tf.TensorArray(tf.float32, size=2).split(v, [1, 1]).stack()

    np.testing.assert_array_equal(f(tf.constant([5.0, 6.0])).numpy(), [[5.0], [6.0]])


def test_tridiagonal_default_singular_is_nan_eagerly():
    # TF 2.21 (partial_pivoting=True, no perturbation): the singular SINGULAR system with
    # rhs [1., 2., 1.] (float64) and the zero matrix with rhs [1., 2., 3.] (float32) both
    # give [nan, nan, nan] ("The matrix is not invertible." in the log).
    out = tf.linalg.tridiagonal_solve(tf.constant(SINGULAR, tf.float64),
                                      tf.constant([1.0, 2.0, 1.0], tf.float64))
    assert np.isnan(out.numpy()).all()
    out = tf.linalg.tridiagonal_solve(tf.constant([[0.0] * 3] * 3), tf.constant([1.0, 2.0, 3.0]))
    assert out.dtype == tf.float32 and np.isnan(out.numpy()).all()
    # a regular system keeps the dense solve (NumPy float64 oracle)
    regular = [[2.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 2.0, 1.0]]
    band = np.array(regular)
    dense = np.diag(band[1]) + np.diag(band[0, :-1], 1) + np.diag(band[2, 1:], -1)
    out = tf.linalg.tridiagonal_solve(tf.constant(regular, tf.float64),
                                      tf.constant([1.0, 1.0, 1.0], tf.float64))
    np.testing.assert_allclose(out.numpy(), np.linalg.solve(dense, [1.0, 1.0, 1.0]),
                               rtol=1e-13)
