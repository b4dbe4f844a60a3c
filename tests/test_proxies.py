"""Zero-cost proxies and their image batches: determinism, agreement with published scores, bad input."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from hwnas.errors import UsageError
from hwnas.estimators.inputs import ImageBatch, make_batch
from hwnas.estimators.proxies import PROXIES, compute_proxies
from hwnas.spaces.nb201.space import NB201

GOOD = NB201.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
CUT_OFF = NB201.parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|")  # output sees no input


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def photos() -> ImageBatch:
    return make_batch("cifar10", kind="photos", size=16, seed=0)


def test_every_proxy_is_deterministic_for_a_seed_and_changes_with_it(photos: ImageBatch) -> None:
    names = list(PROXIES)
    first = compute_proxies(GOOD, names, dataset="cifar10", seed=1, batch=photos)
    again = compute_proxies(GOOD, names, dataset="cifar10", seed=1, batch=photos)
    other = compute_proxies(GOOD, names, dataset="cifar10", seed=2, batch=photos)
    assert first.values == again.values
    assert all(math.isfinite(v) for v in first.values.values())
    seeded = [n for n in names if n not in ("params", "flops")]
    assert all(first.values[n] != other.values[n] for n in seeded)


def test_result_records_the_input_it_used(photos: ImageBatch) -> None:
    with_data = compute_proxies(GOOD, ["naswot"], dataset="cifar10", batch=photos)
    data_free = compute_proxies(GOOD, ["synflow"], dataset="cifar10", batch=photos)
    assert with_data.input_source.startswith("scikit-image sample photos, 16 crops")
    assert data_free.input_source == "none"


def test_proxies_computed_together_equal_proxies_computed_alone(photos: ImageBatch) -> None:
    together = compute_proxies(GOOD, ["naswot", "jacob_cov", "snip"], dataset="cifar10", batch=photos)
    for name in ("naswot", "jacob_cov", "snip"):
        alone = compute_proxies(GOOD, [name], dataset="cifar10", batch=photos)
        assert alone.values[name] == pytest.approx(together.values[name], rel=1e-9)


def test_network_whose_output_ignores_the_input_gets_the_documented_values(photos: ImageBatch) -> None:
    cut = compute_proxies(CUT_OFF, ["synflow", "jacob_cov"], dataset="cifar10", batch=photos).values
    empty = compute_proxies(NB201.make(("none",) * 6), ["naswot"], dataset="cifar10", batch=photos).values
    assert cut["synflow"] == 0.0  # no path from input to output
    assert cut["jacob_cov"] == -math.inf  # zero input Jacobian: undefined correlation
    assert empty["naswot"] == -math.inf  # every image has the same ReLU code: singular kernel


def test_synflow_and_logsynflow_rank_like_the_published_scores(data_dir: Path) -> None:
    published = pd.read_csv(data_dir / "nb201_hw" / "nb201_zc_proxies.csv.gz")
    rows = np.random.default_rng(7).choice(len(published), size=40, replace=False)
    ours = [
        compute_proxies(NB201.parse(published.arch_str[r]), ["synflow", "logsynflow"], dataset="cifar10").values
        for r in rows
    ]
    for name in ("synflow", "logsynflow"):
        rho = spearmanr([v[name] for v in ours], published[f"cifar10_{name}"].to_numpy()[rows])[0]
        assert rho >= 0.95, (name, rho)


def test_data_dependent_proxy_without_images_and_unknown_names_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="need an image batch"):
        compute_proxies(GOOD, ["naswot"], dataset="cifar10")
    with pytest.raises(UsageError, match="unknown proxy 'zen'"):
        compute_proxies(GOOD, ["zen"], dataset="cifar10")


def test_photo_batches_are_deterministic_normalised_and_sized_per_dataset() -> None:
    a = make_batch("cifar10", kind="photos", size=8, seed=3)
    b = make_batch("cifar10", kind="photos", size=8, seed=3)
    small = make_batch("imagenet16", kind="photos", size=8, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert a.images.shape == (8, 3, 32, 32) and small.images.shape == (8, 3, 16, 16)
    assert abs(float(a.images.mean())) < 1.0 and 0.3 < float(a.images.std()) < 2.0
    assert a.input_id != make_batch("cifar10", kind="photos", size=8, seed=4).input_id
    assert a.family == make_batch("cifar10", kind="photos", size=8, seed=4).family


def _write_cifar10(folder: Path, images: int) -> Path:
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    rng = np.random.default_rng(0)
    payload = {b"data": rng.integers(0, 256, size=(images, 3072), dtype=np.uint8), b"labels": list(range(images))}
    (batches / "data_batch_1").write_bytes(pickle.dumps(payload))
    return folder


def test_cifar_folder_is_read_from_the_python_batches(tmp_path: Path) -> None:
    folder = _write_cifar10(tmp_path, 40)
    batch = make_batch("cifar10", kind="cifar", size=16, seed=0, cifar_folder=folder)
    assert batch.images.shape == (16, 3, 32, 32)
    assert batch.source.startswith("CIFAR python batch")
    assert make_batch("imagenet16", kind="cifar", size=4, cifar_folder=folder).images.shape == (4, 3, 16, 16)


def test_missing_or_malformed_cifar_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        make_batch("cifar10", kind="cifar", cifar_folder=tmp_path / "absent")
    with pytest.raises(UsageError, match="no cifar-10-batches-py/data_batch_1"):
        make_batch("cifar10", kind="cifar", cifar_folder=tmp_path)
    (tmp_path / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(UsageError, match="is not a CIFAR python batch"):
        make_batch("cifar10", kind="cifar", cifar_folder=tmp_path)
    with pytest.raises(UsageError, match="unknown input kind"):
        make_batch("cifar10", kind="noise")
