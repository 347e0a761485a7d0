"""WSGI entry point (gunicorn cc_rules.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cc_rules.settings")
application = get_wsgi_application()
