#!/usr/bin/env bash
# Install everything Cordon needs on Debian/Ubuntu: system packages (bubblewrap, ...),
# a virtual environment in .venv built on the system Python (so unprivileged accounts
# can run it too), and the package itself (non-editable). `--dev` adds the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"
# The system Python by default (an unprivileged account can run what it installs); PYTHON=...
# picks another interpreter, e.g. a python3.12 where the system one is older.
PYTHON="${PYTHON:-/usr/bin/python3}"

if [[ -x "$PYTHON" ]] && ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "cordon: Cordon needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -V 2>&1 || echo 'unknown')." >&2
  echo "cordon: install a newer python3 (Debian 12 and Ubuntu 24.04 ship 3.11+), or point PYTHON at one:" >&2
  echo "  PYTHON=/usr/bin/python3.12 $0 ${1:-}" >&2
  exit 1
fi

need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
[[ -x "$PYTHON" ]] || need+=(python3)
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
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
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null; then
      echo "cordon: missing system packages: ${need[*]}" >&2
      echo "cordon: this account is not root and there is no sudo; ask an administrator to run:" >&2
      echo "  apt-get install ${need[*]}" >&2
      echo "cordon: then run $0 ${1:-} again (nothing was installed)" >&2
      exit 1
    fi
    sudo="sudo"
  fi
  echo "cordon: installing system packages: ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q ".${extras}"
if [[ -n "$extras" ]]; then
  # The tests import Cordon from this checkout (pytest's pythonpath), so the checkout needs
  # the native inner stage too (the install above put one in the venv).
  .venv/bin/python sandbox/linux/build_native.py sandbox/linux
  # ... and the Starlark parser tables (the wheel has its own, built by setup.py).
  .venv/bin/python -c 'import sys; sys.path.insert(0, "."); from cordon.policy.starlark import syntax; syntax.write_tables()'
  # ... and the shipped rule sets, loaded once (policy/cache.py, SHIPPED_STORE).
  .venv/bin/python -c 'import sys; sys.path.insert(0, "."); from cordon.policy import engine; engine.write_shipped_store()'
fi
# Non-editable installs leave a build/ folder behind; it is not needed.
rm -rf build ./*.egg-info
echo "cordon: installed into $(pwd)/.venv" >&2
