#!/usr/bin/env bash
# Installs everything grader needs on a fresh Debian/Ubuntu machine, idempotently:
# system packages (bubblewrap for the sandbox, Debian's Fashion-MNIST), a virtual
# environment in .venv with grader and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)
[ -d /usr/share/datasets/fashion-mnist ] || need_apt+=(dataset-fashion-mnist)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system packages: ${need_apt[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "note: please install ${need_apt[*]} (e.g. sudo apt-get install ${need_apt[*]}); continuing without" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.grader-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -m pip install -q -e '.[test]' 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -c "import grader.cli, torch, torchvision" && touch "$stamp"
fi
