"""Windows: history/future windows equal the raw slices; normalisation inverts; workers agree."""

import json

import h5py
import numpy as np
import pytest
import torch
from data_factories import make_sciwm
from torch.utils.data import DataLoader, default_collate

from sciwm.data import FieldStats, WindowBatch, Windows, split_samples
from sciwm.data.windows import stats_path
from sciwm.errors import SciwmError


@pytest.fixture
def file_2d(tmp_path):
    path = tmp_path / "train.h5"
    return path, make_sciwm(path, n=5, nt=7, nx=8, ny=4, fields=("u", "v"), action=True)


def test_window_contents_equal_raw_slices(file_2d):
    path, data = file_2d
    w = Windows(path, history=2, future=3, stride=2, normalize=False)
    assert len(w) == 5 * 2  # starts 0, 2 (7 frames, windows of 5)
    item = w[3]  # sample 1, start 2
    assert isinstance(item, WindowBatch) and int(item.sample) == 1 and int(item.start) == 2
    raw = np.stack([data["u"][1, 2:7], data["v"][1, 2:7]], axis=1)  # (5, C=2, y, x)
    assert item.history.shape == (2, 2, 4, 8) and item.future.shape == (3, 2, 4, 8)
    np.testing.assert_array_equal(item.history.numpy(), raw[:2])
    np.testing.assert_array_equal(item.future.numpy(), raw[2:])
    np.testing.assert_array_equal(item.action.numpy(), data["action"][1, 2:7])
    np.testing.assert_allclose(item.params.numpy(), [data["nu"][1]], rtol=1e-7)
    assert w.params == ["nu"] and w.fields == ["u", "v"]


def test_field_subset_and_order(file_2d):
    path, data = file_2d
    item = Windows(path, history=1, future=1, fields=["v"], normalize=False)[0]
    np.testing.assert_array_equal(item.history[0, 0].numpy(), data["v"][0, 0])


def test_normalisation_round_trip_and_cached_stats(file_2d):
    path, data = file_2d
    w = Windows(path, history=3, future=1)
    u = data["u"].astype(np.float64)
    assert w.stats.mean[0] == pytest.approx(u.mean(), rel=1e-9)
    assert w.stats.std[0] == pytest.approx(u.std(), rel=1e-9)
    item = w[4]
    normalized = item.history[:, 0].numpy()
    assert abs(normalized.mean()) < 1.5 and 0.2 < normalized.std() < 3
    back = w.stats.denormalize(torch.cat([item.history, item.future]))
    np.testing.assert_allclose(back.numpy()[:, 0], data["u"][1, 0:4], atol=1e-5)
    saved = json.loads(stats_path(path, None).read_text())
    assert saved["fields"]["v"]["std"] == pytest.approx(data["v"].astype(np.float64).std(), rel=1e-9)
    assert FieldStats.from_json(stats_path(path, None)) == w.stats
    # stats passed in (e.g. the train file's for a val file) are used as given
    given = FieldStats(("u", "v"), (1.0, 2.0), (2.0, 4.0), 2)
    item = Windows(path, history=1, future=1, stats=given)[0]
    np.testing.assert_allclose(item.history[0, 1].numpy(), (data["v"][0, 0] - 2.0) / 4.0, rtol=1e-6)


def test_split_by_sample_is_fixed_disjoint_and_complete(tmp_path):
    parts = [split_samples(20, s) for s in ("train", "val", "test")]
    assert [len(p) for p in parts] == [16, 2, 2]
    assert sorted(np.concatenate(parts).tolist()) == list(range(20))
    np.testing.assert_array_equal(parts[1], split_samples(20, "val"))  # same every time
    path = tmp_path / "one.h5"
    make_sciwm(path, n=10, nt=3)
    val = Windows(path, history=1, future=1, split="val")
    assert {int(val[i].sample) for i in range(len(val))} == set(split_samples(10, "val").tolist())
    assert stats_path(path, "val").name == "one.h5.train-split.stats.json"
    assert stats_path(path, "val").exists()


def test_dataloader_two_workers_equals_zero(file_2d):
    path, _ = file_2d
    w = Windows(path, history=2, future=2)
    one = list(DataLoader(w, batch_size=3, num_workers=0))
    two = list(DataLoader(w, batch_size=3, num_workers=2))
    assert len(one) == len(two)
    for a, b in zip(one, two, strict=True):
        assert isinstance(a, WindowBatch) and a.history.shape[1:] == (2, 2, 4, 8) and a.params.shape[1] == 1
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0)


def _assert_bitwise_equal(a: WindowBatch, b: WindowBatch) -> None:
    for name, x, y in zip(WindowBatch._fields, a, b, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape and y.is_contiguous(), name
        bits = {torch.float32: torch.int32, torch.int64: torch.int64}[x.dtype]
        assert torch.equal(x.view(bits), y.view(bits)), name


@pytest.mark.parametrize("in_memory", [False, True])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("layout", ["2d-params-actions", "1d-no-actions"])
def test_batched_reads_equal_items_bit_for_bit(tmp_path, monkeypatch, normalize, layout, in_memory):
    """__getitems__ (what the DataLoader calls) == default_collate of __getitem__ items, bit for bit: random,
    overlapping (merged into one read), repeated and single-window batches; from HDF5 and from memory."""
    import sciwm.data.windows as windows

    monkeypatch.setattr(windows, "IN_MEMORY_BYTES", 2**40 if in_memory else 0)
    path = tmp_path / "w.h5"
    if layout == "2d-params-actions":
        make_sciwm(path, n=5, nt=9, nx=8, ny=4, fields=("u", "v"), action=True)
    else:
        make_sciwm(path, n=4, nt=12, nx=16)
    w = Windows(path, history=3, future=2, stride=1, normalize=normalize)
    assert w.in_memory == in_memory
    n_starts = len(w.starts)
    batches = [np.random.default_rng(0).permutation(len(w))[:11].tolist(),  # random
               list(range(n_starts + 1)),  # a whole sample, overlapping windows, then the next sample
               [7, 2, 7, 3, 2], [len(w) - 1]]
    for idx in batches:
        expected = default_collate([w[i] for i in idx])
        got = w.__getitems__(idx)
        _assert_bitwise_equal(expected, Windows.collate(got))
        _assert_bitwise_equal(expected, default_collate(got))  # without Windows.collate: same batch
    with pytest.raises(IndexError):
        w.__getitems__([0, len(w)])


def test_in_memory_windows_equal_hdf5_windows_and_close_the_file(file_2d, monkeypatch):
    import sciwm.data.windows as windows

    path, _ = file_2d
    monkeypatch.setattr(windows, "IN_MEMORY_BYTES", 0)
    from_file = Windows(path, history=2, future=2, time_stride=2)
    monkeypatch.setattr(windows, "IN_MEMORY_BYTES", 2**40)
    in_memory = Windows(path, history=2, future=2, time_stride=2)
    assert in_memory.in_memory and not from_file.in_memory
    idx = [4, 0, 3, 1, 4]
    _assert_bitwise_equal(Windows.collate(from_file.__getitems__(idx)), Windows.collate(in_memory.__getitems__(idx)))
    _assert_bitwise_equal(default_collate([from_file[2]]), default_collate([in_memory[2]]))
    assert in_memory._file is None and all(isinstance(v, np.ndarray) for v in in_memory._vars.values())


def test_dataloader_batched_collate_with_workers(file_2d):
    """The trainer's way (batch_sampler) with Windows.collate, 2 workers == per-item default path."""
    path, _ = file_2d
    w = Windows(path, history=2, future=1)
    order = [[9, 0, 4], [1, 2, 3], [14, 5]]
    for a, b in zip(DataLoader(w, batch_sampler=order, num_workers=2, collate_fn=Windows.collate),
                    [default_collate([w[i] for i in batch]) for batch in order], strict=True):
        assert isinstance(a, WindowBatch)
        _assert_bitwise_equal(b, a)


def test_nan_refused_in_stats_pass(tmp_path):
    path = tmp_path / "bad.h5"
    make_sciwm(path, n=3, nt=5)
    with h5py.File(path, "r+") as f:
        f["u"][2, 3, 1] = np.nan
    with pytest.raises(SciwmError, match=r"bad.h5: field 'u' has NaN/inf at sample 2, frame 3"):
        Windows(path, history=1, future=1)


def test_incomplete_and_foreign_files_refused(tmp_path):
    make_sciwm(tmp_path / "part.h5", n=3, complete=False)
    with pytest.raises(SciwmError, match="incomplete file"):
        Windows(tmp_path / "part.h5")
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["tensor"] = np.zeros((1, 2, 3))
    with pytest.raises(SciwmError, match="sciwm convert"):
        Windows(tmp_path / "x.h5")
    make_sciwm(tmp_path / "ok.h5", n=2, nt=3)
    with pytest.raises(SciwmError, match="window of 4 frames exceeds trajectories of 3"):
        Windows(tmp_path / "ok.h5", history=2, future=2)
