"""Long audit work off the request path (issue 14, item 3): verify and CSV export as jobs.

- ``start`` records an ``AuditJob`` and, after commit, sends ``cc_rules.run_audit_job`` to the
  Celery queue ``CC_AUDIT_QUEUE`` (``audit``), which only the audit worker consumes: a job that
  runs for minutes never takes a pool slot the timer tasks need.
- ``run`` (the task's body) claims the job, counts its rows, runs it and records the outcome on
  the row. Progress (rows so far) and a heartbeat are written every ``CC_AUDIT_PROGRESS_SECONDS``
  by a thread with a connection of its own on PostgreSQL, so they are visible while the job's
  own reading transaction is open.
- A job message delivered twice (Redis redelivers an unacknowledged message after its
  visibility timeout; a killed pool process's message comes back at once) finds the job
  running with a fresh heartbeat and is retried later instead of running it twice; a job whose
  heartbeat is older than ``STALE_SECONDS`` was abandoned (worker killed) and is taken over,
  at most ``MAX_ATTEMPTS`` times. ``maintain`` (beat, every few minutes) re-sends abandoned
  jobs and deletes export files past ``CC_AUDIT_EXPORT_RETENTION_HOURS``.
- ``check_sync_verify`` / ``check_sync_export``: what ``GET /audit/verify/`` and the CSV of
  ``GET /audit/status-changes/`` still answer within one request (a row bound); above it a 400
  names the job endpoint.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from cc_rules.celery import app
from cc_rules.filtersets import history_filter
from cc_rules.models import Agent, AuditJob, StatusChange
from cc_rules.services.audit import LEDGER_COLUMNS, can_read_audit, verify_chain
from cc_rules.services.errors import Invalid, ServiceError

log = logging.getLogger(__name__)

TASK = "cc_rules.run_audit_job"
VERIFY_JOBS_URL = "/api/v1/audit/verify/jobs/"
EXPORT_JOBS_URL = "/api/v1/audit/status-changes/jobs/"
CSV_CHUNK = 2000  # rows per fetch from the server-side cursor and per chunk written
CSV_COLUMNS = list(LEDGER_COLUMNS)
STALE_SECONDS = 120  # a running job whose heartbeat is older than this was abandoned
MAX_ATTEMPTS = 3  # a job that killed its worker this many times is given up


class TooLarge(ServiceError):
    """More rows than one request may go through: 400, naming the job endpoint."""

    status = 400


# --- the bound of the synchronous endpoints -----------------------------------------------------
def rows_at_most(queryset: QuerySet, limit: int) -> int:
    """``min(count, limit + 1)``: a bounded count (``LIMIT`` in a subquery), however large."""
    return queryset.order_by().values("pk")[: limit + 1].count()


def check_sync_verify(agent_id: int | None) -> None:
    """Raise ``verify_too_large`` when the chain to verify has more rows than one request may
    check (``CC_AUDIT_SYNC_VERIFY_MAX_ROWS``)."""
    limit = settings.CC_AUDIT_SYNC_VERIFY_MAX_ROWS
    rows = StatusChange.objects.all()
    if agent_id is not None:
        rows = rows.filter(agent_id=agent_id)
    if rows_at_most(rows, limit) > limit:
        raise TooLarge(
            "verify_too_large",
            f"More than {limit} history rows to verify: too many for one request. "
            f"POST {VERIFY_JOBS_URL} (same `agent`) to run it as a job, or verify one agent.",
        )


def check_sync_export(queryset: QuerySet) -> None:
    """Raise ``export_too_large`` when the CSV would have more rows than one request may send
    (``CC_AUDIT_CSV_MAX_ROWS``)."""
    limit = settings.CC_AUDIT_CSV_MAX_ROWS
    if rows_at_most(queryset, limit) > limit:
        raise TooLarge(
            "export_too_large",
            f"More than {limit} rows match: too many for one request. POST the same filters "
            f"as JSON to {EXPORT_JOBS_URL} to export them as a job, or narrow the filters.",
        )


# --- the CSV ------------------------------------------------------------------------------------
def iso(value: datetime) -> str:
    """The same text DRF's DateTimeField gives, so CSV and JSON rows read alike."""
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def csv_lines(rows: Any) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def export_queryset(parameters: dict[str, Any], user: Any) -> QuerySet:
    """The rows ``GET /audit/status-changes/`` gives ``user`` for these filters: the same
    FilterSet over the same scoped rows (``cc_rules.filtersets.history_filter``)."""
    filterset = history_filter(parameters, user)
    if not filterset.is_valid():
        raise Invalid(
            detail="A filter value is not valid.",
            fields={k: [str(e) for e in v] for k, v in filterset.errors.items()},
        )
    return filterset.qs


def stream_status_changes_csv(
    queryset: QuerySet, progress: Callable[[int], None] | None = None
) -> Iterator[str]:
    """The CSV of ``queryset`` in (at, id) order, in constant memory, one chunk per
    ``CSV_CHUNK`` rows; ``progress`` is called with the rows written so far after each chunk.

    On PostgreSQL a server-side cursor (``.iterator()``) inside one read-only transaction:
    rows come in chunks and one snapshot covers the whole export. (Not on SQLite, whose
    transactions take the write lock at BEGIN and would stop every writer meanwhile.)
    """
    yield from csv_lines([CSV_COLUMNS])
    values = queryset.order_by("at", "id").values_list(*LEDGER_COLUMNS.values())
    channel, at = CSV_COLUMNS.index("channel"), CSV_COLUMNS.index("at")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    snapshot = (
        transaction.atomic() if connection.vendor == "postgresql" else contextlib.nullcontext()
    )
    n = 0
    with snapshot:
        for n, values_row in enumerate(values.iterator(chunk_size=CSV_CHUNK), 1):
            row = list(values_row)
            row[channel] = row[channel] or ""  # the agent-wide DND rows have no channel
            row[at] = iso(row[at])
            writer.writerow(row)
            if n % CSV_CHUNK == 0:  # one write per chunk, not per row
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                if progress is not None:
                    progress(n)
    yield buffer.getvalue()
    if progress is not None:
        progress(n)


# --- starting and reading jobs ------------------------------------------------------------------
class QueueUnavailable(ServiceError):
    status = 503
    code = "queue_unavailable"


def start(kind: str, parameters: dict[str, Any], user: Any) -> AuditJob:
    """Record a job for ``user`` and send it to the audit queue after commit.

    If the broker cannot be reached the job is marked failed (``error`` says why) rather than
    left queued forever; the caller sees that when it reads the job.
    """
    job = AuditJob.objects.create(kind=kind, parameters=parameters, requested_by=user)

    def send() -> None:
        try:
            app.send_task(TASK, args=[job.pk], queue=settings.CC_AUDIT_QUEUE, retry=False)
        except Exception as exc:
            log.warning("audit job %s not queued: %s", job.pk, exc)
            AuditJob.objects.filter(pk=job.pk, state=AuditJob.State.QUEUED).update(
                state=AuditJob.State.FAILED,
                error=f"The job queue could not be reached ({type(exc).__name__}); ask again.",
                finished_at=timezone.now(),
            )

    transaction.on_commit(send)
    return job


def jobs_of(user: Any) -> QuerySet:
    """The jobs ``user`` may read: their own; a superuser reads every job."""
    jobs = AuditJob.objects.select_related("requested_by")
    return jobs if user.is_superuser else jobs.filter(requested_by=user)


def export_dir() -> Path:
    return Path(settings.CC_AUDIT_EXPORT_DIR)


def export_path(job: AuditJob) -> Path | None:
    """The job's CSV file, if it was written and not yet deleted."""
    if not job.file_name:
        return None
    path = export_dir() / job.file_name
    return path if path.is_file() else None


# --- running a job (the Celery task's body) -----------------------------------------------------
class _Progress:
    """Rows done so far, written with a heartbeat every ``CC_AUDIT_PROGRESS_SECONDS``.

    PostgreSQL: a thread with its own connection writes them, so they are committed while the
    job's reading transaction is still open, and the heartbeat keeps beating while a long
    statement runs. SQLite (development): written in line, from the job's own connection.
    """

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.rows = 0
        self.threaded = connection.vendor == "postgresql"
        self._written = -1
        self._last = time.monotonic()
        self.every = settings.CC_AUDIT_PROGRESS_SECONDS
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Progress:
        if self.threaded:
            self._thread = threading.Thread(target=self._beat, name="audit-job-progress")
            self._thread.daemon = True
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __call__(self, rows: int) -> None:
        self.rows = rows
        if not self.threaded and time.monotonic() - self._last >= self.every:
            self._last = time.monotonic()
            self._write()

    def _write(self) -> None:
        AuditJob.objects.filter(pk=self.job_id, state=AuditJob.State.RUNNING).update(
            rows_done=self.rows, heartbeat_at=timezone.now()
        )

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    self._write()
                except Exception as exc:  # the job itself will notice a dead database
                    log.warning("audit job %s: progress not written: %s", self.job_id, exc)
                    close_old_connections()
        finally:
            connection.close()  # this thread's own connection


def run(job_id: int) -> str:
    """Claim job ``job_id`` and run it. Returns ``done``, ``failed``, ``busy`` (another run is
    alive: the caller retries later) or ``gone`` (finished already, or no such job)."""
    now = timezone.now()
    claimable = Q(state=AuditJob.State.QUEUED) | Q(
        state=AuditJob.State.RUNNING, heartbeat_at__lt=now - timedelta(seconds=STALE_SECONDS)
    )
    claimed = AuditJob.objects.filter(claimable, pk=job_id).update(
        state=AuditJob.State.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        rows_done=0,
    )
    if not claimed:
        state = AuditJob.objects.filter(pk=job_id).values_list("state", flat=True).first()
        return "busy" if state == AuditJob.State.RUNNING else "gone"
    job = AuditJob.objects.get(pk=job_id)
    if job.attempts > MAX_ATTEMPTS:
        _finish(job, AuditJob.State.FAILED, error=f"Given up after {MAX_ATTEMPTS} attempts.")
        return "failed"
    try:
        with _Progress(job.pk) as progress:
            if job.kind == AuditJob.Kind.VERIFY:
                result = _verify(job, progress)
            else:
                result = _export(job, progress)
    except Exception as exc:
        log.exception("audit job %s failed", job.pk)
        with contextlib.suppress(Exception):
            _finish(job, AuditJob.State.FAILED, error=f"{type(exc).__name__}: {exc}")
        return "failed"
    _finish(job, AuditJob.State.DONE, result=result)
    return "done"


def _finish(job: AuditJob, state: str, *, result: Any = None, error: str = "", **more) -> None:
    fields = {"state": state, "result": result, "error": error, "finished_at": timezone.now()}
    if result and "rows_checked" in result:
        fields["rows_done"] = result["rows_checked"]
    elif result and "rows" in result:
        fields["rows_done"] = result["rows"]
    AuditJob.objects.filter(pk=job.pk).update(**fields, **more)


def _set_total(job: AuditJob, rows: QuerySet) -> None:
    AuditJob.objects.filter(pk=job.pk).update(rows_total=rows.order_by().count())


def _verify(job: AuditJob, progress: _Progress) -> dict[str, Any]:
    username = job.parameters.get("agent")
    agent_id = None
    rows = StatusChange.objects.all()
    if username:
        agent_id = (
            Agent.objects.filter(user__username=username).values_list("id", flat=True).first()
        )
        if agent_id is None:
            raise ValueError(f"No agent named {username!r}.")
        rows = rows.filter(agent_id=agent_id)
    _set_total(job, rows)
    # One transaction on PostgreSQL: the rows stream from a plain server-side cursor (no WITH
    # HOLD copy of the whole result); progress is written by the other connection meanwhile.
    snapshot = (
        transaction.atomic() if connection.vendor == "postgresql" else contextlib.nullcontext()
    )
    with snapshot:
        outcome = verify_chain(agent_id, progress=progress)
    broken_agent = None
    if outcome.agent_id is not None:
        broken_agent = (
            Agent.objects.filter(pk=outcome.agent_id)
            .values_list("user__username", flat=True)
            .first()
        )
    return {
        "intact": outcome.intact,
        "first_broken": outcome.first_broken,
        "rows_checked": outcome.rows_checked,
        "problem": outcome.problem,
        "agent": broken_agent,
        "seq": outcome.seq,
    }


def _export(job: AuditJob, progress: _Progress) -> dict[str, Any]:
    # Scoped as the requester is now, not as they were when they asked: a supervisor moved off
    # a team since gets that team's rows no more, and one who may no longer read the audit
    # gets a failed job rather than an empty file.
    requester = job.requested_by
    if not can_read_audit(requester):
        raise PermissionError(f"{requester.get_username()} may no longer read the audit.")
    rows = export_queryset(job.parameters, requester)
    _set_total(job, rows)
    folder = export_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"audit-export-{job.pk}.csv"
    part = folder / f".{name}.{os.getpid()}.part"
    digest = hashlib.sha256()
    size = lines = 0
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in stream_status_changes_csv(rows, progress):
                data = chunk.encode()
                out.write(data)
                digest.update(data)
                size += len(data)
                lines += chunk.count("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, folder / name)  # the file appears whole, or not at all
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise
    expires = timezone.now() + timedelta(hours=settings.CC_AUDIT_EXPORT_RETENTION_HOURS)
    AuditJob.objects.filter(pk=job.pk).update(file_name=name, file_expires_at=expires)
    return {"rows": progress.rows, "bytes": size, "sha256": digest.hexdigest()}


# --- upkeep (beat) ------------------------------------------------------------------------------
def maintain(now: datetime | None = None) -> dict[str, int]:
    """Delete export files past retention and re-send jobs whose worker died.

    A file is deleted (and the job's ``file_name`` cleared) once ``file_expires_at`` has
    passed; stray partial files older than the retention go too. A job still ``running`` whose
    heartbeat is older than ``STALE_SECONDS`` lost its worker: its message is sent again, and
    the next run takes it over (``run``).
    """
    now = now or timezone.now()
    purged = 0
    for job in AuditJob.objects.filter(file_expires_at__lte=now).exclude(file_name=""):
        with contextlib.suppress(FileNotFoundError):
            (export_dir() / job.file_name).unlink()
        AuditJob.objects.filter(pk=job.pk).update(file_name="")
        purged += 1
    cutoff = (now - timedelta(hours=settings.CC_AUDIT_EXPORT_RETENTION_HOURS)).timestamp()
    if export_dir().is_dir():
        for stray in export_dir().glob(".audit-export-*.part"):
            with contextlib.suppress(FileNotFoundError):
                if stray.stat().st_mtime < cutoff:
                    stray.unlink()
    stale = AuditJob.objects.filter(
        state=AuditJob.State.RUNNING, heartbeat_at__lt=now - timedelta(seconds=STALE_SECONDS)
    ).values_list("pk", flat=True)
    resent = 0
    for pk in stale:
        try:
            app.send_task(TASK, args=[pk], queue=settings.CC_AUDIT_QUEUE, retry=False)
            resent += 1
        except Exception as exc:
            log.warning("audit job %s not re-sent: %s", pk, exc)
    return {"files_deleted": purged, "jobs_resent": resent}
