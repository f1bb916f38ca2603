"""hnnbio.outputs: result folders and files checked before the work, written atomically, nothing
left behind by an error, an interrupt or (on the next claim) a SIGKILL."""

import os
import subprocess
import sys

import pytest

from hnnbio.errors import DataError
from hnnbio.outputs import OutputFolder, atomic_file, check_file, check_folder, remove_stale


def _hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".hnnbio-"))


def test_new_folder_appears_with_every_file_and_no_temporary_folder(tmp_path):
    out = tmp_path / "a" / "b" / "out"
    with OutputFolder(out, kind="test") as folder:
        assert folder.path.parent == tmp_path  # the nearest existing parent: same file system
        assert not out.exists()  # nothing written before the commit
        (folder.path / "x.txt").write_text("x")
        (folder.path / "y.txt").write_text("y")
        written = folder.commit()
    assert written == [out / "x.txt", out / "y.txt"]
    assert sorted(p.name for p in out.iterdir()) == ["x.txt", "y.txt"]
    assert _hidden(tmp_path) == []


def test_an_error_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), OutputFolder(out, kind="test") as folder:
        (folder.path / "half.npz").write_text("half")
        raise RuntimeError("the simulation failed")
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make", ["file", "nonempty"])
def test_existing_file_or_non_empty_folder_refused(tmp_path, make):
    out = tmp_path / "out"
    if make == "file":
        out.write_text("mine")
        match = "exists and is not a folder"
    else:
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        match = "not empty .*notes.txt.*--overwrite"
    with pytest.raises(DataError, match=match):
        OutputFolder(out)
    if make == "nonempty":  # a caller without an overwrite option: not offered
        with pytest.raises(DataError, match="choose a new folder$"):
            OutputFolder(out, None)
    assert _hidden(tmp_path) == []


def test_empty_folder_is_used_and_overwrite_replaces_only_the_result(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with OutputFolder(out, owned=("result.npz", "old.png")) as folder:
        (folder.path / "result.npz").write_text("one")
        (folder.path / "old.png").write_text("one")
        folder.commit()
    (out / "notes.txt").write_text("mine")
    with OutputFolder(out, overwrite=True, owned=("result.npz", "old.png")) as folder:
        (folder.path / "result.npz").write_text("two")
        folder.commit()
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "result.npz"]
    assert (out / "result.npz").read_text() == "two" and (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("where", ["/proc/hnnbio-x", "/proc/hnnbio-x/y", "FILE/sub"])
def test_unwritable_places_refused_at_claim(tmp_path, where):
    (tmp_path / "f").write_text("x")
    out = where.replace("FILE", str(tmp_path / "f"))
    with pytest.raises(DataError, match="^out: ") as info:
        OutputFolder(out)
    assert "\n" not in str(info.value)


def test_stale_temporary_folders_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    with OutputFolder(tmp_path / "x", kind="bind") as mine:
        host = mine.path.name.split("-")[2]
        stale = tmp_path / f".hnnbio-bind-{host}-{pid}-abc"
        (stale / "sub").mkdir(parents=True)
        (stale / "sub" / "result.npz").write_text("half")
        other_host = tmp_path / f".hnnbio-bind-otherhost-{pid}-abc"
        other_host.mkdir()
        live = tmp_path / f".hnnbio-bind-{host}-{os.getpid()}-abc"
        live.mkdir()
        user = tmp_path / ".hnnbio-mine"  # not one of ours: kept
        user.mkdir()
        assert remove_stale(tmp_path) == [stale]
        assert not stale.exists()
        assert other_host.exists() and live.exists() and user.exists() and mine.path.exists()


def test_a_sigkilled_claim_is_cleaned_by_the_next(tmp_path):
    code = ("import os, signal, sys\nfrom hnnbio.outputs import OutputFolder\n"
            "f = OutputFolder(sys.argv[1], kind='bind')\n(f.path / 'result.npz').write_text('h')\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")])
    assert proc.returncode == -9
    assert len(_hidden(tmp_path)) == 1  # what a SIGKILL leaves ...
    with OutputFolder(tmp_path / "out", kind="bind") as folder:
        assert _hidden(tmp_path) == [folder.path.name]  # ... the next claim removes


def test_check_file(tmp_path):
    (tmp_path / "f").write_text("x")
    assert check_file(tmp_path / "new" / "w.pt") == tmp_path / "new" / "w.pt"
    with pytest.raises(DataError, match="exists; pass --overwrite"):
        check_file(tmp_path / "f")
    assert check_file(tmp_path / "f", overwrite=True) == tmp_path / "f"
    with pytest.raises(DataError, match="is a folder"):
        check_file(tmp_path)
    with pytest.raises(DataError, match="make it first"):
        check_file(tmp_path / "new" / "w.pt", parents=False)
    with pytest.raises(DataError, match="is not a folder"):
        check_file(tmp_path / "f" / "w.pt")
    with pytest.raises(DataError, match="cannot write into /proc"):
        check_file("/proc/w.pt")
    with pytest.raises(DataError, match="not empty"):
        check_folder(tmp_path)


def test_atomic_file_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "w.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("failed")
    assert path.read_text() == "old" and sorted(tmp_path.iterdir()) == [path]
    with atomic_file(path) as tmp:
        tmp.write_text("new")
    assert path.read_text() == "new" and sorted(tmp_path.iterdir()) == [path]


def test_a_link_to_an_empty_folder_receives_the_files(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with OutputFolder(tmp_path / "link") as folder:
        (folder.path / "x.txt").write_text("x")
        folder.commit()
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real" / "x.txt").read_text() == "x"
