"""Reading datasets from folders: Keras's directory indexing and its subset split.

keras.utils.image_dataset_from_directory / text_dataset_from_directory build on these; they
live here because reading files into arrays is I/O (DESIGN.md: only I/O folders touch NumPy).
Images are decoded and resized by tf.io.decode_image and tf.image.resize
(keras/utils/dataset_utils.py).
"""

import os

import numpy as np

__all__ = ["IMAGE_EXTENSIONS", "TEXT_EXTENSIONS", "index_directory",
           "split_for_subset"]

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
TEXT_EXTENSIONS = (".txt",)


def _files_under(folder, extensions, follow_links):
    found = []
    for root, _, files in os.walk(folder, followlinks=follow_links):
        for name in sorted(files):
            if name.lower().endswith(extensions):
                found.append((root, name))
    return [os.path.join(root, name) for root, name in sorted(found)]


def index_directory(directory, labels, formats, class_names=None, shuffle=True, seed=None,
                    follow_links=False):
    """(file paths, labels or None, class names), as keras.utils' index_directory: classes are
    the sorted subfolders, files sorted within each, then one seeded global shuffle. Inferred
    labels list `directory` (FileNotFoundError or NotADirectoryError, as in Keras); otherwise
    a missing folder simply has no files."""
    if labels == "inferred":
        subdirs = sorted(d for d in os.listdir(directory)
                         if os.path.isdir(os.path.join(directory, d)) and not d.startswith("."))
        if class_names is not None:
            if not set(class_names) <= set(subdirs):
                raise ValueError("The `class_names` passed did not match the names of the "
                                 f"subdirectories of the target directory. Expected: {subdirs} "
                                 f"(or a subset of it), but received: class_names="
                                 f"{class_names}")
        else:
            class_names = subdirs
        folders = [os.path.join(directory, name) for name in class_names]
    else:
        folders = [directory]
    paths, found_labels = [], []
    for index, folder in enumerate(folders):
        files = _files_under(folder, formats, follow_links)
        paths += files
        found_labels += [index] * len(files)
    if labels == "inferred":
        label_list = found_labels
    elif labels is None:
        label_list = class_names = None
    else:
        label_list = list(labels)
        if len(label_list) != len(paths):
            raise ValueError("Expected the lengths of `labels` to match the number of files in "
                             f"the target directory. len(labels) is {len(label_list)} while we "
                             f"found {len(paths)} files in directory {directory}.")
        # Keras names the classes of explicit labels after their sorted values.
        class_names = [str(label) for label in sorted(set(label_list))]
    if shuffle:
        # Keras shuffles paths and labels with two RandomStates of one seed.
        if seed is None:
            seed = np.random.randint(int(1e6))
        np.random.RandomState(seed).shuffle(paths)
        if label_list is not None:
            np.random.RandomState(seed).shuffle(label_list)
    return paths, label_list, class_names


def split_for_subset(samples, labels, validation_split, subset):
    """The training or validation part (Keras's rule: validation is the last fraction)."""
    if not validation_split:
        return samples, labels
    num_val = int(validation_split * len(samples))
    if subset == "training":
        return samples[:len(samples) - num_val], (None if labels is None
                                                  else labels[:len(labels) - num_val])
    if subset == "validation":
        return samples[len(samples) - num_val:], (None if labels is None
                                                  else labels[len(labels) - num_val:])
    raise ValueError(f"`subset` must be either 'training' or 'validation', received: {subset}")
