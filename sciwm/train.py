"""The one training loop, for every model and objective.

    train(RunConfig.load("ks1d.toml"), "runs/ks1d", device="cpu")

AdamW with linear warm-up and cosine decay, gradient clipping, bf16 autocast on CUDA, a progress bar,
`metrics.csv`, periodic validation (one-step loss and a rollout's correlation time), atomic checkpoints
every `checkpoint_minutes`, at the end, and after the step in flight when interrupted (SIGINT,
SIGTERM). `resume=True` restores model, optimiser, RNG and the position in the data order, so a
resumed run on CPU reproduces the losses of an uninterrupted one.
Under `torchrun` it trains with DistributedDataParallel (gloo on CPU, NCCL on CUDA): the global batch
is split over ranks, so results match single-process training up to float rounding.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from tqdm import tqdm

from sciwm.checkpoint import load_checkpoint, save_checkpoint, stats_to_dict, tensor_state
from sciwm.data.windows import Windows
from sciwm.errors import SciwmError
from sciwm.interrupt import DeferredInterrupt
from sciwm.models import DataSpec, build_model, count_parameters
from sciwm.objectives import objective_for
from sciwm.runconfig import RunConfig
from sciwm.validation import validate

CSV_FIELDS = ["step", "epoch", "time_s", "lr", "loss", "grad_norm", "unroll", "recon", "latent",
              "field", "sigreg", "emb_std", "emb_rank", "val_loss", "val_corr_time", "val_nrmse"]


def learning_rate(cfg, step: int, elapsed_s: float = 0.0) -> float:  # noqa: ANN001 - TrainConfig
    """Linear warm-up over `warmup` steps, then cosine decay to 0 at `steps`, or at the end of the time
    budget `max_minutes` if that comes first: progress = max(step fraction, elapsed-time fraction), so a
    run stopped by its budget ends annealed, not at full learning rate."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    if cfg.max_minutes:
        progress = max(progress, elapsed_s / (60 * cfg.max_minutes))
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _distributed(device: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = torch.device(device)
    if world == 1:
        return 0, 1, dev
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    rank = dist.get_rank()
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    return rank, world, dev


def _batches(n: int, batch: int, seed: int, epoch: int, rank: int, world: int, skip: int) -> list[list[int]]:
    """This rank's share of every global batch of the epoch's permutation, from batch `skip` on."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()
    per_rank = batch // world
    out = []
    for b in range(skip, n // batch):
        start = b * batch + rank * per_rank
        out.append(perm[start : start + per_rank])
    return out


def _physics(windows: Windows, time_stride: int) -> str:
    """The data's physics description (`Windows.physics`) with the training time stride and the field
    normalisation added: all a model with a solver inside needs to step normalised frames."""
    if not windows.physics:
        return ""
    st = windows.stats
    return json.dumps({**json.loads(windows.physics), "time_stride": time_stride, "mean": list(st.mean),
                       "std": list(st.std)})


def _param_stats(windows: Windows) -> dict:
    values = torch.from_numpy(windows.param_values[windows.samples]).double()
    if values.shape[1] == 0:
        return {"names": [], "mean": [], "std": []}
    std = values.std(0, unbiased=False) if len(values) > 1 else torch.ones(values.shape[1])
    std = torch.where(std > 0, std, torch.ones_like(std))
    return {"names": list(windows.params), "mean": values.mean(0).tolist(), "std": std.tolist()}


@dataclass
class Session:
    """Everything one training run holds; `position` is what a checkpoint needs to resume exactly."""

    cfg: RunConfig
    out: Path
    rank: int
    world: int
    device: torch.device
    windows: Windows
    val: Windows | None
    spec: DataSpec
    param_stats: dict
    model: torch.nn.Module
    ddp: torch.nn.Module
    opt: torch.optim.Optimizer
    gen: torch.Generator
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    elapsed_s: float = 0.0  # training wall time so far, over every resume (the time budget counts it)

    def checkpoint(self) -> None:
        if self.rank == 0:
            save_checkpoint(self.out / "checkpoint.pt", {
                "config": self.cfg.to_dict(), "data_spec": {**self.spec.__dict__, "grid": list(self.spec.grid)},
                "stats": stats_to_dict(self.windows.stats), "param_stats": self.param_stats,
                "model": tensor_state(self.model), "optimizer": self.opt.state_dict(), "step": self.step,
                "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "rng": self.gen.get_state(),
                "elapsed_s": self.elapsed_s})


def start_session(cfg: RunConfig, out: Path, resume: bool, device: str) -> Session:
    """Build (or restore) model, optimiser, data and RNG; refuse to overwrite a run."""
    rank, world, dev = _distributed(device)
    state = None
    if resume:
        state = load_checkpoint(out / "checkpoint.pt")
        cfg = RunConfig.from_dict(state["config"])  # the run's own config, not a new one
    elif (out / "checkpoint.pt").exists():
        raise SciwmError(f"{out}: holds a run already; pass --resume to continue it, or choose another --out")
    tc = cfg.train
    if tc.batch_size % world:
        raise SciwmError(f"train.batch_size={tc.batch_size} must be divisible by the {world} processes")
    if not cfg.data.train:
        raise SciwmError("config [data] train: the training file is missing")
    dc = cfg.data
    windows = Windows(dc.train, history=dc.history, future=tc.unroll, stride=dc.stride, params=dc.params,
                      time_stride=dc.time_stride, actions=dc.actions)
    val = Windows(dc.val, history=dc.history, future=1, stats=windows.stats, params=windows.params,
                  time_stride=dc.time_stride, actions=dc.actions) if dc.val else None
    spec = DataSpec(channels=len(windows.fields), grid=tuple(windows.grid), history=cfg.data.history,
                    n_params=len(windows.params), n_action=windows.action_size,
                    forcing=windows.forcing if state is None else state["data_spec"].get("forcing", ""),
                    physics=_physics(windows, dc.time_stride) if state is None
                    else state["data_spec"].get("physics", ""))
    torch.manual_seed(tc.seed)
    model = build_model(cfg.model, spec).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    gen = torch.Generator().manual_seed(tc.seed + 1)
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    s = Session(cfg, out, rank, world, dev, windows, val, spec, _param_stats(windows), model, ddp, opt, gen)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["rng"])
        s.step, s.epoch, s.batch_in_epoch = int(state["step"]), int(state["epoch"]), int(state["batch_in_epoch"])
        s.elapsed_s = float(state.get("elapsed_s", 0.0))
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.toml").write_text(cfg.to_toml())
        _trim_csv(out / "metrics.csv", s.step)
        print(f"model {cfg.model.name}: {count_parameters(model):,} parameters; {len(windows):,} training windows; "
              f"{world} process(es) on {dev}")
    return s


def epoch_batches(s: Session):  # noqa: ANN201 - yields collated WindowBatch
    """The batches of the current epoch from the current position, forever across epochs."""
    tc = s.cfg.train
    while True:
        order = _batches(len(s.windows), tc.batch_size, tc.seed, s.epoch, s.rank, s.world, s.batch_in_epoch)
        if not order and s.batch_in_epoch == 0:
            raise SciwmError(f"train.batch_size={tc.batch_size} exceeds the {len(s.windows)} training windows")
        yield from DataLoader(s.windows, batch_sampler=order, num_workers=tc.num_workers,
                              collate_fn=Windows.collate)
        s.epoch, s.batch_in_epoch = s.epoch + 1, 0


def clip_gradients(params: list[torch.nn.Parameter], max_norm: float) -> float:
    """Scale the gradients to a global L2 norm of at most `max_norm`; return the norm before clipping.

    As `torch.nn.utils.clip_grad_norm_`, but complex gradients (the FNO's spectral weights) are measured
    through their real view, the same number: on CPU the norm of a complex tensor is ~30x slower than that
    of its (re, im) pairs, and clipping took ~10 ms of a ~150 ms step of the plain 1D FNO."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norms = [torch.linalg.vector_norm(torch.view_as_real(g) if g.is_complex() else g) for g in grads]
    total = torch.linalg.vector_norm(torch.stack(norms))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)  # as torch: no clipping below max_norm
    for g in grads:
        g.mul_(scale)
    return total.item()


def train_step(s: Session, batch, objective, lr: float) -> dict:  # noqa: ANN001
    """One optimiser step; returns the row for metrics.csv."""
    tc = s.cfg.train
    for group in s.opt.param_groups:
        group["lr"] = lr
    s.ddp.train()
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=s.device.type == "cuda"):
        loss, logs = objective(s.ddp, batch, tc, s.step, s.gen)
    s.opt.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = clip_gradients(list(s.ddp.parameters()), tc.grad_clip)
    if not math.isfinite(loss.item()):
        raise SciwmError(f"training diverged at step {s.step} (loss {loss.item()}); lower train.lr "
                         f"(now {tc.lr:g}) or train.grad_clip (now {tc.grad_clip:g})")
    s.opt.step()
    if hasattr(s.model, "update_target"):
        s.model.update_target()  # JEPA with target = "ema": move the target encoder
    s.step, s.batch_in_epoch = s.step + 1, s.batch_in_epoch + 1
    return {"step": s.step, "epoch": s.epoch, "lr": lr, "loss": _global_mean(loss, s.world),
            "grad_norm": grad_norm, **logs}


def train(cfg: RunConfig, out: str | Path, *, resume: bool = False, device: str = "cpu",
          progress: bool = True) -> Path:
    """Train `cfg` into run directory `out`; returns the checkpoint path."""
    s = start_session(cfg, Path(out), resume, device)
    tc = s.cfg.train
    objective = objective_for(s.model)
    pmean, pstd = torch.tensor(s.param_stats["mean"]), torch.tensor(s.param_stats["std"])
    bar = tqdm(total=tc.steps, initial=s.step, disable=not progress or s.rank != 0, desc="train", unit="step")
    t_start = last_ckpt = time.perf_counter()
    before = s.elapsed_s
    row, logged, interrupted = None, False, False
    # Ctrl-C / SIGTERM end the step in flight (validation and its metrics.csv row included) before the run
    # stops: a checkpoint taken mid-step would pair the old step count with a half-used RNG or half-updated
    # weights, and --resume would no longer reproduce the uninterrupted run. A second signal stops at once.
    with DeferredInterrupt() as stop:
        for batch in epoch_batches(s):
            s.elapsed_s = _elapsed(before + time.perf_counter() - t_start, s.world, tc.max_minutes)
            if s.step >= tc.steps or (tc.max_minutes and s.elapsed_s >= 60 * tc.max_minutes):
                break  # the budget is spent (wall time over all resumes); the schedule has annealed to 0
            lr = learning_rate(tc, s.step, s.elapsed_s)
            row = train_step(s, _to_device(batch, s.device, pmean, pstd), objective, lr)
            row["time_s"] = time.perf_counter() - t_start
            if s.val is not None and (s.step % tc.val_every == 0 or s.step == tc.steps):
                row.update(validate(s.model, s.val, tc, s.device, pmean, pstd))
            logged = s.rank == 0 and (s.step % tc.log_every == 0 or "val_loss" in row or s.step == tc.steps)
            if logged:
                _append_csv(s.out / "metrics.csv", row)
            bar.set_postfix(loss=f"{row['loss']:.3g}", refresh=False)
            bar.update()
            if _any_rank(stop.requested, s.world):
                interrupted = True
                break
            if time.perf_counter() - last_ckpt >= 60 * tc.checkpoint_minutes:
                s.checkpoint()
                last_ckpt = time.perf_counter()
        bar.close()
        if s.rank == 0 and row is not None and not logged and not interrupted:  # a spent budget: log the last step
            _append_csv(s.out / "metrics.csv", row)
        s.checkpoint()
        if s.world > 1:
            dist.barrier()
    if interrupted:
        raise KeyboardInterrupt  # the last completed step is checkpointed; --resume continues from it
    return s.out / "checkpoint.pt"


def _collective_device() -> str:
    """Where a tensor for a collective lives: CUDA under NCCL, else the CPU (gloo)."""
    return "cuda" if dist.get_backend() == "nccl" else "cpu"


def _any_rank(flag: bool, world: int) -> bool:
    """`flag` on any rank (every rank must stop at the same step)."""
    if world == 1:
        return flag
    t = torch.tensor([float(flag)], device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def _elapsed(seconds: float, world: int, budget_minutes: float) -> float:
    """Training wall time; with a time budget under DDP, rank 0's clock for every rank, so that all ranks
    use the same learning rate and stop at the same step."""
    if world > 1 and budget_minutes:
        t = torch.tensor([seconds], dtype=torch.float64, device=_collective_device())
        dist.broadcast(t, 0)
        seconds = float(t)
    return seconds


def _global_mean(loss: torch.Tensor, world: int) -> float:
    """The loss over the whole global batch (each rank holds the mean of an equal share)."""
    value = loss.detach().clone()
    if world > 1:
        dist.all_reduce(value)
        value /= world
    return value.item()


def _to_device(batch, dev: torch.device, pmean: torch.Tensor, pstd: torch.Tensor):  # noqa: ANN001, ANN202
    params = (batch.params.double() - pmean) / pstd if batch.params.shape[-1] else batch.params
    return batch._replace(history=batch.history.to(dev), future=batch.future.to(dev),
                          params=params.float().to(dev), action=batch.action.to(dev))


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow({k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in row.items()})


def _trim_csv(path: Path, step: int) -> None:
    """On resume, drop rows logged after the checkpoint, so metrics.csv reads as one run."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


