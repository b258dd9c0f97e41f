#!/usr/bin/env bash
# Set up and run the device check (benchmarks/device_check.py) on a machine with a CUDA GPU.
#
#   bash benchmarks/device_check.sh [--wheels DIR] [device_check.py options: --out DIR --deadline S ...]
#
# The venv (.venv-device) reuses a CUDA build of torch that python3 already has; where there
# is none it installs torch from the registry (PyPI's Linux x86_64 wheel is the CUDA build).
# --wheels DIR installs the package's other dependencies from DIR alone, for a GPU machine
# with no network (README, "On a GPU").
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=""
if [ "${1:-}" = "--wheels" ]; then wheels="$2"; shift 2; fi
venv=.venv-device
pip_from=()
[ -z "$wheels" ] || pip_from=(--no-index --find-links "$wheels")
if [ ! -x $venv/bin/python ]; then
  if python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    python3 -m venv $venv
    # python3 may itself be a venv, whose packages a new venv's --system-site-packages would
    # not see: point the new one at python3's own site-packages instead.
    site=$($venv/bin/python -c 'import site; print(site.getsitepackages()[0])')
    python3 -c 'import site; print("\n".join(site.getsitepackages()))' > "$site/device-check-parent.pth"
  else
    python3 -m venv $venv
    $venv/bin/pip install -q --disable-pip-version-check "${pip_from[@]}" torch
  fi
fi
$venv/bin/pip install -q --disable-pip-version-check "${pip_from[@]}" -e .
exec $venv/bin/python benchmarks/device_check.py "$@"
