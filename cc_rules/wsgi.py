"""WSGI entry point (gunicorn cc_rules.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cc_rules.settings")
application = get_wsgi_application()

from cc_rules.api.schema import resolve_schema_extensions  # noqa: E402  (needs the apps loaded)

resolve_schema_extensions()
