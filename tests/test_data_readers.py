"""Readers: PDEBench, the Well and NetCDF/Zarr files come back in the sciwm layout with exact values."""

import json

import numpy as np
import pytest
from data_factories import make_netcdf, make_pdebench_1d, make_pdebench_2d, make_well

import sciwm.data
from sciwm.data.reading import detect
from sciwm.errors import SciwmError


def test_pdebench_1d_tensor_and_time_with_one_extra_entry(tmp_path):
    path, u = make_pdebench_1d(tmp_path, n=3, nt=5, nx=8)
    ds = sciwm.data.open(path)
    assert detect(path) == "pdebench"
    assert ds["u"].dims == ("sample", "time", "x")
    np.testing.assert_array_equal(ds["u"].values, u)
    np.testing.assert_array_equal(ds["u"][1, 2:4].values, u[1, 2:4])
    np.testing.assert_allclose(ds["time"].values, np.linspace(0, 2.0, 6)[:5])  # T+1 entries cut to T
    np.testing.assert_allclose(ds["x"].values, (np.arange(8) + 0.5) / 8)
    np.testing.assert_array_equal(ds["Nu"].values, [0.01] * 3)  # parameter from the file name
    assert json.loads(ds.attrs["params"]) == {"Nu": 0.01}


def test_pdebench_2d_groups_transposed_to_y_x(tmp_path):
    path, u = make_pdebench_2d(tmp_path, n=3, nt=4, nx=6, ny=5, nc=2)
    ds = sciwm.data.open(path)
    assert ds["u"].dims == ("sample", "time", "y", "x") and ds["u"].shape == (3, 4, 5, 6)
    np.testing.assert_array_equal(ds["u"].values, u[..., 0].transpose(0, 1, 3, 2))
    np.testing.assert_array_equal(ds["v"].values, u[..., 1].transpose(0, 1, 3, 2))
    # lazy indexing with ints, steps and an empty selection
    np.testing.assert_array_equal(ds["v"][2, 1, 3].values, u[2, 1, :, 3, 1])
    np.testing.assert_array_equal(ds["u"][::2, :, 1:4:2].values, u[::2, :, :, 1:4:2, 0].transpose(0, 1, 3, 2))
    assert ds["u"][3:].shape == (0, 4, 5, 6)
    np.testing.assert_allclose(ds["x"].values, np.linspace(-1, 1, 6))
    np.testing.assert_allclose(ds["time"].values, np.linspace(0, 5, 4))


def test_pdebench_flat_2d_cfd_fields(tmp_path):
    import h5py

    path = tmp_path / "2D_CFD_Rand_M0.1_Eta0.01_Zeta0.1_periodic_Train.hdf5"
    d = {name: np.random.default_rng(i).standard_normal((2, 3, 6, 5)).astype(np.float32)
         for i, name in enumerate(("density", "pressure", "Vx", "Vy"))}
    with h5py.File(path, "w") as f:
        for name, arr in d.items():
            f[name] = arr
        for axis, size in (("x", 6), ("y", 5), ("t", 4)):
            f[f"{axis}-coordinate"] = np.arange(float(size))
        f.attrs.update(eta=0.01, zeta=0.1, M=0.1)
    ds = sciwm.data.open(path)
    for name, arr in d.items():
        np.testing.assert_array_equal(ds[name].values, arr.transpose(0, 1, 3, 2))
    assert ds.attrs["boundary"] == "periodic"
    assert json.loads(ds.attrs["params"])["Eta"] == 0.01 and json.loads(ds.attrs["params"])["eta"] == 0.01


def test_well_fields_components_scalars(tmp_path):
    path, d = make_well(tmp_path, n=2, nt=4, nx=6, ny=5)
    ds = sciwm.data.open(path)
    assert detect(path) == "well"
    yx = (0, 1, 3, 2)
    np.testing.assert_array_equal(ds["density"].values, d["density"].transpose(yx))
    np.testing.assert_array_equal(ds["velocity_x"].values, d["velocity"][..., 0].transpose(yx))
    np.testing.assert_array_equal(ds["velocity_y"].values, d["velocity"][..., 1].transpose(yx))
    np.testing.assert_array_equal(ds["stress_xy"].values, d["stress"][..., 0, 1].transpose(yx))
    np.testing.assert_array_equal(ds["stress_yx"].values, d["stress"][..., 1, 0].transpose(yx))
    np.testing.assert_array_equal(ds["amplitude"].values, [0.5, 1.5])
    np.testing.assert_allclose(ds["time"].values, np.linspace(0, 1.5, 4))  # shifted to start at 0
    assert ds.attrs["skipped_fields"] == "mask"
    assert ds.attrs["boundary"] == "periodic"
    assert json.loads(ds.attrs["params"]) == {"Reynolds": 1000.0}
    assert ds.attrs["pde"] == "shear_flow"


def test_netcdf_dims_guessed_and_transposed(tmp_path):
    path = tmp_path / "era.nc"
    u = make_netcdf(path)
    ds = sciwm.data.open(path)
    assert ds["temp"].dims == ("sample", "time", "y", "x")
    np.testing.assert_array_equal(ds["temp"].values, u)
    np.testing.assert_array_equal(ds["forcing"].values, [0.0, 1.0, 2.0])
    assert "junk" not in ds


def test_netcdf_explicit_dims_and_bad_mapping(tmp_path):
    import xarray as xr

    path = tmp_path / "odd.nc"
    q = np.ones((2, 3, 4), np.float32)
    xr.Dataset({"q": (("run", "step", "pos"), q)}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(SciwmError, match="cannot tell time and x"):
        sciwm.data.open(path)
    ds = sciwm.data.open(path, dims={"sample": "run", "time": "step", "x": "pos"})
    assert ds["q"].dims == ("sample", "time", "x") and ds.sizes["sample"] == 2
    with pytest.raises(SciwmError, match="'nope' .for x. not in the file"):
        sciwm.data.open(path, dims={"time": "step", "x": "nope"})


def test_zarr_store(tmp_path):
    pytest.importorskip("zarr")
    path = tmp_path / "run.zarr"
    u = make_netcdf(path)
    ds = sciwm.data.open(path)
    np.testing.assert_array_equal(ds["temp"].values, u)


def test_a_well_vector_field_without_its_component_axis_is_refused(tmp_path):
    import h5py

    path, _ = make_well(tmp_path, n=2, nt=4, nx=6, ny=5)
    with h5py.File(path, "r+") as f:
        del f["t1_fields/velocity"]
        f["t1_fields/velocity"] = np.zeros((2, 4, 6, 5), np.float32)  # no trailing (2,) axis
    with pytest.raises(SciwmError, match=r"t1_fields/velocity has shape \(2, 4, 6, 5\); a rank-1 field in 2D "
                                         r"needs 5 axes \(sample, time, 2 spatial, 1 of 2 components\)"):
        sciwm.data.open(path)
