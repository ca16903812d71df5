"""Trajectory data: the sciwm file format, readers of other formats, conversion, and training windows.

    ds = sciwm.data.open("train.h5")            # lazy xarray.Dataset (sample, time, [y,] x)
    sciwm.data.convert("1D_Burgers_Sols_Nu0.001.hdf5", "burgers.h5")
    print(sciwm.data.info("burgers.h5"))
    windows = sciwm.data.Windows("train.h5", history=4, future=1)
"""

from sciwm.data.conversion import convert, info
from sciwm.data.format import FORMAT_VERSION, TrajectoryWriter
from sciwm.data.reading import open
from sciwm.data.stats import FieldStats, compute_stats
from sciwm.data.windows import WindowBatch, Windows, split_samples

__all__ = [
    "FORMAT_VERSION", "FieldStats", "TrajectoryWriter", "WindowBatch", "Windows", "compute_stats", "convert",
    "info", "open", "split_samples",
]
