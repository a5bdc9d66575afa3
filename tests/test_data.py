"""Datasets: shapes, dtypes and ranges, label balance, determinism, disjoint splits, CIFAR-10 on a fake folder."""
from __future__ import annotations

import pickle
import time
import warnings

import numpy as np
import pytest
import torch

from fusion_course.data import (available_datasets, load_dataset, load_photo, load_texture, make_saliency,
                                make_texture_shapes)
from fusion_course.data.cifar import CLASSES, FILES
from fusion_course.errors import UsageError


def test_real_images_load_offline_as_float_in_unit_range():
    for name in ("astronaut", "chelsea", "coffee", "camera"):
        img = load_photo(name)
        assert img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1 and img.max() > 0.5
    assert load_photo("astronaut").shape == (512, 512, 3)
    horse = load_photo("horse")
    assert set(np.unique(horse)) == {0.0, 1.0} and 0.2 < horse.mean() < 0.5   # 1 on the horse, a minority
    for name in ("brick", "grass", "gravel", "ihc"):
        tex = load_texture(name)
        assert tex.ndim == 2 and tex.dtype == np.float32 and 0 <= tex.min() <= tex.max() <= 1
    with pytest.raises(UsageError, match="brick"):
        load_texture("bricks")


def test_available_datasets_and_unknown_name():
    names = available_datasets()
    assert {"digits", "texture-shapes", "saliency", "cifar10"} <= set(names)
    with pytest.raises(UsageError, match="unknown dataset 'mnist'.*digits"):
        load_dataset("mnist")


def test_digits_splits_are_fixed_disjoint_and_balanced():
    parts = {s: load_dataset("digits", s) for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [1257, 180, 360]
    x, y = parts["train"][0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0 <= parts["train"].images.min() and parts["train"].images.max() <= 1
    # disjoint: no image appears in two splits (digits has few exact duplicates; compare with indices)
    flat = {s: {tuple(v.tolist()) for v in parts[s].images.flatten(1)} for s in parts}
    assert not flat["val"] & flat["test"]
    assert len(flat["train"] & flat["test"]) <= 2          # the raw set has a couple of identical bitmaps
    for s, ds in parts.items():                            # stratified: every class, near-equal counts
        counts = torch.bincount(ds.targets, minlength=10)
        assert counts.min() >= 0.8 * len(ds) / 10 and counts.max() <= 1.2 * len(ds) / 10, (s, counts)
    again = load_dataset("digits", "val", seed=0)
    assert torch.equal(again.images, parts["val"].images)
    other = load_dataset("digits", "val", seed=1)
    assert not torch.equal(other.images, parts["val"].images)
    big = load_dataset("digits", "train", image_size=16, channels=3)
    assert big[0][0].shape == (3, 16, 16)
    with pytest.raises(UsageError, match="no masks"):
        load_dataset("digits", target="mask")


def test_texture_shapes_shapes_balance_and_determinism():
    d = make_texture_shapes(400, size=48, seed=3)
    assert d["images"].shape == (400, 3, 48, 48) and d["images"].dtype == torch.float32
    assert d["masks"].shape == (400, 1, 48, 48)
    assert set(torch.unique(d["masks"]).tolist()) == {0.0, 1.0}
    assert 0 <= d["images"].min() and d["images"].max() <= 1
    assert torch.bincount(d["labels"]).tolist() == [50] * 8                       # 8 shapes, exactly balanced
    counts = torch.bincount(d["textures"])
    assert counts.max() - counts.min() <= 1
    assert (d["textures"] != d["backgrounds"]).all()
    # the object is where the mask says: object pixels hold the foreground texture, so means agree
    frac = d["masks"].mean((1, 2, 3))
    assert ((0.03 < frac) & (frac < 0.7)).all()
    same = make_texture_shapes(400, size=48, seed=3)
    assert same["images"] is d["images"]                                          # cached
    other = make_texture_shapes(400, size=48, seed=4)
    assert not torch.equal(other["images"], d["images"])
    both = make_texture_shapes(400, size=48, seed=3, target="both")
    assert both["labels"].max() < 8 * 6 and len(both["classes"]) == 48
    few = make_texture_shapes(60, size=32, seed=0, shapes=3, textures=["brick", "grass"], target="texture")
    assert set(few["labels"].tolist()) == {0, 1} and few["classes"] == ["brick", "grass"]


def test_texture_shapes_need_texture_not_brightness():
    """Object and background have the same mean brightness, so brightness alone cannot find the shape."""
    d = make_texture_shapes(300, size=64, seed=0)
    img, m = d["images"][:, 0], d["masks"][:, 0].bool()
    fg = torch.stack([img[i][m[i]].mean() for i in range(300)])
    bg = torch.stack([img[i][~m[i]].mean() for i in range(300)])
    assert abs(float((fg - bg).mean())) < 0.01          # no systematic brighter/darker object
    assert float((fg - bg).abs().mean()) < 0.05          # and only small local differences
    assert float((fg - bg).abs().mean()) < 0.5 * float(img.std((1, 2)).mean())


def test_texture_shapes_is_fast_and_regenerates_identically():
    t = time.perf_counter()
    d = make_texture_shapes(2000, size=64, seed=123)
    assert time.perf_counter() - t < 20        # ~0.5 s on an idle 2-core machine; generous for busy CI
    from fusion_course.data import texture_shapes

    texture_shapes._generate.cache_clear()
    again = make_texture_shapes(2000, size=64, seed=123)
    assert again["images"] is not d["images"] and torch.equal(again["images"], d["images"])


def test_texture_shapes_dataset_splits():
    tr = load_dataset("texture-shapes", "train", n=200, size=32)
    te = load_dataset("texture-shapes", "test", n=200, size=32)
    assert tr.task == "classify" and tr.num_classes == 8
    assert not torch.equal(tr.images, te.images)
    seg = load_dataset("texture-shapes", "val", n=50, size=32, target="mask")
    assert seg.task == "segment" and seg.num_classes == 1 and seg[0][1].shape == (1, 32, 32)


def test_saliency_masks_and_objects():
    d = make_saliency(300, size=64, seed=1)
    assert d["images"].shape == (300, 3, 64, 64) and d["masks"].shape == (300, 1, 64, 64)
    assert 0 <= d["images"].min() and d["images"].max() <= 1
    assert set(torch.unique(d["masks"]).tolist()) == {0.0, 1.0}
    assert (d["masks"].flatten(1).sum(1) > 0).all()                  # every image has an object
    assert set(d["num_objects"].tolist()) == {1, 2}
    assert (d["kinds"][:, 0] >= 0).all()
    assert set(d["kinds"][d["kinds"] >= 0].tolist()) == {0, 1, 2}  # shapes, photo crops and horses all appear
    ds = load_dataset("saliency", "val", n=40, size=32)
    assert ds.task == "segment" and ds[0][1].shape == (1, 32, 32)
    horses = make_saliency(20, size=64, seed=2, objects=("horse",), max_objects=1)
    assert (horses["masks"].mean((1, 2, 3)) > 0.05).all()


# --- CIFAR-10 ------------------------------------------------------------------------------------

def write_fake_cifar(root, n_train_per_batch=20, n_test=30, seed=0):
    """A tiny folder in the official CIFAR-10 "python version" layout (pickled dicts, uint8 rows of 3072)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in FILES:
        path = folder / name
        if name == "batches.meta":
            obj = {"label_names": list(CLASSES), "num_cases_per_batch": n_train_per_batch, "num_vis": 3072}
        else:
            n = n_test if name == "test_batch" else n_train_per_batch
            labels = [int(v) for v in rng.integers(0, 10, n)]
            data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
            # marker: the red channel's first pixel encodes the label, to check image/label pairing
            data[:, 0] = np.array(labels, dtype=np.uint8) * 20
            obj = {"batch_label": name, "labels": labels, "data": data, "filenames": [f"{i}.png" for i in range(n)]}
        with open(path, "wb") as f:
            pickle.dump(obj, f)
    return root


def test_cifar_reads_the_official_format_from_a_fake_folder(tmp_path):
    root = write_fake_cifar(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train = load_dataset("cifar10", "train", root=root, val_size=10)
        val = load_dataset("cifar10", "val", root=root, val_size=10)
        test = load_dataset("cifar10", "test", root=root, val_size=10)
    assert any("official checksums" in str(w.message) for w in caught)    # not the official bytes: said so
    assert (len(train), len(val), len(test)) == (90, 10, 30)
    x, y = train[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    for ds in (train, val, test):
        for i in range(len(ds)):
            img, label = ds[i]
            assert round(float(img[0, 0, 0]) * 255) == int(label) * 20     # images stay with their labels
    assert train.classes == list(CLASSES) and train.num_classes == 10
    t_ids = {bytes(v.numpy()) for v in train.images}
    v_ids = {bytes(v.numpy()) for v in val.images}
    assert not t_ids & v_ids                                              # val is held out of train
    assert load_dataset("cifar10", "val", root=root, val_size=10, image_size=16)[0][0].shape == (3, 16, 16)


def test_cifar_missing_says_where_and_what_to_do_within_a_second(tmp_path):
    load_dataset("digits")  # warm up imports that are not part of the answer
    t = time.perf_counter()
    with pytest.raises(UsageError) as err:
        load_dataset("cifar10", "train", root=tmp_path / "nowhere")
    assert time.perf_counter() - t < 1.0
    msg = str(err.value)
    assert str((tmp_path / "nowhere").resolve()) in msg
    assert "--download" in msg and "cifar-10-batches-py" in msg
    assert "digits" in msg and "texture-shapes" in msg
