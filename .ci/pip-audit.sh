#!/usr/bin/env bash
# pip-audit on the locked dependencies (issue 7): every package in .ci/requirements.lock, pinned
# exactly as the virtualenv has them, checked against the PyPI advisory database (OSV with
# --vulnerability-service osv). Exit status: 0 clean; 1 vulnerable, or any package that could not
# be checked (--strict: an unreachable advisory service fails the step instead of passing).
#
#   .ci/pip-audit.sh                 audit the lock file
#   .ci/pip-audit.sh --update-lock   regenerate the lock from the virtualenv first, then audit
#   .ci/pip-audit.sh -- --vulnerability-service osv   extra arguments go to pip-audit
#
# The lock is `pip freeze --exclude-editable` of the project's .venv (the project itself is an
# editable install, so it is left out). --no-deps --disable-pip: the lock is complete and
# pinned, so nothing is resolved or downloaded; only advisories are fetched.
set -euo pipefail

cd "$(dirname "$0")/.."
venv="${CC_VENV:-.venv}"
lock=.ci/requirements.lock

if [[ "${1:-}" == "--update-lock" ]]; then
    shift
    "$venv/bin/python" -m pip freeze --exclude-editable >"$lock"
    echo "wrote $lock ($(wc -l <"$lock") packages)"
fi
[[ "${1:-}" == "--" ]] && shift

if ! diff -q <("$venv/bin/python" -m pip freeze --exclude-editable) "$lock" >/dev/null; then
    echo "warning: $venv differs from $lock; run .ci/pip-audit.sh --update-lock and commit it" >&2
fi

exec "$venv/bin/pip-audit" --requirement "$lock" --no-deps --disable-pip --strict \
    --progress-spinner off --desc on "$@"
