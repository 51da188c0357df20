#!/usr/bin/env bash
# GPU check, under 10 minutes on one GPU, with no network: everything comes from the repository and
# its installed venv (data are synthetic, CIFAR-shaped; nothing is downloaded).
#   1. the CUDA path's tests (tests/train/test_cuda.py with LPG_REQUIRE_CUDA=1, so a missing GPU
#      fails them, plus the accelerator and autocast tests);
#   2. ce and lpg training images/s on resnet32, batch 128, bf16 autocast (bench_epoch.py);
#   3. the meta-step cost ratios to ce on resnet32 on the GPU (bench_meta_step.py: jvp and fd);
#   4. `lpg-meta run --workers 2 --devices 0` on a tiny suite (both workers on GPU 0) and, where the
#      machine has several GPUs, `--workers N --devices 0,...,N-1` (one worker per GPU); each run's
#      result.json must name the GPU its worker was given (timing.device).
# Writes results/bench/gpu.json (device, versions, commit, each step's exit status and numbers).
# Exits non-zero if no CUDA device is visible or if any step fails.
#
# Usage: benchmarks/gpu_check.sh [--dry-run]    (--dry-run prints the plan and runs nothing)
#   PY=path/to/python overrides the interpreter (default .venv/bin/python, else python3).
set -euo pipefail

cd "$(dirname "$0")/.."
if [[ "${1:-}" == --workers-check ]]; then
  # Step 4 (run by the loop below): `lpg-meta run` with 2 workers on GPU 0, then one worker per GPU.
  # A suite of ce on MNIST-1D on the GPU, 2 epochs, two seeds per worker (seconds a run).
  work=$2 all=$3 py=${PY:-python3}
  n=$(tr ',' '\n' <<< "$all" | wc -l)
  workers_run() {  # $1: name, $2: workers, $3: --devices; the first line and each run's device are checked
    cat > "$work/$1.yaml" <<YAML
suite: gpu_$1
output: $work/$1
defaults: {data: {num_samples: 1500}, train: {epochs: 2, batch_size: 64, device: cuda}}
datasets: {lt: {source: mnist1d, imbalance: 10, meta_per_class: 10}}
methods: {ce: {}}
seeds: [$(seq -s, 0 $((2 * $2 - 1)))]
YAML
    "$py" -m lpg_meta.cli run "$work/$1.yaml" --workers "$2" --devices "$3" 2> "$work/$1.err"
    local rc=$?
    cat "$work/$1.err" >&2
    (( rc == 0 )) || return 1
    "$py" - "$work/$1" "$3" "$2" "$work/$1.err" <<'PYEOF'
import json, sys
from pathlib import Path
out, devices, workers, err = Path(sys.argv[1]), sys.argv[2].split(","), int(sys.argv[3]), Path(sys.argv[4])
expected = [f"cuda:{devices[i % len(devices)]}" for i in range(workers)]
first = err.read_text().splitlines()[0]
seen = {json.loads(p.read_text())["timing"]["device"] for p in out.rglob("result.json")}
print(f"first line: {first!r}; runs on {sorted(seen)}")
ok = first.startswith(f"lpg-meta: {workers} workers on {', '.join(expected)};") and seen <= set(expected)
sys.exit(0 if ok and (len(set(expected)) == 1 or len(seen) > 1) else 1)  # several GPUs: more than one used
PYEOF
  }
  workers_run two_on_0 2 0 || exit 1
  if (( n > 1 )); then
    workers_run one_per_gpu "$n" "$all" || exit 1
  else
    echo "one GPU: the one-worker-per-GPU run is skipped"
  fi
  exit 0
fi
DRY_RUN=0
case "${1:-}" in
  --dry-run) DRY_RUN=1 ;;
  "") ;;
  *) echo "gpu_check.sh: unknown argument '$1'; usage: benchmarks/gpu_check.sh [--dry-run]" >&2; exit 2 ;;
esac
if [[ -z "${PY:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
OUT=${OUT:-results/bench/gpu.json}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)")
ALL=$(seq -s, 0 $((GPUS > 1 ? GPUS - 1 : 0)))
WORKERS_CHECK="env PY=$PY bash benchmarks/gpu_check.sh --workers-check $WORK $ALL"

# name | time limit (s) | command; the limits sum to 540 s, under 10 minutes with start-up.
STEPS=(
  "tests|200|env LPG_REQUIRE_CUDA=1 $PY -m pytest -q -p no:cacheprovider tests/train/test_cuda.py tests/train/test_device.py tests/lpg/test_lpg_autocast.py"
  "throughput|100|$PY benchmarks/bench_epoch.py --device cuda --amp bf16 --steps 30 --warmup 5 --methods ce lpg --replace --note gpu_check --out $WORK/epoch.json"
  "meta_step|150|$PY benchmarks/bench_meta_step.py --device cuda --only resnet32 --methods lpg --backends jvp fd --intervals 1 --blocks 7 --warmup 3 --meta-batch 100 --out $WORK/meta_step.json"
  "workers|90|$WORKERS_CHECK"
)

if [[ $DRY_RUN == 1 ]]; then
  echo "gpu_check.sh plan (python: $PY; writes $OUT):"
  for step in "${STEPS[@]}"; do
    IFS='|' read -r name limit cmd <<< "$step"
    echo "  $name (at most ${limit}s): $cmd"
  done
  "$PY" -c "import torch; print('  CUDA visible here:', torch.cuda.is_available())"
  exit 0
fi

if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check.sh: no CUDA device visible to $PY (torch.cuda.is_available() is False); run it on a GPU machine." >&2
  exit 3
fi

failed=0
for step in "${STEPS[@]}"; do
  IFS='|' read -r name limit cmd <<< "$step"
  echo "== $name (at most ${limit}s): $cmd"
  start=$SECONDS
  set +e
  timeout "$limit" $cmd 2>&1 | tee "$WORK/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  echo "$rc $((SECONDS - start))" > "$WORK/$name.rc"
  [[ $rc == 0 ]] || { echo "gpu_check.sh: step '$name' failed (exit $rc)" >&2; failed=1; }
done

"$PY" - "$WORK" "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path

import torch

from lpg_meta.results import git_commit, write_json_atomic

work, out = Path(sys.argv[1]), Path(sys.argv[2])
record = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda,
          **git_commit(), "steps": {}}
for name in ("tests", "throughput", "meta_step", "workers"):
    rc, seconds = (work / f"{name}.rc").read_text().split()
    log = (work / f"{name}.log").read_text().splitlines()
    record["steps"][name] = {"exit_status": int(rc), "seconds": float(seconds), "log_tail": log[-5:]}
epoch = work / "epoch.json"
if epoch.exists():
    runs = {r["method"]: r for r in json.loads(epoch.read_text())}
    record["images_per_second"] = {m: r["images_per_second"] for m, r in runs.items()}
    record["throughput_ratio_lpg_ce"] = runs.get("lpg", {}).get("throughput_ratio_lpg_ce")
    record["throughput_records"] = list(runs.values())
meta = work / "meta_step.json"
if meta.exists():
    recs = json.loads(meta.read_text())
    record["meta_step_ratio_to_ce"] = {f"{r['method']}[{r['backend']}]": r["ratio_to_ce"] for r in recs}
    record["meta_step_records"] = recs
write_json_atomic(out, record)
print(f"wrote {out}")
PYEOF

if [[ $failed != 0 ]]; then
  echo "gpu_check.sh: a step failed; see $OUT" >&2
  exit 1
fi
echo "gpu_check.sh: all steps passed"
