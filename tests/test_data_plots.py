"""plot_trajectory: a space-time diagram for 1D, snapshots for 2D, labelled axes and colorbars."""

from data_factories import make_sciwm

import sciwm.data
from sciwm.plots import plot_trajectory


def test_1d_space_time_diagram(tmp_path):
    make_sciwm(tmp_path / "a.h5", n=2, nt=6, nx=8)
    fig = plot_trajectory(sciwm.data.open(tmp_path / "a.h5"), sample=1)
    main, bar = fig.axes
    assert main.get_xlabel() == "x (dimensionless)" and main.get_ylabel() == "t (dimensionless)"
    assert bar.get_ylabel() == "u"
    assert main.collections[0].get_array().shape == (6, 8)  # the whole (t, x) field


def test_2d_snapshots_per_field(tmp_path):
    make_sciwm(tmp_path / "b.h5", n=1, nt=5, nx=8, ny=4, fields=("u", "v"))
    fig = plot_trajectory(sciwm.data.open(tmp_path / "b.h5"), n_snapshots=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["u, t = 0", "u, t = 1", "u, t = 2", "v, t = 0", "v, t = 1", "v, t = 2"]
    assert len(fig.axes) == 6 + 2  # one colorbar per field
