"""The user's own images: every accepted form, and one line for each bad one."""

import numpy as np
import pytest
from PIL import Image

from hnnbio.data.user_images import load_npy, read_images, read_truth
from hnnbio.errors import DataError


def _stack():
    images = np.zeros((3, 6, 5), dtype=np.uint8)
    images[:, 2, :] = 1
    images[1, :, 1] = 1
    return images


@pytest.mark.parametrize("form", ["int", "bool", "uint8_255", "float", "one"])
def test_npy_forms(tmp_path, form):
    images = _stack()
    arr = {"int": images.astype(np.int32), "bool": images.astype(bool),
           "uint8_255": images * np.uint8(255), "float": images.astype(float),
           "one": images[0]}[form]
    np.save(tmp_path / "x.npy", arr)
    got, note = read_images(tmp_path / "x.npy")
    want = images[:1] if form == "one" else images
    assert got.dtype == np.uint8 and (got == want).all()
    assert ("255" in note) == (form == "uint8_255")


def test_png_and_folder(tmp_path):
    images = _stack()
    for i, im in enumerate(images):
        Image.fromarray(im * 255).save(tmp_path / f"img{i:02d}.png")
    Image.fromarray(np.stack([images[0] * 255] * 3, axis=-1)).save(tmp_path / "rgb.png")
    got, _ = read_images(tmp_path / "img01.png")
    assert got.shape == (1, 6, 5) and (got[0] == images[1]).all()
    rgb, _ = read_images(tmp_path / "rgb.png")
    assert (rgb[0] == images[0]).all()
    folder = tmp_path / "set"
    folder.mkdir()
    for i, im in enumerate(images):
        Image.fromarray(im * 255).save(folder / f"{i}.png")
    stack, _ = read_images(folder)
    assert (stack == images).all()


def _bad(tmp_path, case):
    p = tmp_path / "bad.npy"
    images = _stack()
    if case == "missing":
        return tmp_path / "nope.npy"
    if case == "garbage":
        p.write_bytes(b"not numpy at all")
    elif case == "nan":
        arr = images.astype(float)
        arr[0, 0, 0] = np.nan
        np.save(p, arr)
    elif case == "grey":
        np.save(p, images * 3)
    elif case == "half":
        np.save(p, images * 0.5)
    elif case == "empty":
        images[2] = 0
        np.save(p, images)
    elif case == "4d":
        np.save(p, images[None])
    elif case == "strings":
        np.save(p, np.array(["a", "b"]))
    elif case == "suffix":
        p = tmp_path / "x.jpg"
        p.write_bytes(b"\xff\xd8")
    elif case == "badpng":
        p = tmp_path / "x.png"
        p.write_bytes(b"\x89PNG broken")
    elif case == "emptyfolder":
        p = tmp_path / "folder"
        p.mkdir()
    elif case == "sizes":
        p = tmp_path / "folder"
        p.mkdir()
        Image.fromarray(np.full((4, 4), 255, np.uint8)).save(p / "a.png")
        Image.fromarray(np.full((5, 4), 255, np.uint8)).save(p / "b.png")
    return p


@pytest.mark.parametrize("case, words", [
    ("missing", "no such file"), ("garbage", "not a .npy file"), ("nan", "NaN"),
    ("grey", "non-binary"), ("half", "non-binary"), ("empty", "image 2 is empty"),
    ("4d", "expected shape"), ("strings", "numeric"), ("suffix", "unsupported format"),
    ("badpng", "not a readable PNG"), ("emptyfolder", "no .png"), ("sizes", "differs"),
])
def test_bad_images_one_line(tmp_path, case, words):
    path = _bad(tmp_path, case)
    with pytest.raises(DataError, match=words) as info:
        read_images(path)
    assert "\n" not in str(info.value) and str(path.name) in str(info.value)


def test_truth(tmp_path):
    truth = _stack().astype(np.int64) * 2
    np.save(tmp_path / "t.npy", truth)
    assert (read_truth(tmp_path / "t.npy", truth.shape) == truth).all()
    with pytest.raises(DataError, match="shape"):
        read_truth(tmp_path / "t.npy", (2, 6, 5))
    np.save(tmp_path / "neg.npy", -truth)
    with pytest.raises(DataError, match="negative"):
        read_truth(tmp_path / "neg.npy", truth.shape)
    np.save(tmp_path / "frac.npy", truth + 0.5)
    with pytest.raises(DataError, match="whole"):
        read_truth(tmp_path / "frac.npy", truth.shape)


@pytest.mark.parametrize("case, words", [
    ("missing", "no such file"), ("garbage", "does not start with NumPy's header"),
    ("truncated", r"not a readable .npy file \(ValueError: EOF"),
    ("objects", "Object arrays cannot be loaded"), ("strings", "got dtype <U1"),
    ("nan", "NaN or infinite"), ("inf", "NaN or infinite"),
])
def test_load_npy_names_the_file_and_the_problem(tmp_path, case, words):
    p = tmp_path / f"{case}.npy"
    good = tmp_path / "good.npy"
    np.save(good, np.arange(64.0).reshape(4, 16))
    if case == "garbage":
        p.write_bytes(b"not numpy at all")
    elif case == "truncated":
        p.write_bytes(good.read_bytes()[:100])
    elif case == "objects":
        np.save(p, np.array([1, "a", None], dtype=object), allow_pickle=True)
    elif case == "strings":
        np.save(p, np.array(["a", "b"]))
    elif case in ("nan", "inf"):
        np.save(p, np.array([0.0, np.nan if case == "nan" else -np.inf]))
    with pytest.raises(DataError, match=words) as info:
        load_npy(p, "input")
    message = str(info.value)
    assert message.startswith(f"input: {p}") and "\n" not in message
    np.testing.assert_array_equal(load_npy(good), np.arange(64.0).reshape(4, 16))
    assert np.isnan(load_npy(tmp_path / "nan.npy", finite=False)[1]) if case == "nan" else True
