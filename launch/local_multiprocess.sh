#!/usr/bin/env bash
# Runs one command as N JAX processes on this machine, joined over 127.0.0.1 with gloo CPU
# collectives: a multi-host run without a cluster (how multi-host training is tested here).
#
#   launch/local_multiprocess.sh NUM_PROCESSES DEVICES_PER_PROCESS [--port=PORT] -- COMMAND...
#
# e.g.
#   launch/local_multiprocess.sh 2 4 -- python -m colorize_jax.main \
#       --config=configs/unet_lab.py:demo --workdir=runs/demo_2x4
#
# Process I runs COMMAND with --coordinator_address=127.0.0.1:PORT --num_processes=N
# --process_id=I appended, on DEVICES_PER_PROCESS CPU devices (XLA_FLAGS), its output prefixed
# with "[I] ". PORT defaults to a free one. When a process fails the others are stopped; SIGTERM
# and SIGINT are passed on to every process. The exit status is the first failure's, else 0.
set -euo pipefail

usage() {
  sed -n '4,5p' "$0" | sed 's/^# *//' >&2
  echo "local_multiprocess.sh: error: $1" >&2
  exit 2
}

[[ $# -ge 1 ]] || usage "missing NUM_PROCESSES, DEVICES_PER_PROCESS and -- COMMAND"
[[ $# -ge 2 ]] || usage "missing DEVICES_PER_PROCESS and -- COMMAND"
num_processes=$1
devices=$2
shift 2
[[ $num_processes =~ ^[1-9][0-9]*$ ]] || usage "NUM_PROCESSES must be a positive integer, not '$num_processes'"
[[ $devices =~ ^[1-9][0-9]*$ ]] || usage "DEVICES_PER_PROCESS must be a positive integer, not '$devices'"
port=""
while [[ $# -gt 0 && $1 != "--" ]]; do
  case $1 in
    --port=*) port=${1#--port=} ;;
    *) usage "unknown option '$1' (the command goes after --)" ;;
  esac
  shift
done
[[ $# -gt 0 ]] || usage "missing -- COMMAND"
shift
[[ $# -gt 0 ]] || usage "missing the command after --"
if [[ -z $port ]]; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
[[ $port =~ ^[0-9]+$ ]] || usage "--port must be a number, not '$port'"

pids=()
stop_all() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
}
trap 'stop_all' TERM INT

for ((i = 0; i < num_processes; i++)); do
  XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=$devices" \
    JAX_PLATFORMS=cpu JAX_CPU_COLLECTIVES_IMPLEMENTATION=gloo \
    "$@" --coordinator_address="127.0.0.1:$port" --num_processes="$num_processes" \
    --process_id="$i" > >(sed -u "s/^/[$i] /") 2> >(sed -u "s/^/[$i] /" >&2) &
  pids+=($!)
done

# Wait for all. On the first failure stop the others, which would otherwise wait for the failed
# one until a timeout: SIGTERM, then SIGKILL after a grace period (a multi-process checkpoint
# needs every process, so they cannot save one without it).
status=0
kill_at=""
running=("${pids[@]}")
while [[ ${#running[@]} -gt 0 ]]; do
  still=()
  for pid in "${running[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      still+=("$pid")
      continue
    fi
    code=0
    wait "$pid" || code=$?
    if [[ $code -ne 0 && $status -eq 0 ]]; then
      status=$code
      echo "local_multiprocess.sh: a process exited with status $code; stopping the others" >&2
      stop_all
      kill_at=$((SECONDS + ${STOP_GRACE_SECONDS:-10}))
    fi
  done
  running=("${still[@]+"${still[@]}"}")
  if [[ -n $kill_at && $SECONDS -ge $kill_at ]]; then
    for pid in "${running[@]+"${running[@]}"}"; do
      kill -KILL "$pid" 2>/dev/null || true
    done
  fi
  [[ ${#running[@]} -eq 0 ]] || sleep 0.2
done
exit "$status"
