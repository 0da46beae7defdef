"""keras.visualization against real Keras 3.15 (torch backend).

OpenCV and matplotlib are optional and not installed with the test suite, so both Keras and
tensorflux are given the same stand-ins: a `cv2` that paints box outlines and records every
rectangle and text call, and a `matplotlib` that records figures, axes and the images shown.
That checks everything the two libraries are handed (coordinates, colors, thickness, label text
and position, gallery layout and image values); their own pixels are OpenCV's and matplotlib's.
"""

import sys
import types

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle

FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy", "rel_yxyx",
           "rel_xywh", "rel_center_xywh")


class FakeCV2(types.ModuleType):
    """Paints each rectangle's outline (clipped to the image) and records the calls."""

    FONT_HERSHEY_SIMPLEX = 0

    def __init__(self):
        super().__init__("cv2")
        self.calls = []

    def rectangle(self, img, pt1, pt2, color, thickness):
        assert img.dtype == np.uint8 and img.flags.c_contiguous
        self.calls.append(("rectangle", pt1, pt2, tuple(color), thickness))
        if img.shape[-1] != len(color):  # channels-first images are drawn as they are
            return
        (x1, y1), (x2, y2) = pt1, pt2
        h, w = img.shape[:2]
        for y in (y1, y2):
            if 0 <= y < h:
                img[y, max(x1, 0):max(x2 + 1, 0)] = color
        for x in (x1, x2):
            if 0 <= x < w:
                img[max(y1, 0):max(y2 + 1, 0), x] = color

    def putText(self, img, text, org, fontFace, fontScale, color, thickness):  # noqa: N802
        self.calls.append(("putText", text, org, fontFace, fontScale, tuple(color), thickness))


class FakeAxes:
    def __init__(self, log, position):
        self.log, self.position = log, position

    def imshow(self, image):
        self.log.append(("imshow", self.position, np.array(image)))

    def set_title(self, title, fontsize):
        self.log.append(("title", self.position, title, fontsize))

    def margins(self, **kwargs):
        self.log.append(("margins", self.position, kwargs))

    def axis(self, value):
        self.log.append(("axis", self.position, value))


class FakeFigure:
    def __init__(self, log):
        self.log = log

    def subplots_adjust(self, **kwargs):
        self.log.append(("subplots_adjust", kwargs))

    def legend(self, handles, loc):
        self.log.append(("legend", [(h.label, tuple(np.round(h.color, 6))) for h in handles],
                         loc))


def fake_matplotlib():
    """matplotlib, matplotlib.pyplot and matplotlib.patches stand-ins sharing one call log."""
    log = []
    pyplot = types.ModuleType("matplotlib.pyplot")

    def subplots(nrows, ncols, squeeze=True, **kwargs):
        log.append(("subplots", nrows, ncols, kwargs))
        axes = np.empty((nrows, ncols), dtype=object)
        for index in np.ndindex(nrows, ncols):
            axes[index] = FakeAxes(log, index)
        if squeeze:  # matplotlib's squeeze: a lone Axes, or a 1D array for one row or column
            axes = axes[0, 0] if axes.size == 1 else (axes.ravel() if 1 in axes.shape else axes)
        return FakeFigure(log), axes

    pyplot.subplots = subplots
    pyplot.savefig = lambda **kwargs: log.append(("savefig", kwargs))
    pyplot.show = lambda: log.append(("show",))
    pyplot.close = lambda: log.append(("close",))
    patches = types.ModuleType("matplotlib.patches")
    patches.Patch = lambda color, label: types.SimpleNamespace(color=np.asarray(color),
                                                               label=label)
    package = types.ModuleType("matplotlib")
    package.pyplot, package.patches = pyplot, patches
    return package, log


@pytest.fixture
def cv2(monkeypatch):
    """One FakeCV2 for both libraries (Keras imported cv2 when its module loaded)."""
    from keras.src.visualization import draw_bounding_boxes as keras_module

    fake = FakeCV2()
    monkeypatch.setitem(sys.modules, "cv2", fake)
    monkeypatch.setattr(keras_module, "cv2", fake)
    return fake


@pytest.fixture
def matplotlib(monkeypatch):
    from keras.src.visualization import plot_bounding_box_gallery, plot_image_gallery

    package, log = fake_matplotlib()
    monkeypatch.setitem(sys.modules, "matplotlib", package)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", package.pyplot)
    monkeypatch.setitem(sys.modules, "matplotlib.patches", package.patches)
    monkeypatch.setattr(plot_image_gallery, "plt", package.pyplot)
    monkeypatch.setattr(plot_bounding_box_gallery, "patches", package.patches)
    return log


def _both(cv2, function):
    """`function(k)` for Keras and for tensorflux, with the cv2 calls each made."""
    results = []
    for k in (import_keras(), keras):
        cv2.calls.clear()
        results.append((function(k), list(cv2.calls)))
    return results


def _images(shape=(2, 20, 30, 3), scale=1.0, seed=0):
    return (np.random.default_rng(seed).uniform(0, 1, shape) * scale).astype("float32")


def _boxes(fmt, height=20, width=30):
    """Two images' boxes in `fmt`: inside, partly outside, near the top edge, and padding."""
    xyxy = np.array([[[2, 3, 10, 12], [5, 14, 25, 18], [-4, -2, 6, 30]],
                     [[1.7, 9.9, 28.2, 19.5], [0, 0, 0, 0], [3, 3, 8, 8]]], "float32")
    k = import_keras()
    boxes = k.utils.bounding_boxes.convert_format(xyxy, "xyxy", fmt, height=height, width=width)
    return {"boxes": np.asarray(boxes), "labels": np.array([[0, 1, 2], [2, -1, 7]], "int32"),
            "confidences": np.array([[0.5, 0.25, 0.125], [0.875, 0.1, 0.3]], "float32")}


# ---------------------------------------------------------------------- draw_bounding_boxes

@pytest.mark.parametrize("fmt", FORMATS)
def test_draw_bounding_boxes_formats_match_keras(cv2, fmt):
    images, boxes = _images(), _boxes(fmt)
    (theirs, their_calls), (ours, our_calls) = _both(cv2, lambda k: k.visualization
                                                     .draw_bounding_boxes(images, boxes, fmt))
    assert our_calls == their_calls and len(our_calls) == 5  # labels -1 are skipped
    assert isinstance(ours, np.ndarray) and ours.dtype == np.uint8
    assert_matches(ours, theirs, what=fmt)
    assert np.array_equal(boxes["boxes"], _boxes(fmt)["boxes"])  # the input is left alone


@pytest.mark.parametrize("options", [
    dict(class_mapping={0: "cat", 2: "dog"}),
    dict(class_mapping={0: "cat", 1: "bird", 2: "dog"}, color=(255, 0, 0), line_thickness=3,
         text_thickness=2, font_scale=0.5),
    dict(class_mapping={2: "dog", 7: "car"}, text_thickness=None, font_scale=2.0),
])
@pytest.mark.parametrize("confidences", [True, False])
def test_draw_bounding_boxes_labels_colors_and_text_match_keras(cv2, options, confidences):
    images, boxes = _images(), _boxes("xyxy")
    if not confidences:
        del boxes["confidences"]
    (theirs, their_calls), (ours, our_calls) = _both(cv2, lambda k: k.visualization
                                                     .draw_bounding_boxes(images, boxes, "xyxy",
                                                                          **options))
    assert our_calls == their_calls
    assert any(call[0] == "putText" for call in our_calls)
    assert_matches(ours, theirs)


@pytest.mark.parametrize("images", [
    _images(scale=255.0), _images(scale=1.0) * 3 - 1,  # clipped to [0, 255]
    (_images(scale=255.0)).astype("uint8"), _images(scale=255.0).astype("float64"),
    np.zeros((2, 20, 30, 3), "int32") + 300])
def test_draw_bounding_boxes_image_value_ranges_match_keras(cv2, images):
    boxes = _boxes("rel_xywh")
    (theirs, their_calls), (ours, our_calls) = _both(cv2, lambda k: k.visualization
                                                     .draw_bounding_boxes(images, boxes,
                                                                          "rel_xywh"))
    assert our_calls == their_calls
    assert ours.dtype == np.uint8
    assert_matches(ours, theirs)


def test_draw_bounding_boxes_channels_first_sizes_relative_boxes_by_height_and_width(cv2):
    images = _images((2, 3, 40, 50))
    boxes = _boxes("rel_xyxy", height=40, width=50)
    (theirs, their_calls), (ours, our_calls) = _both(
        cv2, lambda k: k.visualization.draw_bounding_boxes(images, boxes, "rel_xyxy",
                                                           data_format="channels_first"))
    assert our_calls == their_calls and our_calls[0][2] == (10, 12)
    assert_matches(ours, theirs)


@pytest.mark.parametrize("images, boxes, fmt, error", [
    (_images()[0], _boxes("xyxy"), "xyxy", ValueError),  # one image, not a batch
    (_images(), [[1, 2, 3, 4]], "xyxy", TypeError),
    (_images(), {"boxes": _boxes("xyxy")["boxes"]}, "xyxy", ValueError),
    (_images(), _boxes("xyxy"), "xyzw", ValueError),
    (_images(), _boxes("xyxy"), "rel_xyxy_", ValueError),
])
def test_draw_bounding_boxes_bad_input_raises_as_keras(cv2, images, boxes, fmt, error):
    for k in (import_keras(), keras):
        with pytest.raises(error):
            k.visualization.draw_bounding_boxes(images, boxes, fmt)


def test_draw_bounding_boxes_mismatched_boxes_raise_a_clear_value_error(cv2):
    # Keras fails with an IndexError or a TypeError about unpacking; the message names shapes.
    boxes = _boxes("xyxy")
    with pytest.raises(ValueError, match="boxes for 1 images, but `images` holds 2"):
        keras.visualization.draw_bounding_boxes(
            _images(), {"boxes": boxes["boxes"][:1], "labels": boxes["labels"][:1]}, "xyxy")
    with pytest.raises(ValueError, match=r"batch_size, num_boxes, 4\). Received: .*\(3, 4\)"):
        keras.visualization.draw_bounding_boxes(
            _images(), {"boxes": boxes["boxes"][0], "labels": boxes["labels"][0]}, "xyxy")
    with pytest.raises(ValueError, match=r"labels\.shape=\(2, 2\)"):
        keras.visualization.draw_bounding_boxes(
            _images(), {"boxes": boxes["boxes"], "labels": boxes["labels"][:, :2]}, "xyxy")


def test_draw_bounding_boxes_without_opencv_says_which_package(monkeypatch):
    from keras.src.visualization import draw_bounding_boxes as keras_module

    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 fails
    monkeypatch.setattr(keras_module, "cv2", None)
    for k in (import_keras(), keras):
        with pytest.raises(ImportError, match="cv2"):
            k.visualization.draw_bounding_boxes(_images(), _boxes("xyxy"), "xyxy")
    with pytest.raises(ImportError, match="pip install opencv-python"):
        keras.visualization.draw_bounding_boxes(_images(), _boxes("xyxy"), "xyxy")


# ---------------------------------------------------------------------- draw_segmentation_masks

def _masks(shape=(2, 5, 6, 1), high=4, seed=1):
    return np.random.default_rng(seed).integers(-1, high, shape).astype("int32")


@pytest.mark.parametrize("options", [
    dict(num_classes=4), dict(num_classes=6), dict(num_classes=4, alpha=0.3),
    dict(num_classes=4, ignore_index=0),
    dict(num_classes=4, color_mapping={0: (1, 2, 3), 1: (200, 100, 50), 2: (9, 9, 9),
                                       3: (250.5, 0, 0)}),
])
def test_draw_segmentation_masks_match_keras(options):
    images, masks = _images((2, 5, 6, 3), scale=255.0), _masks()
    theirs = import_keras().visualization.draw_segmentation_masks(images, masks, **options)
    ours = keras.visualization.draw_segmentation_masks(images, masks, **options)
    assert isinstance(ours, np.ndarray) and ours.dtype == np.uint8
    assert_matches(ours, theirs, atol=0)


def test_draw_segmentation_masks_without_blending_is_a_float_tensor_as_keras():
    images, masks = _images((2, 5, 6, 3), scale=255.0), _masks()
    theirs = import_keras().visualization.draw_segmentation_masks(images, masks, num_classes=4,
                                                                  blend=False)
    ours = keras.visualization.draw_segmentation_masks(images, masks, num_classes=4, blend=False)
    assert ours.dtype.name == "float32" and not isinstance(ours, np.ndarray)
    assert_matches(ours, theirs, atol=0)


def test_draw_segmentation_masks_channels_first_matches_keras():
    images, masks = _images((2, 3, 5, 6), scale=255.0), _masks((2, 1, 5, 6))
    theirs = import_keras().visualization.draw_segmentation_masks(
        images, masks, num_classes=4, data_format="channels_first")
    ours = keras.visualization.draw_segmentation_masks(images, masks, num_classes=4,
                                                       data_format="channels_first")
    assert_matches(ours, theirs, atol=0)


def test_draw_segmentation_masks_infers_num_classes_as_keras_on_tensorflow():
    # num_classes=None is the largest class, so (under TensorFlow, whose one_hot gives zeros
    # out of range) that class stays unpainted; Keras on torch fails there. NumPy reference.
    from keras.src.visualization.draw_segmentation_masks import _generate_color_palette

    images, masks = _images((2, 5, 6, 3), scale=255.0), _masks()
    ours = keras.visualization.draw_segmentation_masks(images, masks)
    palette = _generate_color_palette(3)
    painted = images.copy()
    for k, color in enumerate(palette):
        painted[masks[..., 0] == k] = color
    expected = images * np.float32(1 - 0.8) + painted * np.float32(0.8)
    expected = np.where(masks != -1, expected, images).astype("uint8")
    np.testing.assert_array_equal(ours, expected)


def test_draw_segmentation_masks_accepts_masks_without_a_channel_axis():
    # Keras documents (batch, height, width) masks but fails on them; same as with the axis.
    images, masks = _images((2, 5, 6, 3), scale=255.0), _masks()
    theirs = import_keras().visualization.draw_segmentation_masks(images, masks, num_classes=4)
    ours = keras.visualization.draw_segmentation_masks(images, masks[..., 0], num_classes=4)
    assert_matches(ours, theirs, atol=0)


@pytest.mark.parametrize("images, masks, options, error", [
    (_images((5, 6, 3)), _masks(), {}, ValueError),
    (_images((2, 5, 6, 3)), _masks().astype("float32"), {}, TypeError),
    (_images((2, 5, 6, 3)), _masks(), dict(num_classes=4, color_mapping={0: (1, 2, 3)}),
     KeyError),
    (_images((2, 5, 6, 1)), _masks(), dict(num_classes=4), ValueError),  # 3 colors, 1 channel
])
def test_draw_segmentation_masks_bad_input_raises_as_keras(images, masks, options, error):
    for k in (import_keras(), keras):
        with pytest.raises(error):
            k.visualization.draw_segmentation_masks(images, masks, **options)


# ---------------------------------------------------------------------- galleries

def _without_images(log):
    return [entry for entry in log if entry[0] != "imshow"]


def _shown(log):
    return [(entry[1], entry[2]) for entry in log if entry[0] == "imshow"]


def _compare_plots(log, function):
    """Runs `function(k)` under Keras then tensorflux: the same figure, titles and images."""
    logs = []
    for k in (import_keras(), keras):
        log.clear()
        assert function(k) is None
        logs.append(list(log))
    theirs, ours = logs
    assert _without_images(ours) == _without_images(theirs)
    assert [p for p, _ in _shown(ours)] == [p for p, _ in _shown(theirs)]
    for (position, mine), (_, image) in zip(_shown(ours), _shown(theirs)):
        assert mine.dtype == np.uint8
        assert_matches(mine, image, atol=0, what=f"axes {position}")
    return ours


@pytest.mark.parametrize("count, options, grid", [
    (4, {}, (2, 2)), (5, {}, (3, 1)), (1, {}, (1, 1)), (6, dict(rows=1), (1, 6)),
    (6, dict(cols=2, value_range=(0, 1), scale=3), (3, 2)),
    (3, dict(y_true=[0, 1, 2], y_pred=np.array([1, 1, 5]), label_map={0: "a", 1: "b"},
             path="gallery.png", dpi=30), (2, 1)),
    (4, dict(show=False, transparent=False), (2, 2)),
])
def test_plot_image_gallery_matches_keras(matplotlib, count, options, grid):
    shape = (count, 4, 5, 3)
    scale = 1.0 if options.get("value_range") == (0, 1) else 255.0
    images = _images(shape, scale=scale)
    log = _compare_plots(matplotlib, lambda k: k.visualization.plot_image_gallery(images,
                                                                                  **options))
    assert log[0][1:3] == grid and len(_shown(log)) == grid[0] * grid[1]


def test_plot_bounding_box_gallery_matches_keras(matplotlib, cv2):
    images, true, pred = _images(scale=255.0), _boxes("xywh"), _boxes("xywh")
    pred["boxes"] = pred["boxes"] + 1.5
    log = _compare_plots(matplotlib, lambda k: k.visualization.plot_bounding_box_gallery(
        images, "xywh", y_true=true, y_pred=pred, class_mapping={0: "cat", 2: "dog"},
        prediction_mapping={7: "car"}, legend=True, rows=1, cols=2, show=False))
    assert len(_shown(log)) == 2 and any(entry[0] == "legend" for entry in log)
    assert sum(call[0] == "rectangle" for call in cv2.calls) == 2 * 10  # Keras's and ours


def test_plot_image_gallery_channels_first_shows_channels_last_images(matplotlib):
    # Keras 3.15 transposes channels-first images twice, so it shows (width, channels, height)
    # arrays; the oracle is Keras given the channels-last images.
    images = _images((4, 4, 5, 3), scale=255.0)
    log = []
    for k, batch, options in ((import_keras(), images, {}),
                              (keras, images.transpose(0, 3, 1, 2),
                               dict(data_format="channels_first"))):
        matplotlib.clear()
        k.visualization.plot_image_gallery(batch, show=False, **options)
        log.append(list(matplotlib))
    theirs, ours = log
    assert _without_images(ours) == _without_images(theirs)
    for (_, mine), (_, image) in zip(_shown(ours), _shown(theirs), strict=True):
        assert_matches(mine, image, atol=0)


def test_plot_segmentation_mask_gallery_matches_keras(matplotlib):
    images, masks = _images((2, 5, 6, 3), scale=255.0), _masks()
    log = _compare_plots(matplotlib, lambda k: k.visualization.plot_segmentation_mask_gallery(
        images, num_classes=4, y_true=masks, y_pred=(masks + 1) % 4, show=False))
    assert log[0][1:3] == (2, 3) and len(_shown(log)) == 6


def test_plot_errors_match_keras(matplotlib, cv2):
    images = _images(scale=255.0)
    calls = [
        lambda k: k.visualization.plot_image_gallery(images, path="x.png", show=True),
        lambda k: k.visualization.plot_image_gallery(images, y_true=[0, 1]),
        lambda k: k.visualization.plot_image_gallery(images[0]),
        lambda k: k.visualization.plot_bounding_box_gallery(images[0], "xyxy"),
        lambda k: k.visualization.plot_bounding_box_gallery(images, "xyxy", legend=True,
                                                            legend_handles=["h"]),
        lambda k: k.visualization.plot_segmentation_mask_gallery(images[0], 4),
    ]
    for call in calls:
        for k in (import_keras(), keras):
            with pytest.raises(ValueError):
                call(k)


def test_plots_without_matplotlib_say_which_package(monkeypatch):
    from keras.src.visualization import plot_bounding_box_gallery, plot_image_gallery

    for name in ("matplotlib", "matplotlib.pyplot", "matplotlib.patches"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setattr(plot_image_gallery, "plt", None)
    monkeypatch.setattr(plot_bounding_box_gallery, "patches", None)
    images = _images(scale=255.0)
    for k in (import_keras(), keras):
        with pytest.raises(ImportError, match="matplotlib"):
            k.visualization.plot_image_gallery(images)
        with pytest.raises(ImportError, match="matplotlib"):
            k.visualization.plot_bounding_box_gallery(images, "xyxy")
        with pytest.raises(ImportError, match="matplotlib"):
            k.visualization.plot_segmentation_mask_gallery(images, 4)


def test_visualization_is_loaded_lazily_and_lists_keras_functions():
    assert "visualization" in dir(keras)
    assert sorted(keras.visualization.__all__) == sorted(
        name for name in dir(import_keras().visualization) if not name.startswith("_"))
