"""`hnnbio bind --input`: the user's images bound, scored with --truth, labels written as PNGs;
bad files, sizes and object counts refused in one line with nothing written."""

import json

import numpy as np
import pytest
from PIL import Image

from hnnbio.binding.bind import check_objects, run_bind
from hnnbio.cli import main
from hnnbio.data.datasets import generate
from hnnbio.errors import HnnbioError, ParameterError


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user")
    images, truth = generate("bars", 2, seed=4, cache=False)
    np.save(folder / "mine.npy", images)
    np.save(folder / "truth.npy", truth)
    pngs = folder / "pngs"
    pngs.mkdir()
    for i, im in enumerate(images):
        Image.fromarray(im * np.uint8(255)).save(pngs / f"{i}.png")
    np.save(folder / "small.npy", images[:, :10, :10])
    return folder, images, truth


def test_bind_user_npy_with_truth_scores_and_writes_labels(files, tmp_path, capsys):
    folder, images, truth = files
    out = tmp_path / "res"
    code = main(["bind", "--model", "bars", "--input", str(folder / "mine.npy"), "--truth",
                 str(folder / "truth.npy"), "--cycles", "3", "--out", str(out), "--quiet",
                 "--json"])
    assert code == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["images"] == 2 and 0 <= row["ami"] <= 1 and "ari_fg" in row
    pngs = sorted((out / "labels").iterdir())
    assert [p.name for p in pngs] == ["0000.png", "0001.png"]
    saved = np.load(out / "result.npz")
    assert (saved["images"] == images).all()
    # the label image shows the groups: black exactly on the background, 8x8 blocks per pixel
    rgb = np.asarray(Image.open(pngs[0]))
    assert rgb.shape == (160, 160, 3)
    assert ((rgb[::8, ::8].sum(axis=-1) == 0) == (saved["labels"][0] == 0)).all()


def test_bind_png_folder_with_objects_equals_npy(files):
    folder, images, _ = files
    a = run_bind("bars", input=folder / "pngs", objects=12, cycles=2, seed=3)
    b = run_bind("bars", input=folder / "mine.npy", objects=12, cycles=2, seed=3)
    assert (a.images == images).all() and (a.labels == b.labels).all()
    assert a.info["input"]["values"] == "uint8 0/255 read as 0/1"
    assert set(np.unique(a.labels[0])) <= set(range(14))  # K + 1 = 13 k-means groups


@pytest.mark.parametrize("args, words", [
    (["--input", "small.npy"], "10x10 pixels; model bars binds 20x20"),
    (["--input", "missing.npy"], "no such file"),
    (["--input", "mine.npy", "--truth", "small.npy"], "labels of shape"),
    (["--input", "mine.npy", "--objects", "9999"], "foreground pixels"),
    (["--objects", "3"], "without input"),
])
def test_bad_user_input_one_line(files, tmp_path, capsys, args, words):
    folder, _, _ = files
    args = [str(folder / a) if a.endswith(".npy") else a for a in args]
    out = tmp_path / "res"
    code = main(["bind", "--model", "bars", *args, "--cycles", "2", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and len(err.splitlines()) == 1
    assert not out.exists() and not any(tmp_path.iterdir())


def test_objects_zero_is_an_argument_error(files, capsys):
    folder, _, _ = files
    with pytest.raises(SystemExit) as info:
        main(["bind", "--input", str(folder / "mine.npy"), "--objects", "0"])
    assert info.value.code == 2 and "--objects: must be >= 1" in capsys.readouterr().err


def test_check_objects():
    images = np.zeros((2, 3, 3), np.uint8)
    images[:, 0] = 1
    assert check_objects("auto", images) == "auto"
    assert (check_objects(2, images) == [2, 2]).all()
    assert (check_objects([1, 3], images) == [1, 3]).all()
    for bad in (0, -1, True, 2.5, [1, 2, 3], "three", 4):
        with pytest.raises(ParameterError):
            check_objects(bad, images)
    assert issubclass(ParameterError, HnnbioError)
