"""Long audit work run off the request path (issue 14): chain verification and CSV exports.

A job is asked for through the API (``cc_rules.services.audit_jobs.start``), run by the Celery
task ``cc_rules.run_audit_job`` on its own queue (``audit``), and read back by its requester.
The row is the outcome: Celery results are not kept.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditJob(models.Model):
    class Kind(models.TextChoices):
        VERIFY = "verify", "Verify the history's hash chain"
        EXPORT = "export", "Export status changes as CSV"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    parameters = models.JSONField(
        default=dict, blank=True, help_text="verify: {agent}; export: the status-changes filters."
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="audit_jobs"
    )
    rows_done = models.BigIntegerField(default=0, help_text="Rows checked or written so far.")
    rows_total = models.BigIntegerField(
        null=True, blank=True, help_text="Rows to go through, counted when the job started."
    )
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    file_name = models.CharField(max_length=200, blank=True, help_text="export: under the dir.")
    file_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["requested_by", "-created_at"], name="auditjob_by_user")]

    def __str__(self) -> str:
        return f"{self.kind} job #{self.pk} ({self.state})"
