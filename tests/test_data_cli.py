"""`sciwm info/convert/plot`: work on good files; bad input exits 2 with one line naming file and problem."""


import h5py
import numpy as np
import pytest
import xarray as xr
from data_factories import make_pdebench_1d, make_sciwm

import sciwm.data
from sciwm.errors import SciwmError


@pytest.fixture
def main():
    from sciwm.cli import main

    return main


def test_info_convert_plot(tmp_path, main, capsys, monkeypatch):
    src, u = make_pdebench_1d(tmp_path)
    assert main(["convert", str(src), str(tmp_path / "b.h5")]) == 0
    np.testing.assert_array_equal(sciwm.data.open(tmp_path / "b.h5")["u"].values, u)
    assert main(["convert", str(src), str(tmp_path / "b.h5")]) == 2  # exists, no --force
    assert main(["info", str(tmp_path / "b.h5")]) == 0
    assert "status   complete: 3 of 3" in capsys.readouterr().out
    assert main(["plot", str(tmp_path / "b.h5"), "--out", str(tmp_path / "b.png"), "--sample", "2"]) == 0
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
    make_sciwm(tmp_path / "ns.h5", n=2, nt=5, nx=8, ny=6)
    monkeypatch.chdir(tmp_path)
    assert main(["plot", str(tmp_path / "ns.h5")]) == 0
    assert (tmp_path / "ns.sample0.png").exists()


def test_convert_with_dims_flag(tmp_path, main):
    path = tmp_path / "odd.nc"
    q = np.ones((2, 3, 4), np.float32)
    xr.Dataset({"q": (("run", "step", "pos"), q)}).to_netcdf(path, engine="h5netcdf")
    assert main(["convert", str(path), str(tmp_path / "o.h5"), "--dims", "sample=run,time=step,x=pos"]) == 0
    assert sciwm.data.open(tmp_path / "o.h5")["q"].shape == (2, 3, 4)


def _truncated(tmp_path):
    make_sciwm(tmp_path / "good.h5", n=3)
    data = (tmp_path / "good.h5").read_bytes()
    (tmp_path / "bad.h5").write_bytes(data[: len(data) // 3])


def _corrupt(tmp_path):
    (tmp_path / "bad.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)


def _nan(tmp_path):
    make_sciwm(tmp_path / "bad.h5", n=3)
    with h5py.File(tmp_path / "bad.h5", "r+") as f:
        f["u"][1, 2] = np.inf


def _missing_variable(tmp_path):
    make_sciwm(tmp_path / "bad.h5", n=3)
    with h5py.File(tmp_path / "bad.h5", "r+") as f:
        del f["u"]


def _wrong_dims(tmp_path):
    xr.Dataset({"q": (("time", "z"), np.ones((3, 4)))}).to_netcdf(tmp_path / "bad.h5", engine="h5netcdf")


def _no_fields(tmp_path):
    q = np.ones((3, 4, 2))
    xr.Dataset({"q": (("time", "x", "z"), q)}).to_netcdf(tmp_path / "bad.h5", engine="h5netcdf")


def _missing(tmp_path):
    pass


def _no_x(tmp_path):
    make_sciwm(tmp_path / "bad.h5", n=3)
    with h5py.File(tmp_path / "bad.h5", "r+") as f:
        del f["x"]


def _pdebench_ragged(tmp_path):
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        for i, nx in enumerate((8, 8, 6)):
            f[f"{i:04d}/data"] = np.ones((3, nx, 1), np.float32)


def _pdebench_no_data(tmp_path):
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["0000/data"] = np.ones((3, 8, 1), np.float32)
        f["0001/grid/x"] = np.arange(8.0)


def _pdebench_cfd_mismatch(tmp_path):
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["density"] = np.ones((2, 3, 8), np.float32)
        f["pressure"] = np.ones((2, 3, 4), np.float32)


@pytest.mark.parametrize("make, problem", [
    (_truncated, "truncated"), (_corrupt, "truncated"), (_nan, "NaN/inf at sample 1, frame 2"),
    (_missing_variable, "no field variables"), (_wrong_dims, "cannot tell time and x"),
    (_no_fields, "no variable has dims"), (_missing, "no such file"), (_no_x, "missing coordinate(s) ['x']"),
    (_pdebench_ragged, "0002/data has shape (3, 6, 1), 0000/data has (3, 8, 1)"),
    (_pdebench_no_data, "sample group '0001' has no 'data' array"),
    (_pdebench_cfd_mismatch, "pressure has shape (2, 3, 4), density has (2, 3, 8)"),
])
def test_bad_input_one_line_exit_2(tmp_path, main, capsys, make, problem):
    make(tmp_path)
    assert main(["info", str(tmp_path / "bad.h5")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"sciwm info: error: {tmp_path / 'bad.h5'}") and problem in err


def test_incomplete_convert_exits_2(tmp_path, main, capsys):
    make_sciwm(tmp_path / "part.h5", n=3, complete=False)
    assert main(["convert", str(tmp_path / "part.h5"), str(tmp_path / "o.h5")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "incomplete file (2 of 3 samples" in err


def test_convert_onto_a_directory_and_plot_to_an_unknown_format_are_refused(tmp_path, main, capsys):
    make_sciwm(tmp_path / "ok.h5", n=3)
    (tmp_path / "dir").mkdir()
    assert main(["convert", str(tmp_path / "ok.h5"), str(tmp_path / "dir"), "--force"]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "ok.h5"]  # no partial file left
    assert main(["plot", str(tmp_path / "ok.h5"), "--out", str(tmp_path / "p.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "matplotlib cannot write .txt; use one of" in err and ".png" in err


def test_a_corrupted_byte_range_anywhere_is_refused_or_read_never_a_traceback(tmp_path):
    """Overwrite 64 bytes at every 1/40th of a good file with 0xff: opening and reading every value either
    works (a data chunk now holds other numbers) or raises SciwmError / OSError (one line at the command
    line) - never another exception."""
    make_sciwm(tmp_path / "good.h5", n=3)
    data = bytearray((tmp_path / "good.h5").read_bytes())
    outcomes = set()
    for offset in range(0, len(data) - 64, max(1, len(data) // 40)):
        bad = bytearray(data)
        bad[offset:offset + 64] = b"\xff" * 64
        path = tmp_path / "bad.h5"
        path.write_bytes(bytes(bad))
        try:
            sciwm.data.open(path).load()
            outcomes.add("read")
        except (SciwmError, OSError):
            outcomes.add("refused")
    assert "refused" in outcomes
