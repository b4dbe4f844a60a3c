"""Image batches for the data-dependent zero-cost proxies (NASWOT, jacob_cov, snip, grad_norm).

Three sources, each recorded in the batch's `source` so every proxy result says what it saw:

- `cifar`: real training images from a folder holding the standard CIFAR python batches
  (`cifar-10-batches-py/data_batch_1` or `cifar-100-python/train`), given by the user.
- `photos` (the default when no folder is given): crops of the real photographs that ship inside the
  scikit-image wheel (`skimage/data/*.png|jpg`, nothing is downloaded). Each photograph is one
  pseudo-class, so the label-using proxies (snip, grad_norm) see a consistent labelling.
  Measured against Gaussian noise in BENCHMARKS.md ("Zero-cost predictor and on-device latency").
- `gaussian`: standard normal noise, kept for that comparison.

Batches are deterministic for a given (source, dataset, size, seed) and normalised with the CIFAR
channel statistics that NB201 trained with.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import torch

from hwnas.core.space import SearchSpace
from hwnas.errors import UsageError
from hwnas.spaces.nb201 import NB201
from hwnas.spaces.nb201.cost import dataset_shape

CIFAR_MEAN: Final = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
CIFAR_STD: Final = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)

# Photographs (not drawings or synthetic patterns) bundled in the scikit-image wheel; grayscale ones
# are repeated over three channels.
BUNDLED_PHOTOS: Final = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "ihc.png",
    "camera.png",
    "coins.png",
    "moon.png",
    "grass.png",
    "gravel.png",
    "brick.png",
)
DEFAULT_BATCH_SIZE: Final = 64
INPUT_KINDS: Final = ("photos", "gaussian", "cifar")


PHOTO_BATCH_VERSION: Final = "photos-v1"
"""Names the crop recipe below; bump it when the recipe changes so cached proxy values are not reused."""


@dataclass(frozen=True)
class ImageBatch:
    """Normalised images (N, 3, H, W) with integer labels, and where they came from.

    `input_id` names exactly this batch (part of the score cache key); `family` names the batches that
    differ only by seed (same source and size), which share one reference distribution in `zc`.
    """

    images: torch.Tensor
    labels: torch.Tensor
    source: str
    input_id: str
    family: str


def make_batch(
    dataset: str,
    *,
    space: SearchSpace = NB201,
    kind: str = "photos",
    size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    cifar_folder: str | Path | None = None,
) -> ImageBatch:
    """A batch for `dataset`'s input size in `space` from the named source (`cifar` needs `cifar_folder`)."""
    resolution, num_classes = space.input_shape(dataset)
    if kind == "cifar":
        if cifar_folder is None:
            raise UsageError("input kind 'cifar' needs a folder: pass --cifar PATH (the CIFAR python batches)")
        return cifar_batch(cifar_folder, dataset, size=size, seed=seed)
    if kind == "photos":
        return photo_batch(resolution, num_classes, size=size, seed=seed)
    if kind == "gaussian":
        return gaussian_batch(resolution, num_classes, size=size, seed=seed)
    raise UsageError(f"unknown input kind {kind!r}; accepted: {', '.join(INPUT_KINDS)}")


def _normalise(images_hwc: np.ndarray) -> torch.Tensor:
    """uint8 or [0,1] float images (N, H, W, 3) -> CIFAR-normalised float32 tensor (N, 3, H, W)."""
    x = images_hwc.astype(np.float32)
    if images_hwc.dtype == np.uint8:
        x /= 255.0
    x = (x - CIFAR_MEAN) / CIFAR_STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _resize_to(image: np.ndarray, side: int) -> np.ndarray:
    """Area-average resize of an (H, W, 3) float image to (side, side)."""
    from skimage.transform import resize

    return np.asarray(resize(image, (side, side), anti_aliasing=True, preserve_range=True), dtype=np.float32)


def _load_photo(name: str) -> np.ndarray:
    """One bundled photograph as float (H, W, 3) in [0, 1], read from the installed wheel's data folder."""
    import skimage
    from skimage.io import imread

    path = Path(skimage.__file__).parent / "data" / name
    if not path.is_file():
        raise UsageError(f"scikit-image sample photo {path} is missing; reinstall scikit-image or pass --cifar PATH")
    image = np.asarray(imread(path))
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = image[:, :, :3]
    scale = 255.0 if image.dtype == np.uint8 else float(max(image.max(), 1))
    return image.astype(np.float32) / scale


def photo_batch(image_size: int, num_classes: int, *, size: int = DEFAULT_BATCH_SIZE, seed: int = 0) -> ImageBatch:
    """Random square crops of the bundled photographs, resized to `image_size`.

    A crop covers 1/8 to 1/2 of the photograph's shorter side, so like a CIFAR image it shows one
    object-scale region rather than a whole scene or a flat patch; the crop's label is its photo's index.
    """
    rng = np.random.default_rng(seed)
    photos = [_load_photo(name) for name in BUNDLED_PHOTOS]
    crops = np.empty((size, image_size, image_size, 3), dtype=np.float32)
    labels = np.empty(size, dtype=np.int64)
    for i in range(size):
        which = i % len(photos)
        photo = photos[which]
        height, width = photo.shape[:2]
        side = int(min(height, width) * rng.uniform(1 / 8, 1 / 2))
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        crop = photo[top : top + side, left : left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crops[i] = _resize_to(crop, image_size)
        labels[i] = which % num_classes
    order = rng.permutation(size)
    family = f"{PHOTO_BATCH_VERSION}:{size}"
    return ImageBatch(
        _normalise(crops[order]),
        torch.from_numpy(labels[order]),
        source=f"scikit-image sample photos, {size} crops, seed {seed}",
        input_id=f"{family}:seed{seed}",
        family=family,
    )


def gaussian_batch(image_size: int, num_classes: int, *, size: int = DEFAULT_BATCH_SIZE, seed: int = 0) -> ImageBatch:
    """Standard normal images (already in normalised units) with uniform random labels."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(size, 3, image_size, image_size, generator=generator)
    labels = torch.randint(0, num_classes, (size,), generator=generator)
    return ImageBatch(
        images,
        labels,
        source=f"Gaussian noise, {size} images, seed {seed}",
        input_id=f"gaussian:{size}:seed{seed}",
        family=f"gaussian:{size}",
    )


_CIFAR_LAYOUTS: Final = {
    "cifar10": (("cifar-10-batches-py", "data_batch_1"), b"labels"),
    "cifar100": (("cifar-100-python", "train"), b"fine_labels"),
}


def _find_cifar_file(folder: Path, dataset: str) -> tuple[Path, bytes]:
    layout = dataset if dataset in _CIFAR_LAYOUTS else "cifar10"
    (subdir, filename), label_key = _CIFAR_LAYOUTS[layout]
    for candidate in (folder / subdir / filename, folder / filename):
        if candidate.is_file():
            return candidate, label_key
    raise UsageError(
        f"--cifar {folder}: no {subdir}/{filename} (CIFAR python batches) found; "
        "point it at the folder holding the extracted python version of the dataset"
    )


def cifar_batch(folder: str | Path, dataset: str, *, size: int = DEFAULT_BATCH_SIZE, seed: int = 0) -> ImageBatch:
    """A seeded random subset of one CIFAR python training batch.

    For ImageNet16-120 (no CIFAR-format release) the CIFAR-10 images are area-resized to 16x16.
    """
    spec = dataset_shape(dataset)
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise UsageError(f"--cifar {root} not found: give the folder holding the CIFAR python batches")
    path, label_key = _find_cifar_file(root, dataset)
    try:
        content = path.read_bytes()
        raw = pickle.loads(content, encoding="bytes")
        data = np.asarray(raw[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(raw[label_key], dtype=np.int64)
    except (pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError) as error:
        raise UsageError(f"--cifar {path} is not a CIFAR python batch ({error.__class__.__name__})") from None
    if len(labels) != len(data) or len(data) < size:
        raise UsageError(f"--cifar {path} holds {len(data)} images with {len(labels)} labels; need {size}")
    chosen = np.sort(np.random.default_rng(seed).choice(len(data), size=size, replace=False))
    images = data[chosen].transpose(0, 2, 3, 1)
    if spec.resolution != 32:
        images = np.stack([_resize_to(img.astype(np.float32) / 255.0, spec.resolution) for img in images])
    family = f"cifar:{hashlib.sha256(content).hexdigest()[:16]}:{size}"
    return ImageBatch(
        _normalise(images),
        torch.from_numpy(labels[chosen] % spec.num_classes),
        source=f"CIFAR python batch {path}, {size} images, seed {seed}",
        input_id=f"{family}:seed{seed}",
        family=family,
    )
