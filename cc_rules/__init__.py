"""cc-rules: a configuration-driven rules engine for contact-center agents."""

from .celery import app as celery_app

__all__ = ["celery_app"]
