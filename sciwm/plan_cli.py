"""`sciwm plan TASKS.toml --planner cem,cem-solver,zero [--model RUN] [--coarse-model RUN] --out DIR`: plan
toward goal states, execute every plan in the true solver, write plan.md, results.json and figures
(docs/control.md)."""

from __future__ import annotations

import argparse
import sys


def _plan(args: argparse.Namespace) -> None:
    import torch

    from sciwm.control.report import reference, run_suite, speedup

    if args.threads:
        torch.set_num_threads(args.threads)

    def log(msg: str) -> None:
        print(f"plan: {msg}", file=sys.stderr, flush=True)

    planners = [p for p in args.planner.split(",") if p.strip()]
    result = run_suite(args.tasks, planners, out=args.out, model=args.model, budget=args.budget,
                       replan_every=args.replan_every, device=args.device, log=None if args.quiet else log,
                       coarse_model=args.coarse_model, resume=args.resume)
    ref = reference(result)
    for p in result["planners"]:
        s = p["summary"]
        vs = f", speed-up {speedup(result, p['name']):.3g}x vs {ref}" if ref and p["name"] not in (ref, "zero") \
            else ""
        print(f"{p['name']:>14}: success {s['success_rate']:.0%}, distance {s['distance_mean']:.3g}, "
              f"effort {s['effort_mean']:.3g}, {s['plan_seconds_mean']:.2f} s planning per episode{vs}")
    print(f"{args.out}/plan.md")


def add_plan_parser(sub: argparse._SubParsersAction) -> None:
    """Register `plan` on the sciwm subparsers."""
    p = sub.add_parser("plan", help="plan actions toward goal states (world model or solver in the loop), "
                                    "scored in the true solver",
                       description="Run planners on every case of a task suite, execute each plan in the true "
                                   "solver and report success, distance to goal, effort and planning time. "
                                   "Suites: benchmarks/tasks/*.toml; docs/control.md.")
    p.add_argument("tasks", metavar="TASKS.toml", help="task suite, e.g. benchmarks/tasks/burgers1d-reach.toml")
    p.add_argument("--planner", default="cem", help="comma-separated: cem, mppi, grad, random (in the model's "
                   "latent space), cem-solver, mppi-solver, grad-solver, random-solver (true solver in the "
                   "loop), cem-solver@32[:dt] (the solver on a 32-point grid in the loop), "
                   "cem-multiscale, ... (coarse model over the horizon, model refines), zero; a planner's own budget "
                   "after /, e.g. grad/16 (default: cem)")
    p.add_argument("--model", metavar="RUN", help="trained world model run (latent_fno, jepa, or a field "
                   "model: fno, tfno, unet, closure); needed by the latent and multiscale planners")
    p.add_argument("--coarse-model", metavar="RUN", help="world model run trained with [data] time_stride = s > 1: "
                   "the coarse level of the *-multiscale planners")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for plan.md, results.json, figures")
    p.add_argument("--budget", type=int, default=512,
                   help="action sequences rolled out per plan, for planners without their own /B (default 512)")
    p.add_argument("--replan-every", type=int, default=0, metavar="R",
                   help="receding-horizon MPC: execute R actions, observe, re-plan (default 0: open loop)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out (the episodes it "
                   "finished are kept in DIR/episodes.partial/ until the results are written)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice); 1 is "
                   "often ~10x faster for these small batches on a busy machine")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_plan)
