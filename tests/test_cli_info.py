import json
import subprocess
import sys

from hnnbio.cli import main


def test_info_json_lists_versions_and_target(capsys):
    assert main(["info", "--json"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("hnnbio", "brian2", "torch", "elephant", "neo", "brian2_target"):
        assert key in row
    assert row["brian2_target"] in ("cython", "numpy")


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "hnnbio", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("bind", "train", "analyze", "export", "emulate", "sweep", "column", "info"):
        assert command in out.stdout


def test_unknown_model_is_one_line_error(capsys):
    import pytest

    from hnnbio.binding.spec import load_spec
    from hnnbio.errors import ModelSpecError

    with pytest.raises(ModelSpecError, match="unknown model 'nope'"):
        load_spec("nope")
