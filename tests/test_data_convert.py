"""convert and info: any readable source becomes a sciwm file with the same values; info summarises."""

import numpy as np
import pytest
from data_factories import make_netcdf, make_pdebench_1d, make_pdebench_2d, make_sciwm, make_well

import sciwm.data
from sciwm.errors import SciwmError


@pytest.mark.parametrize("kind", ["pdebench1d", "pdebench2d", "well", "netcdf"])
def test_convert_round_trip(tmp_path, kind):
    if kind == "pdebench1d":
        src, u = make_pdebench_1d(tmp_path)
        field, want = "u", u
    elif kind == "pdebench2d":
        src, u = make_pdebench_2d(tmp_path)
        field, want = "v", u[..., 1].transpose(0, 1, 3, 2)
    elif kind == "well":
        src, d = make_well(tmp_path)
        field, want = "velocity_y", d["velocity"][..., 1].transpose(0, 1, 3, 2)
    else:
        src = tmp_path / "src.nc"
        field, want = "temp", make_netcdf(src)
    dst = sciwm.data.convert(src, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5.partial").exists()
    a, b = sciwm.data.open(src), sciwm.data.open(dst)
    assert b.attrs["complete"] == 1 and b.attrs["n_written"] == a.sizes["sample"]
    np.testing.assert_array_equal(b[field].values, want)
    np.testing.assert_allclose(b["time"].values, a["time"].values)
    assert sorted(b.data_vars) == sorted([*a.data_vars, "seed"])
    assert b.attrs["dt_save"] == pytest.approx(float(a["time"][1] - a["time"][0]))


def test_convert_streams_in_sample_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr("sciwm.data.conversion.CHUNK_BYTES", 1)  # one sample per step
    src, u = make_pdebench_1d(tmp_path, n=4)
    out = sciwm.data.open(sciwm.data.convert(src, tmp_path / "o.h5"))
    np.testing.assert_array_equal(out["u"].values, u)
    np.testing.assert_array_equal(out["Nu"].values, [0.01] * 4)


def test_convert_refuses_nan_and_leaves_no_file(tmp_path):
    import h5py

    src, _ = make_pdebench_1d(tmp_path, n=3)
    with h5py.File(src, "r+") as f:
        f["tensor"][1, 4, 0] = np.nan
    with pytest.raises(SciwmError, match="field 'u' has NaN/inf at sample 1, frame 4"):
        sciwm.data.convert(src, tmp_path / "o.h5")
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "o.h5.partial").exists()
    with pytest.raises(SciwmError, match="NaN/inf at sample 1, frame 4"):
        sciwm.data.info(src)


def test_info_summary(tmp_path):
    path = tmp_path / "train.h5"
    make_sciwm(path, n=4, nt=6, nx=8)
    text = sciwm.data.info(path)
    for piece in ("status   complete: 4 of 4", "burgers", "sample=4, time=6, x=8", "dt_save 0.5",
                  "param    nu in [0.1, 0.4]", "field    u (4, 6, 8) float32", "MiB on disk", "all finite"):
        assert piece in text, piece
    assert len(text.splitlines()) < 25


def test_info_reports_incomplete_file_and_convert_refuses_it(tmp_path):
    path = tmp_path / "train.h5"
    make_sciwm(path, n=4, complete=False)
    assert "INCOMPLETE: 3 of 4 samples" in sciwm.data.info(path)
    with pytest.raises(SciwmError, match="incomplete file"):
        sciwm.data.convert(path, tmp_path / "o.h5")


def test_convert_refuses_a_nan_parameter_and_writes_nothing(tmp_path):
    import xarray as xr

    src = tmp_path / "src.nc"
    make_netcdf(src)
    ds = xr.load_dataset(src, engine="h5netcdf")
    ds["forcing"].values[1] = np.nan
    ds.to_netcdf(tmp_path / "nan.nc", engine="h5netcdf")
    with pytest.raises(SciwmError, match="parameter 'forcing' is NaN/inf at sample 1"):
        sciwm.data.convert(tmp_path / "nan.nc", tmp_path / "o.h5")
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "o.h5.partial").exists()


def test_convert_refuses_a_nan_action_and_leaves_no_file(tmp_path):
    import h5py

    make_sciwm(tmp_path / "src.h5", action=True)
    with h5py.File(tmp_path / "src.h5", "r+") as f:
        f["action"][2, 3, 0] = np.nan
    with pytest.raises(SciwmError, match="action has NaN/inf at sample 2, frame 3"):
        sciwm.data.convert(tmp_path / "src.h5", tmp_path / "o.h5")
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "o.h5.partial").exists()
