import json
import pickle

import numpy as np
import pytest
from scipy import ndimage

import xaibench as xb
from xaibench import datasets
from xaibench.datasets import cifar10, scenes, shapes, tabular
from xaibench.datasets._split import stratified_split

BUILTINS = {  # name: (train, test, sample shape, classes)
    "digits": (1347, 450, (8, 8, 1), 10),
    "mnist": (4000, 1000, (28, 28, 1), 10),
    "shapes": (3000, 1000, (32, 32, 3), 4),
    "scenes": (1200, 400, (96, 96, 3), 4),
    "breast_cancer": (427, 142, (30,), 2),
    "wine": (133, 45, (13,), 3),
    "synthetic_tabular": (1500, 500, (20,), 3),
}


def test_names_extras_and_descriptions():
    assert datasets.names() == sorted(BUILTINS)
    assert datasets.extras() == ["cifar10"]
    for name in [*BUILTINS, "cifar10"]:
        line = datasets.describe(name)
        assert line and "\n" not in line and len(line) < 100
    with pytest.raises(ValueError, match="'shapes'"):
        datasets.load("shape")


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_shapes_dtypes_ranges_and_classes(name):
    n_train, n_test, sample, n_classes = BUILTINS[name]
    d = datasets.load(name)
    assert (d.name, d.x_train.shape, d.x_test.shape) == (
        name,
        (n_train, *sample),
        (n_test, *sample),
    )
    assert d.x_train.dtype == d.x_test.dtype == np.float32
    assert d.y_train.dtype == d.y_test.dtype == np.int64
    assert d.y_train.shape == (n_train,) and d.y_test.shape == (n_test,)
    assert d.n_classes == n_classes and len(set(d.class_names)) == n_classes
    for y in (d.y_train, d.y_test):  # every class in both splits
        np.testing.assert_array_equal(np.unique(y), np.arange(n_classes))
    assert d.kind == ("image" if len(sample) == 3 else "tabular")
    if d.kind == "image":
        assert d.x_train.min() >= 0 and d.x_train.max() <= 1 and d.x_train.max() > 0.9
        assert d.feature_names is None
    else:
        assert d.feature_names is not None and len(d.feature_names) == sample[0]
    assert np.isfinite(d.x_train).all() and np.isfinite(d.x_test).all()
    assert d.source and d.license and d.description == datasets.describe(name)
    json.dumps(d.settings)  # stored with every run
    assert not d.x_test.flags.writeable and not d.y_train.flags.writeable


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_loaders_are_deterministic(name):
    cached, fresh = datasets.load(name), datasets.from_config({"name": name}).load()
    assert datasets.load(name) is cached
    for field in ("x_train", "y_train", "x_test", "y_test", "masks"):
        np.testing.assert_array_equal(getattr(fresh, field), getattr(cached, field))
    assert fresh.settings == cached.settings


def test_stratified_split_is_seeded_disjoint_and_complete():
    y = np.repeat(np.arange(3), [10, 20, 7])
    train, test = stratified_split(y, 0.25, 0)
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(y)))
    np.testing.assert_array_equal(np.bincount(y[test]), [2, 5, 2])  # round(0.25 * count)
    np.testing.assert_array_equal(stratified_split(y, 0.25, 0)[1], test)
    assert not np.array_equal(stratified_split(y, 0.25, 1)[1], test)


def test_digits_split_unchanged_by_the_move_to_split_module():
    d = datasets.load("digits")  # values recorded from the split before the refactor
    assert float(d.x_test[0].sum()) == 19.5625
    assert d.y_test[:10].tolist() == [1, 5, 9, 2, 4, 5, 6, 7, 9, 3]
    assert float(d.x_train.astype(np.float64).sum()) == 26353.4375
    assert d.settings == {"test_fraction": 0.25, "split_seed": 0}


def test_mnist_file_matches_its_recorded_hash_and_classes_are_balanced():
    import hashlib
    from importlib import resources

    blob = resources.files("xaibench.datasets").joinpath("data", "mnist_5k.npz").read_bytes()
    assert hashlib.sha256(blob).hexdigest() == xb.datasets.mnist.FILE_SHA256
    d = datasets.load("mnist")
    np.testing.assert_array_equal(np.bincount(d.y_test), [100] * 10)
    assert d.license == "CC BY-SA 3.0"


def _shape_kind(crop: np.ndarray) -> str:
    """The class kind of a shape from its pixels cropped to their bounding box."""
    h, w = crop.shape
    widths = crop.sum(axis=1)
    if crop.all():
        return "square"
    if widths[0] <= 2 and widths[-1] == w and np.all(np.diff(widths) >= 0):
        return "triangle"
    return "circle" if crop[h // 4, w // 4] else "cross"


def _crop(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    return mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


@pytest.fixture(scope="module")
def shape_data():
    return shapes.generate(shapes.N_SAMPLES, shapes.SEED)


def test_shapes_masks_are_the_class_shape(shape_data):
    d = datasets.load("shapes")
    test = stratified_split(shape_data["y"], shapes.TEST_FRACTION, shapes.SPLIT_SEED)[1]
    np.testing.assert_array_equal(d.masks, shape_data["masks"][test])
    assert d.masks.shape == (1000, 32, 32) and d.masks.dtype == bool
    np.testing.assert_array_equal(np.bincount(d.y_test), [250] * 4)
    for x, y, mask in zip(d.x_test, d.y_test, d.masks, strict=True):
        assert shapes.CLASSES[y] == _shape_kind(_crop(mask))
        assert 7 <= _crop(mask).shape[0] <= 14
        colour = x[mask]  # one flat colour, brighter than the background
        np.testing.assert_array_equal(colour, np.broadcast_to(colour[0], colour.shape))
        assert np.all(colour[0] >= 0.5) and x[~mask].min() < colour[0].min()


def test_shapes_distractors_are_other_kinds_apart_from_the_class_shape(shape_data):
    masks, distractors = shape_data["masks"], shape_data["distractor_masks"]
    assert not (masks & distractors).any()
    assert masks.sum(axis=(1, 2)).min() > 0
    components = [ndimage.label(m, structure=np.ones((3, 3)))[1] for m in distractors[:500]]
    np.testing.assert_array_equal(components, shape_data["n_distractors"][:500])
    for image, boxes in zip(distractors[:500], shape_data["boxes"][:500], strict=True):
        for top, left, side in boxes[1:]:
            if side == 0:  # no second distractor
                continue
            crop = image[top : top + side, left : left + side]
            ring = ndimage.binary_fill_holes(crop).sum() > crop.sum()
            rows, cols = np.nonzero(crop)
            bar = crop.mean() < 0.45 and abs(np.corrcoef(rows, cols)[0, 1]) > 0.7
            assert ring != bar  # exactly one of the two distractor kinds
            assert _shape_kind(_crop(crop)) != "square" and not crop.all()


def test_shapes_generation_is_seeded_and_fast():
    import time

    start = time.perf_counter()
    a = shapes.generate(200, seed=3)
    assert time.perf_counter() - start < 1.0
    b = shapes.generate(200, seed=3)
    np.testing.assert_array_equal(a["x"], b["x"])
    assert not np.array_equal(a["x"], shapes.generate(200, seed=4)["x"])


@pytest.fixture(scope="module")
def scene_data():
    return scenes.generate(scenes.N_SAMPLES, scenes.SEED)


def test_scenes_masks_are_the_class_shape_on_a_darker_photograph(scene_data):
    d = datasets.load("scenes")
    test = stratified_split(scene_data["y"], scenes.TEST_FRACTION, scenes.SPLIT_SEED)[1]
    np.testing.assert_array_equal(d.masks, scene_data["masks"][test])
    assert d.masks.shape == (400, 96, 96) and d.masks.dtype == bool
    np.testing.assert_array_equal(np.bincount(d.y_test), [100] * 4)
    lo, hi = scenes.BACKGROUND_RANGE
    for x, y, mask in zip(d.x_test, d.y_test, d.masks, strict=True):
        assert shapes.CLASSES[y] == _shape_kind(_crop(mask))
        assert scenes.CLASS_SIZES[0] <= _crop(mask).shape[0] <= scenes.CLASS_SIZES[1]
        colour = x[mask]  # one flat colour, brighter than any background pixel
        np.testing.assert_array_equal(colour, np.broadcast_to(colour[0], colour.shape))
        assert np.all(colour[0] >= scenes.SHAPE_RANGE[0]) and np.all(colour[0] <= 1)
    background = ~(scene_data["masks"] | scene_data["distractor_masks"])
    pixels = scene_data["x"][background]
    assert pixels.min() >= lo and pixels.max() <= hi
    assert pixels.std() > 0.03  # a photograph's texture, not a flat colour


def test_scenes_have_at_most_one_distractor_apart_from_the_class_shape(scene_data):
    masks, distractors = scene_data["masks"], scene_data["distractor_masks"]
    assert not (masks & distractors).any()
    has = distractors.any(axis=(1, 2))
    np.testing.assert_array_equal(has, scene_data["boxes"][:, 1, 2] > 0)
    assert 0.4 < has.mean() < 0.6  # probability 1/2
    components = [ndimage.label(m, structure=np.ones((3, 3)))[1] for m in distractors[:300]]
    np.testing.assert_array_equal(components, has[:300])


def test_scenes_shrink_averages_the_area_each_pixel_covers():
    rng = np.random.default_rng(0)
    image = rng.random((60, 90, 3), dtype=np.float32)
    # an integer factor: the plain mean of each 3x3 block (float32 sums of 9 values in [0, 1])
    blocks = image.reshape(20, 3, 30, 3, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(scenes._shrink(image, 3.0), blocks, atol=1e-6)
    np.testing.assert_array_equal(scenes._shrink(image, 1.0), image)
    # a fractional factor keeps the mean of the pixels it covers (every row/column fully, as
    # 60 and 90 are multiples of 1.5): the weights of each output pixel sum to one
    half = scenes._shrink(image, 1.5)
    assert half.shape == (40, 60, 3)
    np.testing.assert_allclose(half.mean(axis=(0, 1)), image.mean(axis=(0, 1)), atol=1e-6)


def test_scenes_generation_is_seeded():
    a = scenes.generate(40, seed=3)
    np.testing.assert_array_equal(a["x"], scenes.generate(40, seed=3)["x"])
    assert not np.array_equal(a["x"], scenes.generate(40, seed=4)["x"])
    assert datasets.cls("scenes").large and not datasets.cls("shapes").large


def test_synthetic_tabular_masks_mark_exactly_the_informative_features():
    from sklearn.feature_selection import f_classif

    d = datasets.load("synthetic_tabular")
    expected = np.zeros((500, 20), bool)
    expected[:, :5] = True
    np.testing.assert_array_equal(d.masks, expected)
    assert d.feature_names == [f"x{i}" for i in range(20)]
    assert d.settings["informative"] == list(tabular.INFORMATIVE) == [0, 1, 2, 3, 4]
    f, _ = f_classif(d.x_train, d.y_train)  # the informative features carry the signal
    assert f[:5].min() > 10 * f[5:].max()


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "synthetic_tabular"])
def test_tabular_data_is_standardised_with_training_statistics(name):
    d = datasets.load(name)
    np.testing.assert_allclose(d.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(d.x_train.std(axis=0), 1, atol=1e-4)
    assert np.abs(d.x_test.mean(axis=0)).max() > 1e-3  # the test split is not re-centred


def test_breast_cancer_matches_sklearn_scaled_by_the_training_split():
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer()
    train, test = stratified_split(raw.target, 0.25, 0)
    mean, std = raw.data[train].mean(axis=0), raw.data[train].std(axis=0)
    d = datasets.load("breast_cancer")
    np.testing.assert_allclose(d.x_test, (raw.data[test] - mean) / std, rtol=1e-5, atol=1e-5)
    assert d.class_names == ["malignant", "benign"] and d.feature_names[0] == "mean radius"


# --- user data -----------------------------------------------------------------------------------


def test_from_arrays_tabular_split_is_stratified_and_seeded():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    d = datasets.from_arrays(x, y, feature_names=["a", "b", "c"], class_names=["no", "yes"])
    assert d.kind == "tabular" and d.x_train.shape == (30, 3) and d.x_test.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(d.y_test), [5, 5])
    again = datasets.from_arrays(x, y)
    np.testing.assert_array_equal(again.x_test, d.x_test)
    assert not np.array_equal(datasets.from_arrays(x, y, seed=1).x_test, d.x_test)
    assert d.settings == {"test_fraction": 0.25, "split_seed": 0}


def test_from_arrays_images_get_a_channel_and_uint8_is_scaled():
    x = np.full((8, 5, 6), 255, np.uint8)
    masks = np.zeros((8, 5, 6), bool)
    masks[:, 0, 0] = True
    d = datasets.from_arrays(x, ["cat", "dog"] * 4, name="pets", masks=masks)
    assert d.kind == "image" and d.x_train.shape == (6, 5, 6, 1) and d.x_train.max() == 1.0
    assert d.class_names == ["cat", "dog"] and d.masks.shape == (2, 5, 6)
    assert d.settings["scaled"] == "uint8 / 255" and d.name == "pets"


def test_from_arrays_with_a_given_test_set():
    x, xt = np.zeros((6, 4, 4, 3)), np.ones((2, 4, 4, 3))
    d = datasets.from_arrays(
        x, [0, 1, 2] * 2, x_test=xt, y_test=np.array([[2], [0]]), masks=np.ones((2, 4, 4))
    )
    np.testing.assert_array_equal(d.x_test, xt)
    assert d.y_test.tolist() == [2, 0] and d.n_classes == 3 and d.masks.dtype == bool


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"x": np.zeros((4,))}, r"x must be tabular rows"),
        ({"x": np.zeros((4, 2, 2, 2, 2))}, r"got shape \(4, 2, 2, 2, 2\)"),
        ({"y": [0, 1, 0]}, r"y must have shape \(8,\)"),
        ({"x": np.full((8, 2), np.nan)}, "NaN"),
        ({"y": [0, -1] * 4}, "class ids"),
        ({"y": [0, 0.5] * 4}, "class ids"),
        ({"x_test": np.zeros((2, 2))}, "both x_test and y_test"),
        ({"x_test": np.zeros((2, 3)), "y_test": [0, 1]}, "x_test samples have shape"),
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"class_names": ["a"]}, "class_names has 1 names"),
        ({"feature_names": ["a", "b", "c"]}, "feature_names"),
        ({"masks": np.zeros((3, 2), bool)}, r"masks must have shape \(8, 2\)"),
        ({"test_fraction": 0.05}, "leaves no test sample"),
    ],
)
def test_from_arrays_rejects_bad_input_naming_the_problem(kwargs, match):
    args = {"x": np.zeros((8, 2)), "y": [0, 1] * 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        datasets.from_arrays(args.pop("x"), args.pop("y"), **args)


def test_from_arrays_rejects_non_numeric_inputs():
    with pytest.raises(TypeError, match="array of numbers"):
        datasets.from_arrays(np.array([["a", "b"]] * 4), [0, 1, 0, 1])


def test_from_npz_round_trip_and_missing_keys(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(
        path,
        x_train=np.arange(12.0).reshape(6, 2),
        y_train=[0, 1] * 3,
        x_test=np.ones((2, 2)),
        y_test=[1, 0],
        class_names=np.array(["low", "high"]),
        feature_names=np.array(["u", "v"]),
        masks=np.array([[True, False], [False, True]]),
    )
    d = datasets.from_npz(path)
    assert d.name == "mine" and d.class_names == ["low", "high"] and d.feature_names == ["u", "v"]
    np.testing.assert_array_equal(d.x_train, np.arange(12.0).reshape(6, 2))
    assert d.masks.tolist() == [[True, False], [False, True]] and d.settings == {"split": "given"}
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((2, 2)), y_train=[0, 1])
    with pytest.raises(ValueError, match="lacks the arrays x_test, y_test"):
        datasets.from_npz(bad)
    with pytest.raises(ValueError, match="no such .npz file"):
        datasets.from_npz(tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot read"):
        datasets.from_npz(tmp_path / "junk.npz")


@pytest.fixture
def image_folder(tmp_path):
    from xaibench._tf import keras

    colours = {"blue": (0, 0, 255), "red": (255, 0, 0)}
    for name, rgb in colours.items():
        (tmp_path / "pics" / name).mkdir(parents=True)
        for i in range(3):
            img = np.broadcast_to(np.array(rgb, np.uint8), (10, 12, 3))
            keras.utils.save_img(tmp_path / "pics" / name / f"{i}.png", img, scale=False)
    (tmp_path / "pics" / "notes.txt").write_text("not a class folder")
    return tmp_path / "pics"


def test_from_folder_reads_class_subfolders(image_folder):
    d = datasets.from_folder(image_folder, image_size=(8, 8))
    assert d.name == "pics" and d.class_names == ["blue", "red"] and d.kind == "image"
    assert d.x_train.shape == (4, 8, 8, 3) and d.x_test.shape == (2, 8, 8, 3)
    x_all, y_all = np.concatenate([d.x_train, d.x_test]), np.concatenate([d.y_train, d.y_test])
    for x, y in zip(x_all, y_all, strict=True):
        np.testing.assert_allclose(x[0, 0], [0, 0, 1] if y == 0 else [1, 0, 0])
    assert d.settings["image_size"] == [8, 8]
    grey = datasets.from_folder(image_folder, image_size=(8, 8), color_mode="grayscale")
    assert grey.x_train.shape == (4, 8, 8, 1)


def test_from_folder_fails_clearly(tmp_path, image_folder):
    with pytest.raises(ValueError, match="no such folder"):
        datasets.from_folder(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no class subfolders"):
        datasets.from_folder(tmp_path / "empty")
    (image_folder / "green").mkdir()
    with pytest.raises(ValueError, match="without images.*green"):
        datasets.from_folder(image_folder)


# --- cifar10 from a fabricated Keras cache -------------------------------------------------------


def _write_cifar(folder, n=3):
    """Fake CIFAR python batches: image i of a batch has red i, green 100 + label, blue 200."""
    folder.mkdir(parents=True)
    for k, name in enumerate([*cifar10.TRAIN_FILES, cifar10.TEST_FILE]):
        labels = [(k + i) % 10 for i in range(n)]
        planes = np.zeros((n, 3, 32, 32), np.uint8)
        planes[:, 0] = np.arange(n)[:, None, None]
        planes[:, 1] = 100 + np.array(labels)[:, None, None]
        planes[:, 2] = 200
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": planes.reshape(n, -1)}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)


@pytest.mark.parametrize("layout", ["cifar-10-batches-py", "cifar-10-batches-py-target"])
def test_cifar10_reads_the_local_keras_cache(tmp_path, monkeypatch, layout):
    folder = tmp_path / "datasets" / "cifar-10-batches-py"
    if layout.endswith("target"):
        folder = tmp_path / "datasets" / layout / "cifar-10-batches-py"
    _write_cifar(folder)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    d = datasets.from_config({"name": "cifar10"}).load()
    assert d.x_train.shape == (15, 32, 32, 3) and d.x_test.shape == (3, 32, 32, 3)
    assert d.x_train.dtype == np.float32 and d.class_names[0] == "airplane"
    np.testing.assert_allclose(d.x_test[2, 5, 7] * 255, [2, 100 + d.y_test[2], 200], rtol=1e-6)
    assert d.y_test.tolist() == [5, 6, 7] and d.y_train[:4].tolist() == [0, 1, 2, 1]


def test_cifar10_without_cache_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="not in the local Keras cache.*cifar10.load_data"):
        datasets.load("cifar10")
    assert "cifar10" not in datasets.names()


def test_cifar10_refuses_pickled_code(tmp_path, monkeypatch):
    _write_cifar(tmp_path / "datasets" / "cifar-10-batches-py")
    with open(tmp_path / "datasets" / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({b"data": print}, f, protocol=2)  # a global that is not a numpy array
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="not a readable CIFAR-10 batch.*refusing"):
        cifar10.load()


def test_register_a_user_dataset_by_name(monkeypatch):
    monkeypatch.setattr(datasets.registry, "_items", dict(datasets.registry._items))

    @datasets.register("tiny")
    def tiny():
        """Two features, two classes."""
        return datasets.from_arrays(np.eye(8)[:, :2], [0, 1] * 4, name="tiny")

    assert "tiny" in datasets.names() and datasets.describe("tiny") == "Two features, two classes."
    assert datasets.load("tiny").x_train.shape == (6, 2)
    with pytest.raises(ValueError, match="built-in"):
        datasets.register("digits", tiny)
    datasets.load.cache_clear()


def test_digits_shapes_range_and_deterministic_split():
    d = xb.datasets.load("digits")
    assert d.x_train.dtype == np.float32 and d.x_test.dtype == np.float32
    assert d.x_train.shape[1:] == (8, 8, 1) and len(d.x_train) + len(d.x_test) == 1797
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    assert d.kind == "image" and d.class_names == [str(i) for i in range(10)]
    assert len(d.x_test) == 450  # sum over classes of round(0.25 * class count)
    # stratified: every class is 25% test, +-1 sample
    counts = np.bincount(d.y_test, minlength=10) / np.bincount(
        np.concatenate([d.y_train, d.y_test]), minlength=10
    )
    np.testing.assert_allclose(counts, 0.25, atol=0.01)
    fresh = xb.datasets.digits.load()
    np.testing.assert_array_equal(fresh.x_test, d.x_test)
    np.testing.assert_array_equal(fresh.y_train, d.y_train)


def test_dataset_arrays_are_read_only_and_unknown_names_fail():
    d = xb.datasets.load("digits")
    with pytest.raises(ValueError):
        d.x_test[0, 0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="digits"):
        xb.datasets.load("digit")
