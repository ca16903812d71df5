"""The trajectory file: what is written comes back exactly, through xarray and plain h5py."""

import h5netcdf
import h5py
import numpy as np
import pytest
import xarray as xr
from data_factories import make_sciwm, values

import sciwm.data
from sciwm.data.format import REQUIRED_ATTRS, TrajectoryWriter
from sciwm.errors import SciwmError


def test_1d_round_trip_through_xarray(tmp_path):
    path = tmp_path / "train.h5"
    data = make_sciwm(path, n=5, nt=6, nx=8, action=True)
    ds = xr.open_dataset(path, engine="h5netcdf")
    assert dict(ds.sizes) == {"sample": 5, "time": 6, "x": 8, "action_0": 2}
    assert ds["u"].dims == ("sample", "time", "x") and ds["u"].dtype == np.float32
    np.testing.assert_array_equal(ds["u"].values, data["u"])
    np.testing.assert_array_equal(ds["nu"].values, data["nu"])
    np.testing.assert_array_equal(ds["seed"].values, data["seed"])
    np.testing.assert_array_equal(ds["action"].values, data["action"])
    np.testing.assert_allclose(ds["time"].values, np.arange(6) * 0.5)
    np.testing.assert_allclose(ds["x"].values, np.arange(8) / 4)
    for key in REQUIRED_ATTRS:
        assert key in ds.attrs
    assert ds.attrs["complete"] == 1 and ds.attrs["n_written"] == 5 and ds.attrs["boundary"] == "periodic"
    assert ds.attrs["params"] == '{"a": 1.0}'


def test_2d_layout_chunks_and_plain_h5py(tmp_path):
    path = tmp_path / "ns.h5"
    data = make_sciwm(path, n=3, nt=4, nx=8, ny=6, fields=("u", "v"))
    with h5py.File(path, "r") as f:
        assert f["u"].shape == (3, 4, 6, 8)
        assert f["u"].chunks == (1, 4, 6, 8)  # one chunk = one trajectory, all frames
        assert f["u"].maxshape[0] is None  # sample is unlimited
        np.testing.assert_array_equal(f["v"][2, 1:3], data["v"][2, 1:3])
    ds = sciwm.data.open(path)
    assert ds["v"].dims == ("sample", "time", "y", "x")
    np.testing.assert_array_equal(ds["v"].values, data["v"])


def test_huge_trajectories_are_chunked_by_frames(tmp_path, monkeypatch):
    monkeypatch.setattr("sciwm.data.format.MAX_CHUNK_BYTES", 3 * 8 * 4)
    make_sciwm(tmp_path / "a.h5", n=2, nt=6, nx=8)
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert f["u"].chunks == (1, 3, 8)


def test_interrupted_append_is_dropped_on_resume(tmp_path):
    path = tmp_path / "train.h5"
    data = make_sciwm(path, n=4, complete=False, batch=1)  # 3 of 4 committed
    with h5netcdf.File(path, "r+") as f:  # an append that crashed before its commit point
        f.resize_dimension("sample", 5)
        f.variables["u"][3:5] = np.full((2, 6, 8), 9.0)
    w = TrajectoryWriter.resume(path)
    assert w.n_written == 3 and w.attrs["card"] == "x"
    w.append({"u": data["u"][3:]}, {"nu": data["nu"][3:]}, data["seed"][3:])
    w.finish()
    ds = sciwm.data.open(path)
    assert ds.sizes["sample"] == 4
    np.testing.assert_array_equal(ds["u"].values, data["u"])


def test_incomplete_file_is_refused_unless_allowed(tmp_path):
    path = tmp_path / "train.h5"
    data = make_sciwm(path, n=4, complete=False)
    with pytest.raises(SciwmError, match="incomplete file .3 of 4 samples"):
        sciwm.data.open(path)
    ds = sciwm.data.open(path, allow_incomplete=True)
    np.testing.assert_array_equal(ds["u"].values, data["u"][:3])


def test_append_checks_shapes_and_counts(tmp_path):
    w = TrajectoryWriter.create(tmp_path / "a.h5", fields=["u"], time=np.arange(3.0), x=np.arange(4.0),
                                attrs={k: 0 for k in REQUIRED_ATTRS}, n_expected=2)
    with pytest.raises(SciwmError, match=r"shape \(1, 3, 5\), expected \(1, 3, 4\)"):
        w.append({"u": values((1, 3, 5))})
    with pytest.raises(SciwmError, match="fields"):
        w.append({"w": values((1, 3, 4))})
    with pytest.raises(SciwmError, match="exceed n_expected=2"):
        w.append({"u": values((3, 3, 4))})
    w.append({"u": values((1, 3, 4))})
    with pytest.raises(SciwmError, match="1 of 2 samples written"):
        w.finish()
    w.close()


def test_create_requires_contract_attributes(tmp_path):
    with pytest.raises(SciwmError, match="missing attributes .*'pde'"):
        TrajectoryWriter.create(tmp_path / "a.h5", fields=["u"], time=np.arange(3.0), x=np.arange(4.0),
                                attrs={}, n_expected=1)


def test_a_writer_killed_after_an_append_leaves_a_file_that_resumes(tmp_path):
    """SIGKILL (or the out-of-memory killer) gives no chance to close the file: every append must reach the
    disk on its own, so that the committed samples survive and the file reopens for appending."""
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "killed.h5"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
        import numpy as np
        from data_factories import ATTRS, values
        from sciwm.data.format import TrajectoryWriter
        w = TrajectoryWriter.create({str(path)!r}, fields=["u"], time=np.arange(4.0), x=np.arange(8.0), params=[],
                                    attrs=ATTRS, n_expected=6)
        for s in range(0, 4, 2):
            w.append({{"u": values((2, 4, 8), seed=s)}}, seeds=np.arange(s, s + 2))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr.decode()
    w = TrajectoryWriter.resume(path)
    assert w.n_written == 4
    w.append({"u": values((2, 4, 8), seed=4)}, seeds=np.arange(4, 6))
    w.finish()
    with h5py.File(path, "r") as f:
        for s in (0, 2, 4):
            np.testing.assert_array_equal(f["u"][s:s + 2], values((2, 4, 8), seed=s))
