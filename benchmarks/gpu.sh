#!/usr/bin/env bash
# The GPU checks in one call (a lent device machine: torch with CUDA, h5py, xarray, scipy, matplotlib,
# jax; neuraloperator, tensorly, tltorch, opt_einsum, h5netcdf and exponax travel in .gpu/site, made by
# `benchmarks/gpu_site.sh` here). Each part is time-boxed and logs to $OUT; a failing part does not stop
# the next.
#   MINUTES=1 bash benchmarks/gpu.sh
set -u
OUT=${OUT:-/tmp/gpu-out}
MINUTES=${MINUTES:-1}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu SAMPLES=8 MINUTES=0.1: a dry run of the script itself
SAMPLES=${SAMPLES:-256}
WM_MINUTES=${WM_MINUTES:-1}  # training of the issue-7 world model and the issue-5 JEPA
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD:$PWD/.gpu/site XLA_PYTHON_CLIENT_PREALLOCATE=false
PY=${PY:-$(command -v python3)}
THREADS=${THREADS:-8}
SCALE=${SCALE:-64}  # solver batches: 64 x (64 KS, 16 NS)
W=/tmp/sciwm-gpu
rm -rf "$W"; mkdir -p "$OUT" "$W"
T=$($PY -c "print(int(150 * $MINUTES + 90))")  # one accuracy part: two trainings and the rollouts
NB=$((SAMPLES / 8 < 32 ? SAMPLES / 8 : 32))  # test trajectories in the bench
part() { echo "== $1 ($(date +%T))"; }

part "device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
$PY -c "import torch, neuralop; print('torch', torch.__version__, torch.cuda.get_device_name(0))" | tee -a "$OUT/device.txt"

part "CUDA tests"
timeout 150 $PY -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tail -15 | tee "$OUT/tests.txt"

part "solvers vs exponax, both on the GPU"
timeout 150 $PY benchmarks/solvers.py --device $DEVICE --batch-scale $SCALE --repeats 5 --peer-python "$PY" 2>&1 \
    | tail -6 | tee "$OUT/solvers.txt"

part "ks1d: generate on the GPU, default vs plain baseline, $MINUTES min each"
timeout 90 $PY -m sciwm generate datasets/ks1d.toml --out $W/ks1d --samples $SAMPLES --device $DEVICE --batch 320 2>&1 | tail -2
timeout $T $PY benchmarks/surrogates.py --data $W/ks1d --minutes "$MINUTES" --only accuracy \
    --device $DEVICE --threads $THREADS 2>&1 | tail -8 | tee "$OUT/ks1d.txt"

part "ns2d-kolmogorov: generate, default vs plain baseline, $MINUTES min each, then the solver ladder"
timeout 90 $PY -m sciwm generate datasets/ns2d-kolmogorov.toml --out $W/ns2d --samples $SAMPLES --device $DEVICE --batch 320 2>&1 | tail -2
timeout $T $PY benchmarks/surrogates.py --data $W/ns2d --minutes "$MINUTES" --only accuracy \
    --config sciwm/configs/ns2d-kolmogorov.toml --device $DEVICE --threads $THREADS --work $W/ns2d-runs 2>&1 \
    | tail -8 | tee "$OUT/ns2d.txt"
sed -e "s#^data = .*#data = \"$W/ns2d/test.h5\"#" -e "s#^runs = .*#runs = [\"$W/ns2d-runs/sciwm_default\"]#" \
    -e "s#^device = .*#device = \"$DEVICE\"#" -e "s#^batch = .*#batch = $NB#" -e "s#^samples = .*#samples = $NB#" \
    -e "s#^threads = .*#threads = $THREADS#" benchmarks/configs/bench-ns2d-kolmogorov.toml > $W/bench-ns2d.toml
timeout 150 $PY -m sciwm bench $W/bench-ns2d.toml --out $W/bench-ns2d 2>&1 | tail -4
cp $W/bench-ns2d/report.md "$OUT/bench-ns2d.md" 2>/dev/null
part "issue 7: ns2d-forced world model ($WM_MINUTES min), then ns2d-reach planned on the GPU"
timeout 90 $PY -m sciwm generate datasets/ns2d-forced.toml --out $W/nsf --samples $SAMPLES --device $DEVICE --batch 320 2>&1 | tail -1
timeout $($PY -c "print(int(60 * $WM_MINUTES + 60))") $PY -m sciwm train sciwm/configs/wm-ns2d-forced.toml --out $W/nswm \
    --set data.train=$W/nsf/train.h5 --set data.val=$W/nsf/val.h5 --set train.max_minutes=$WM_MINUTES \
    --set train.steps=1000000 --set train.val_every=1000000 --device $DEVICE --quiet 2>&1 | tail -2
tail -1 $W/nswm/metrics.csv
timeout 240 $PY -m sciwm plan benchmarks/tasks/ns2d-reach.toml --model $W/nswm --planner zero,cem,grad,cem-solver,grad-solver \
    --budget 128 --device $DEVICE --out $W/plan-ns --quiet 2>&1 | tail -8
cp $W/plan-ns/plan.md "$OUT/plan-ns.md" 2>/dev/null

part "issue 5: JEPA on burgers1d without nu as an input ($WM_MINUTES min), probes"
timeout 60 $PY -m sciwm generate datasets/burgers1d.toml --out $W/b1 --samples 128 --device $DEVICE --batch 320 2>&1 | tail -1
timeout $($PY -c "print(int(60 * $WM_MINUTES + 60))") $PY -m sciwm train sciwm/configs/jepa-burgers1d.toml --out $W/jepa \
    --set data.train=$W/b1/train.h5 --set data.val=$W/b1/val.h5 --set 'data.params=[]' --set train.max_minutes=$WM_MINUTES \
    --set train.steps=1000000 --set train.val_every=1000000 --device $DEVICE --quiet 2>&1 | tail -2
tail -1 $W/jepa/metrics.csv
timeout 90 $PY -m sciwm probe $W/jepa --data $W/b1/test.h5 --fit $W/b1/train.h5 --every 2 2>&1 | tee "$OUT/probe.txt"
part "done"
