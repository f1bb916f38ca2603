"""`hnnbio nir import` / `hnnbio nir export`, and `hnnbio run` on an imported file."""

import json
import math

import nir
import numpy as np

from hnnbio.cli import main


def _lif_file(tmp_path, n=3):
    nodes = {"input": nir.Input(input_type={"input": np.array([n])}),
             "linear": nir.Linear(weight=np.eye(n)),
             "lif": nir.LIF(tau=np.full(n, 0.02), r=np.full(n, 2.0), v_leak=np.zeros(n),
                            v_threshold=np.ones(n), v_reset=np.zeros(n)),
             "output": nir.Output(output_type={"output": np.array([n])})}
    path = tmp_path / "lif.nir"
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=[("input", "linear"),
                                                          ("linear", "lif"), ("lif", "output")]))
    return path


def test_import_then_run_fires_at_the_analytic_rate(tmp_path, capsys):
    from hnnbio.run import run_file

    out = tmp_path / "lif.toml"
    assert main(["nir", "import", str(_lif_file(tmp_path)), "--dt", "0.1ms", "-o", str(out),
                 "--steps", "10000", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows["populations"] == 1 and rows["population_forms"] == "lif"
    currents = np.array([[0.7, 1.0, 2.0]])
    np.save(tmp_path / "x.npy", currents)
    total = run_file(out, input=tmp_path / "x.npy")["spike_counts"]["lif"]  # all neurons
    isi = np.array([0.02 * math.log(2 * i / (2 * i - 1)) for i in currents[0]])
    analytic = np.sum(1.0 / isi)  # spikes in 1 s
    assert abs(total - analytic) <= 0.03 * analytic
    assert total == np.sum(10000 // (np.floor(isi / 1e-4) + 1))  # the interval on the step grid


def test_export_prints_what_is_left_out(tmp_path, capsys):
    toml = tmp_path / "lif.toml"
    assert main(["nir", "import", str(_lif_file(tmp_path)), "--dt", "0.1 ms", "-o",
                 str(toml)]) == 0
    out = tmp_path / "back.nir"
    assert main(["nir", "export", str(toml), "-o", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows["left_out"] == "nothing" and isinstance(nir.read(str(out)).nodes["lif"], nir.LIF)
    assert main(["nir", "export", str(toml), "-o", str(out)]) == 2  # exists
    assert "exists" in capsys.readouterr().err


def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys):
    good = _lif_file(tmp_path)
    out = tmp_path / "x.toml"
    assert main(["nir", "import", str(good), "--dt=-1ms", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "dt: must be a finite time > 0" in err
    junk = tmp_path / "junk.nir"
    junk.write_text("junk")
    assert main(["nir", "import", str(junk), "--dt", "0.1ms", "-o", str(out)]) == 2
    assert "not a readable NIR file" in capsys.readouterr().err
    assert main(["nir", "export", "models/bars.toml", "-o", str(tmp_path / "b.nir")]) == 2
    assert "model 'stochastic'" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "b.nir").exists()


def test_export_format_nir_is_the_nir_writer(tmp_path, capsys):
    """`hnnbio export --format nir` writes what `hnnbio nir export` writes; a binding sheet
    (stochastic units) is refused by name, not approximated."""
    toml = tmp_path / "lif.toml"
    assert main(["nir", "import", str(_lif_file(tmp_path)), "--dt", "0.1 ms", "-o",
                 str(toml)]) == 0
    a, b = tmp_path / "a.nir", tmp_path / "b.nir"
    assert main(["export", "--model", str(toml), "--format", "nir", "-o", str(a)]) == 0
    assert main(["nir", "export", str(toml), "-o", str(b)]) == 0
    ga, gb = nir.read(str(a)), nir.read(str(b))
    assert set(ga.nodes) == set(gb.nodes) and sorted(ga.edges) == sorted(gb.edges)
    assert np.array_equal(ga.nodes["lif"].tau, gb.nodes["lif"].tau)
    capsys.readouterr()
    out = tmp_path / "bars.nir"
    assert main(["export", "--model", "bars", "--format", "nir", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "stochastic" in err and not out.exists()
