#!/usr/bin/env bash
# Install everything Cordon needs on Debian/Ubuntu: system packages (bubblewrap, ...),
# a virtual environment in .venv built on the system Python (so unprivileged accounts
# can run it too), and the package itself (non-editable). `--dev` adds the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"

need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
[[ -x /usr/bin/python3 ]] || need+=(python3)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v ip >/dev/null || need+=(iproute2)
[[ -e /usr/lib/x86_64-linux-gnu/libseccomp.so.2 || -e /usr/lib/aarch64-linux-gnu/libseccomp.so.2 ]] || need+=(libseccomp2)
# A C compiler and the static C library: the install compiles the native inner stage
# (sandbox/linux/cordon_inner.c); without them the slower Python inner stage is used.
command -v cc >/dev/null || need+=(gcc)
compgen -G "/usr/lib/*-linux-gnu/libc.a" >/dev/null || need+=(libc6-dev)
if [[ -n "$extras" ]]; then
  for t in git make gcc curl; do command -v "$t" >/dev/null || need+=("$t"); done
fi
if ((${#need[@]})); then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "cordon: installing system packages: ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  /usr/bin/python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q ".${extras}"
if [[ -n "$extras" ]]; then
  # The tests import Cordon from this checkout (pytest's pythonpath), so the checkout needs
  # the native inner stage too (the install above put one in the venv).
  .venv/bin/python sandbox/linux/build_native.py sandbox/linux
  # ... and the Starlark parser tables (the wheel has its own, built by setup.py).
  .venv/bin/python -c 'import sys; sys.path.insert(0, "."); from cordon.policy.starlark import syntax; syntax.write_tables()'
fi
# Non-editable installs leave a build/ folder behind; it is not needed.
rm -rf build ./*.egg-info
echo "cordon: installed into $(pwd)/.venv" >&2
