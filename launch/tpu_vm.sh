#!/usr/bin/env bash
# Cloud TPU VMs and pod slices: create one, install this checkout on every worker, train on all.
#
#   launch/tpu_vm.sh create  --name=NAME --zone=ZONE --accelerator=TYPE [--version=RUNTIME] [--spot]
#   launch/tpu_vm.sh install --name=NAME --zone=ZONE
#   launch/tpu_vm.sh run     --name=NAME --zone=ZONE [--local_workdir] -- MAIN_FLAGS...
#   launch/tpu_vm.sh delete  --name=NAME --zone=ZONE
#
# e.g. (a v4-32 slice has 4 workers, each with 4 chips):
#   launch/tpu_vm.sh create --name=colorize --zone=us-central2-b --accelerator=v4-32
#   launch/tpu_vm.sh install --name=colorize --zone=us-central2-b
#   launch/tpu_vm.sh run --name=colorize --zone=us-central2-b -- \
#       --config=configs/unet_lab.py:tpu --workdir=gs://BUCKET/runs/unet_lab
#
# install copies the committed HEAD of this repository (git archive) to every worker and installs
# it with jax[tpu] in ~/colorize_jax/.venv. run starts `python -m colorize_jax.main MAIN_FLAGS` on
# every worker at once (--worker=all); the processes find each other by themselves
# (colorize_jax.runtime.distributed). The workdir must be a gs:// path that all workers share, unless
# --local_workdir (a single-host TPU VM). After a preemption (Spot VMs, maintenance) create the
# VM again if it is gone, install, and run the same command: training resumes from the workdir.
# Also: --project=PROJECT (default: gcloud's). gcloud must be installed and logged in.
set -euo pipefail

die() {
  echo "tpu_vm.sh: error: $1" >&2
  exit 2
}
usage() {
  sed -n '4,7p' "$0" | sed 's/^# *//' >&2
  die "$1"
}

[[ $# -ge 1 ]] || usage "missing the command: create, install, run or delete"
command=$1
shift
case $command in
  create | install | run | delete) ;;
  *) usage "unknown command '$command': use create, install, run or delete" ;;
esac

name="" zone="" project="" accelerator="" version="tpu-ubuntu2204-base" spot=0 local_workdir=0
while [[ $# -gt 0 && $1 != "--" ]]; do
  case $1 in
    --name=*) name=${1#*=} ;;
    --zone=*) zone=${1#*=} ;;
    --project=*) project=${1#*=} ;;
    --accelerator=*) accelerator=${1#*=} ;;
    --version=*) version=${1#*=} ;;
    --spot) spot=1 ;;
    --local_workdir) local_workdir=1 ;;
    *) usage "unknown option '$1' (colorize_jax.main's flags go after --)" ;;
  esac
  shift
done
[[ $# -gt 0 ]] && shift # the --
[[ -n $name ]] || usage "missing --name=NAME (the TPU VM's name)"
[[ -n $zone ]] || usage "missing --zone=ZONE (e.g. us-central2-b)"
command -v gcloud >/dev/null || die "gcloud not found: install the Google Cloud CLI and log in"

where=(--zone="$zone")
[[ -n $project ]] && where+=(--project="$project")
tpu=(gcloud compute tpus tpu-vm)

case $command in
  create)
    [[ -n $accelerator ]] || usage "create needs --accelerator=TYPE (e.g. v4-8, v4-32, v5litepod-16)"
    extra=()
    [[ $spot -eq 1 ]] && extra+=(--spot)
    "${tpu[@]}" create "$name" "${where[@]}" --accelerator-type="$accelerator" \
      --version="$version" "${extra[@]+"${extra[@]}"}"
    ;;
  install)
    repo=$(cd "$(dirname "$0")/.." && pwd)
    if [[ -n $(git -C "$repo" status --porcelain --untracked-files=no) ]]; then
      echo "tpu_vm.sh: warning: uncommitted changes are not installed (HEAD is)" >&2
    fi
    archive=$(mktemp -d)/colorize_jax.tar.gz
    git -C "$repo" archive --format=tar.gz -o "$archive" HEAD
    "${tpu[@]}" scp "$archive" "$name:colorize_jax.tar.gz" "${where[@]}" --worker=all
    "${tpu[@]}" ssh "$name" "${where[@]}" --worker=all --command="set -e; rm -rf ~/colorize_jax; \
mkdir ~/colorize_jax; tar -xzf ~/colorize_jax.tar.gz -C ~/colorize_jax; cd ~/colorize_jax; \
python3 -m venv .venv; . .venv/bin/activate; pip install -q -U pip; pip install -q -e . 'jax[tpu]'"
    ;;
  run)
    [[ $# -gt 0 ]] || usage "run needs colorize_jax.main's flags after --"
    [[ " $* " == *" --config="* ]] || die "missing --config=FILE[:PRESET] after --"
    [[ " $* " == *" --workdir="* ]] || die "missing --workdir=DIR after --"
    if [[ $local_workdir -eq 0 && " $* " != *" --workdir=gs://"* ]]; then
      die "--workdir must be gs://... so that every worker sees it (--local_workdir on one host)"
    fi
    remote="cd ~/colorize_jax && . .venv/bin/activate && exec python -m colorize_jax.main"
    for arg in "$@"; do
      remote+=" $(printf '%q' "$arg")"
    done
    "${tpu[@]}" ssh "$name" "${where[@]}" --worker=all --command="$remote"
    ;;
  delete)
    "${tpu[@]}" delete "$name" "${where[@]}" --quiet
    ;;
esac
