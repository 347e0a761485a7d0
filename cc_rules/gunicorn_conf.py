"""gunicorn's settings for cc-rules: ``gunicorn -c python:cc_rules.gunicorn_conf cc_rules.wsgi``.

`serve` (DEBUG off) and the deployment docs start gunicorn with this file. Each value comes
from the environment; gunicorn's own command-line flags and ``GUNICORN_CMD_ARGS`` still win.

- ``WEB_CONCURRENCY`` (2 x cores + 1): ``workers``, sync workers of one request each.
- ``GUNICORN_BIND`` (``127.0.0.1:8000``): ``bind``; `serve` passes ``--bind``.
- ``GUNICORN_TIMEOUT`` (30 s): ``timeout``, a worker silent this long is killed and replaced.
- ``GUNICORN_GRACEFUL_TIMEOUT`` (30 s): ``graceful_timeout``, time to finish requests on
  SIGTERM or HUP.
- ``GUNICORN_MAX_REQUESTS`` (1000) and ``GUNICORN_MAX_REQUESTS_JITTER`` (100): a worker is
  recycled after that many requests plus up to the jitter, so workers do not recycle at once.
- ``GUNICORN_KEEPALIVE`` (5 s): ``keepalive``, behind a proxy that reuses connections.
- ``FORWARDED_ALLOW_IPS`` (gunicorn's own variable, ``127.0.0.1``): proxies trusted for
  ``X-Forwarded-*``.

Database connections persist across requests only here (``CONN_MAX_AGE``, default 60 s);
runserver keeps none (cc_rules/settings.py).
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = _int("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1)
worker_class = "sync"
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Heartbeat files in memory, not on a disk that may stall (gunicorn's advice for containers).
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
# No access log of gunicorn's own: the application logs each request (logger cc_rules.access,
# with its request id). GUNICORN_ACCESS_LOG=- turns gunicorn's on as well.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
