"""The one training loop, for every model and objective.

    train(RunConfig.load("ks1d.toml"), "runs/ks1d", device="cpu")

AdamW with linear warm-up and cosine decay, gradient clipping, bf16 autocast on CUDA, a progress bar,
`metrics.csv`, periodic validation (one-step loss and a rollout's correlation time), atomic checkpoints
every `checkpoint_minutes` and at the end. `resume=True` restores model, optimiser, RNG and the position
in the data order, so a resumed run on CPU reproduces the losses of an uninterrupted one.
Under `torchrun` it trains with DistributedDataParallel (gloo on CPU, NCCL on CUDA): the global batch
is split over ranks, so results match single-process training up to float rounding.
"""

from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from tqdm import tqdm

from sciwm.checkpoint import load_checkpoint, save_checkpoint, stats_to_dict, tensor_state
from sciwm.data.windows import Windows
from sciwm.errors import SciwmError
from sciwm.models import DataSpec, build_model, count_parameters
from sciwm.objectives import objective_for
from sciwm.runconfig import RunConfig
from sciwm.validation import validate

CSV_FIELDS = ["step", "epoch", "time_s", "lr", "loss", "grad_norm", "unroll", "recon", "latent",
              "field", "sigreg", "emb_std", "emb_rank", "val_loss", "val_corr_time", "val_nrmse"]


def learning_rate(cfg, step: int) -> float:  # noqa: ANN001 - TrainConfig
    """Linear warm-up over `warmup` steps, then cosine decay to 0 at `steps`."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
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


def _param_stats(windows: Windows) -> dict:
    values = torch.from_numpy(windows.param_values[windows.samples]).double()
    if values.shape[1] == 0:
        return {"names": [], "mean": [], "std": []}
    std = values.std(0, unbiased=False) if len(values) > 1 else torch.ones(values.shape[1])
    std = torch.where(std > 0, std, torch.ones_like(std))
    return {"names": list(windows.params), "mean": values.mean(0).tolist(), "std": std.tolist()}


def train(cfg: RunConfig, out: str | Path, *, resume: bool = False, device: str = "cpu",
          progress: bool = True) -> Path:
    """Train `cfg` into run directory `out`; returns the checkpoint path."""
    tc = cfg.train
    rank, world, dev = _distributed(device)
    if tc.batch_size % world:
        raise SciwmError(f"train.batch_size={tc.batch_size} must be divisible by the {world} processes")
    out = Path(out)
    ckpt_path = out / "checkpoint.pt"
    state = None
    if resume:
        state = load_checkpoint(ckpt_path)
        cfg = RunConfig.from_dict(state["config"])  # the run's own config, not a new one
        tc = cfg.train
    elif ckpt_path.exists():
        raise SciwmError(f"{out}: holds a run already; pass --resume to continue it, or choose another --out")
    if not cfg.data.train:
        raise SciwmError("config [data] train: the training file is missing")
    windows = Windows(cfg.data.train, history=cfg.data.history, future=tc.unroll, stride=cfg.data.stride)
    pstats = _param_stats(windows)
    spec = DataSpec(channels=len(windows.fields), grid=tuple(windows.grid), history=cfg.data.history,
                    n_params=len(windows.params), n_action=windows.action_size)
    torch.manual_seed(tc.seed)
    model = build_model(cfg.model, spec).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    gen = torch.Generator().manual_seed(tc.seed + 1)
    step, epoch, skip = 0, 0, 0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["rng"])
        step, epoch, skip = int(state["step"]), int(state["epoch"]), int(state["batch_in_epoch"])
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    objective = objective_for(model)
    val = Windows(cfg.data.val, history=cfg.data.history, future=1, stats=windows.stats) if cfg.data.val else None
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.toml").write_text(cfg.to_toml())
        _trim_csv(out / "metrics.csv", step)
        print(f"model {cfg.model.name}: {count_parameters(model):,} parameters; {len(windows):,} training windows; "
              f"{world} process(es) on {dev}")

    def checkpoint() -> None:
        if rank == 0:
            save_checkpoint(ckpt_path, {
                "config": cfg.to_dict(), "data_spec": {**spec.__dict__, "grid": list(spec.grid)},
                "stats": stats_to_dict(windows.stats), "param_stats": pstats, "model": tensor_state(model),
                "optimizer": opt.state_dict(), "step": step, "epoch": epoch, "batch_in_epoch": skip,
                "rng": gen.get_state()})

    pmean, pstd = torch.tensor(pstats["mean"]), torch.tensor(pstats["std"])
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda")
    bar = tqdm(total=tc.steps, initial=step, disable=not progress or rank != 0, desc="train", unit="step")
    t_start = last_ckpt = time.perf_counter()
    try:
        while step < tc.steps:
            order = _batches(len(windows), tc.batch_size, tc.seed, epoch, rank, world, skip)
            if not order and skip == 0:
                raise SciwmError(f"train.batch_size={tc.batch_size} exceeds the {len(windows)} training windows")
            loader = DataLoader(windows, batch_sampler=order, num_workers=tc.num_workers,
                                persistent_workers=False)
            for batch in loader:
                if step >= tc.steps:
                    break
                batch = _to_device(batch, dev, pmean, pstd)
                lr = learning_rate(tc, step)
                for group in opt.param_groups:
                    group["lr"] = lr
                ddp.train()
                with amp:
                    loss, logs = objective(ddp, batch, tc, step, gen)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(ddp.parameters(), tc.grad_clip).item()
                if not math.isfinite(loss.item()):
                    raise SciwmError(f"training diverged at step {step} (loss {loss.item()}); lower train.lr "
                                     f"(now {tc.lr:g}) or raise train.grad_clip's strictness")
                opt.step()
                if hasattr(model, "update_target"):
                    model.update_target()  # JEPA with target = "ema": move the target encoder
                step, skip = step + 1, skip + 1
                row = {"step": step, "epoch": epoch, "time_s": time.perf_counter() - t_start, "lr": lr,
                       "loss": _global_mean(loss, world), "grad_norm": grad_norm, **logs}
                if val is not None and (step % tc.val_every == 0 or step == tc.steps):
                    row.update(validate(model, val, tc, dev, pmean, pstd))
                if rank == 0 and (step % tc.log_every == 0 or "val_loss" in row or step == tc.steps):
                    _append_csv(out / "metrics.csv", row)
                bar.set_postfix(loss=f"{loss.item():.3g}", refresh=False)
                bar.update()
                minutes = (time.perf_counter() - last_ckpt) / 60
                if minutes >= tc.checkpoint_minutes:
                    checkpoint()
                    last_ckpt = time.perf_counter()
                if tc.max_minutes and (time.perf_counter() - t_start) / 60 >= tc.max_minutes:
                    tc = _stop_now(cfg, step)
            else:
                epoch, skip = epoch + 1, 0
                continue
            break
    except KeyboardInterrupt:
        checkpoint()  # an interrupted run keeps its last completed step; --resume continues from it
        raise
    bar.close()
    checkpoint()
    if world > 1:
        dist.barrier()
    return ckpt_path


def _global_mean(loss: torch.Tensor, world: int) -> float:
    """The loss over the whole global batch (each rank holds the mean of an equal share)."""
    value = loss.detach().clone()
    if world > 1:
        dist.all_reduce(value)
        value /= world
    return value.item()


def _stop_now(cfg: RunConfig, step: int):  # noqa: ANN202
    """The time budget is spent: end here (the schedule is not stretched after the fact)."""
    import dataclasses

    return dataclasses.replace(cfg.train, steps=step)


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


