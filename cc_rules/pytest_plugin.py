"""A pytest plugin that ``runtests`` loads (``-p cc_rules.pytest_plugin``) when it started an
embedded Redis: each pytest-xdist worker (``runtests -n 2``) then gets an embedded Redis of its
own, so workers never share IM relay keys, throttle counters or Celery queues (their SQLite
test databases are separate too, and would hand out the same ids).

It acts on import, before pytest-django imports the settings (which read ``REDIS_URL`` once),
and does nothing outside an xdist worker or when the caller set ``REDIS_URL`` itself.
"""

from __future__ import annotations

import os

PER_WORKER = "CC_EMBEDDED_REDIS_PER_WORKER"

if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get(PER_WORKER) == "1":
    from cc_rules.embedded_redis import ensure_redis

    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    _url = ensure_redis(private=True)  # released when the worker exits
    os.environ["REDIS_URL"] = os.environ["CELERY_BROKER_URL"] = _url
    os.environ[PER_WORKER] = "done"  # the worker's own children keep this server
