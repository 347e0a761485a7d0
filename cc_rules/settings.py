"""Settings for cc-rules. Every deployment difference comes from the environment.

Read with django-environ; a bad value fails at start-up. Defaults are the embedded
development set-up: a SQLite file under ``var/`` and an embedded Redis (see
``cc_rules/embedded_redis.py``). Production sets ``DATABASE_URL`` (PostgreSQL via
psycopg 3), ``REDIS_URL``, ``SECRET_KEY``, ``ALLOWED_HOSTS`` and ``DEBUG=off``.
"""

from __future__ import annotations

import secrets
import sys
from datetime import timedelta
from pathlib import Path

import environ
import phonenumbers
from django.core.exceptions import ImproperlyConfigured

from cc_rules.paths import var_dir

BASE_DIR = Path(__file__).resolve().parent.parent
# CC_VAR_DIR, else var/ of the checkout, else ./var of the working directory (an installed
# wheel: never site-packages). `serve` passes the resolved path on to its children.
VAR_DIR = var_dir()
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env(
    DEBUG=(bool, True),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost", "testserver"]),
    TIME_ZONE=(str, "UTC"),
)

DEBUG = env("DEBUG")


def _secret_key() -> str:
    """Return SECRET_KEY; generate a dev key (kept in var/) only while DEBUG is on."""
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    path = VAR_DIR / "dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "cc_admin.apps.CcAdminConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from static files, no CDN
    "simple_history",
    "pgtrigger",
    "cc_rules.apps.CcRulesConfig",
]

MIDDLEWARE = [
    # Outermost: request latency by route and the access line (cc_rules/metrics.py, logs.py).
    "cc_rules.api.middleware.RequestMetricsMiddleware",
    "cc_rules.api.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (admin CSS, dashboard charts, Swagger UI) from the web process itself.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Turns an admin login refused by django-axes into its lockout page (429).
    "axes.middleware.AxesMiddleware",
    "cc_rules.api.middleware.RequestIdMiddleware",
    # Innermost: owns the transaction around the view for requests with Idempotency-Key.
    "cc_rules.api.idempotency.IdempotencyMiddleware",
]

ROOT_URLCONF = "cc_rules.urls"
WSGI_APPLICATION = "cc_rules.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'cc_rules.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # One writer at a time: IMMEDIATE takes the write lock at BEGIN, so two requests for one
    # agent serialise instead of failing with "database is locked" half-way (DECISIONS.md).
    _db.setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
else:
    _db.setdefault("OPTIONS", {})
    # Fail fast when PostgreSQL is unreachable so the API can answer 503 quickly.
    _db["OPTIONS"].setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=3))
    # Prepared statements: with server-side binding, psycopg prepares a statement once it has run
    # DB_PREPARE_THRESHOLD times on a connection, and PostgreSQL stops planning the hot path's
    # queries on every request (bench/RESULTS.md). Django turns them off by default for
    # transaction-mode poolers (PgBouncer): set DB_PREPARE_THRESHOLD=off behind one.
    _prepare = env.str("DB_PREPARE_THRESHOLD", default="5")
    if _prepare.lower() not in ("", "off", "none"):
        _db["OPTIONS"].setdefault("server_side_binding", True)
        _db["OPTIONS"].setdefault("prepare_threshold", int(_prepare))
    # Persistent connections pay off in gunicorn's long-lived workers; runserver starts a thread
    # per request, and each would keep its own connection open: none there.
    _runserver = sys.argv[1:2] == ["runserver"]
    _db["CONN_MAX_AGE"] = 0 if _runserver else env.int("CONN_MAX_AGE", default=60)
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("TEST", {})["NAME"] = env.str("TEST_DATABASE_NAME", default="test_cc_rules")
IS_POSTGRES = _db["ENGINE"] == "django.db.backends.postgresql"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis / Celery -------------------------------------------------------------------------
# Empty REDIS_URL means "embedded": cc_rules.embedded_redis starts one and exports REDIS_URL
# before the web, worker and beat processes start (see `manage.py serve`).
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "redis://127.0.0.1:6379/0")
CELERY_TIMEZONE = "UTC"
# The timer sweep's period (seconds), shared by every worker and the beat (cc_rules/sweeper.py).
CC_SWEEP_INTERVAL = env.float("CC_SWEEP_INTERVAL", default=1.0)
# Throttle counters (cc_rules/api/throttling.py); a Redis that is down lets requests through.
CC_THROTTLE_REDIS_URL = env.str("CC_THROTTLE_REDIS_URL", default=REDIS_URL or CELERY_BROKER_URL)
# Send ETA wake-ups for deadlines to the broker (tests that drive timers directly turn it off).
CC_SEND_WAKEUPS = env.bool("CC_SEND_WAKEUPS", default=True)

# --- Auth, i18n, static -------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE")
USE_I18N = True
USE_TZ = True  # stored in UTC, always aware
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every start-up when it is missing
# Served by WhiteNoise. With DEBUG off from STATIC_ROOT, hashed names and compressed copies
# (`collectstatic`, which `serve` runs); with DEBUG on from the apps' static/ dirs as they are.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "cc_rules.static_storage.StaticFilesStorage"
    },
}
LOGIN_URL = "admin:login"

# API tokens (cc_rules/models/tokens.py): one per login and device, hashed at rest; they expire
# this many hours after login and are revoked on logout, password change and deactivation.
CC_TOKEN_TTL_HOURS = env.int("CC_TOKEN_TTL_HOURS", default=12)

# Login lockout (django-axes; README "Security"): the admin login and POST /api/v1/auth/token/
# refuse an address+username pair after CC_LOGIN_FAILURE_LIMIT wrong passwords, even with the
# right one, for CC_LOGIN_COOLOFF_MINUTES (each failure during the lockout starts it again).
# Per address *and* username: an attacker elsewhere cannot lock the real user out. Every failure
# is kept (admin: "Axes" → access attempts / access failures).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("CC_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("CC_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no start-up banner on every command; lockouts are still logged
if env.int("NUM_PROXIES", default=0):
    # Behind N trusted proxies: the client address is the one the outermost proxy saw.
    AXES_IPWARE_PROXY_COUNT = env.int("NUM_PROXIES")
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cc_rules.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["cc_rules.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "cc_rules.api.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "cc_rules.api.pagination.CursorPage",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "cc_rules.api.errors.exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # Per-user rate on writes (the router is exempt); the token view sets its own login limits.
    "DEFAULT_THROTTLE_CLASSES": ["cc_rules.api.throttling.UserWritesThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user_writes": env.str("CC_THROTTLE_USER_WRITES", default="50/second"),
        "login": env.str("CC_THROTTLE_LOGIN", default="10/minute"),
    },
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}


def _project_version() -> str:
    """pyproject.toml's ``[project] version`` (a source checkout), else the installed one's."""
    import importlib.metadata
    import tomllib

    pyproject = BASE_DIR / "pyproject.toml"
    if pyproject.exists():
        return tomllib.loads(pyproject.read_text())["project"]["version"]
    try:
        return importlib.metadata.version("cc-rules")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


# The OpenAPI schema (cc_rules/api/schema.py; docs/openapi.json is its committed snapshot, see
# `manage.py openapi_snapshot`). Its version is the project's: bump it in pyproject.toml for a
# breaking change of the API.
SPECTACULAR_SETTINGS = {
    "TITLE": "cc-rules API",
    "DESCRIPTION": (
        "Rules engine for contact-center agents: sessions, offers, wrap-up, audit. JSON in, "
        "JSON out; a request body with a field its schema does not list is refused (400 "
        "`invalid`). Every 4xx is an `Error` with a stable `code`."
    ),
    "VERSION": _project_version(),
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "GET_LIB_DOC_EXCLUDES": "cc_rules.api.schema.lib_doc_excludes",
    # The labelled choice sets; cc_rules.api.schema.name_enums merges the same values from any
    # other field (the engine's CHANNELS tuple, a model's choices) into these names.
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "cc_rules.choices.ChannelCode",
        "StatusEnum": "cc_rules.choices.Status",
        "RequestableStatusEnum": "cc_rules.choices.RequestableStatus",
        "InteractionStateEnum": "cc_rules.choices.InteractionState",
        "CauseEnum": "cc_rules.choices.Cause",
        "EventEnum": "cc_rules.choices.Event",
        "DirectionEnum": "cc_rules.choices.Direction",
        "InteractionKindEnum": "cc_rules.choices.Kind",
        "EndHowEnum": "cc_rules.choices.EndHow",
        "ContactPointKindEnum": "cc_rules.choices.ContactPointKind",
        "ReasonCodeEnum": "cc_rules.api.serializers.REASON_CODES",
        # The same channels without labels (serializers use the engine's tuple); merged into
        # ChannelEnum by name_enums.
        "ChannelCodeEnum": "cc_rules.engine.rulebook.CHANNELS",
    },
    "TAGS": [
        {"name": "auth", "description": "Tokens: log in, log out."},
        {"name": "me", "description": "The calling agent: session, channel status, DND."},
        {"name": "interactions", "description": "Offers, outbound work, actions, wrap-up."},
        {"name": "messages", "description": "Chat transcripts and the contact points in them."},
        {"name": "contacts", "description": "Contact look-up."},
        {"name": "decisions", "description": "What an offer would answer now (no side effects)."},
        {"name": "im", "description": "Instant messages between colleagues (never stored)."},
        {"name": "agents", "description": "Supervisors: their teams' agents."},
        {"name": "audit", "description": "Compliance: history, time in status, verification."},
        {"name": "config", "description": "Admins: cross-rule warnings of the configuration."},
    ],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "cc_rules.api.schema.name_enums",
        "cc_rules.api.schema.document_conventions",
        "cc_rules.api.schema.name_inline_schemas",
        "cc_rules.api.schema.markdown_descriptions",
        "cc_rules.api.schema.check_operation_ids",
    ],
}

# --- Product settings -----------------------------------------------------------------------
# Region used to read phone numbers without a country prefix (R11: chat messages and a typed
# `to`). CC_PHONE_REGION is the older name, still read when CC_DEFAULT_REGION is not set.
CC_DEFAULT_REGION = env.str("CC_DEFAULT_REGION", default=env.str("CC_PHONE_REGION", default="DE"))
if CC_DEFAULT_REGION not in phonenumbers.SUPPORTED_REGIONS:
    raise ImproperlyConfigured(
        f"CC_DEFAULT_REGION={CC_DEFAULT_REGION!r} is not a phonenumbers region (e.g. DE, US)."
    )
CC_PHONE_REGION = CC_DEFAULT_REGION
# How long an unread IM waits in Redis (R5; never in the database).
CC_IM_TTL_SECONDS = env.int("CC_IM_TTL_SECONDS", default=86400)
# Bounds of one agent's IM inbox, unacknowledged messages and their bytes (issue 15): a message
# that would pass either is refused (429 `inbox_full`). Redis holds at most agents x bytes.
CC_IM_INBOX_MAX_MESSAGES = env.int("CC_IM_INBOX_MAX_MESSAGES", default=200)
CC_IM_INBOX_MAX_BYTES = env.int("CC_IM_INBOX_MAX_BYTES", default=256 * 1024)
# Idempotency keys are kept this long (API.md, "Conventions").
CC_IDEMPOTENCY_TTL_HOURS = env.int("CC_IDEMPOTENCY_TTL_HOURS", default=24)
# Status history rows older than this many days may be archived (R16; `archive_history`).
CC_HISTORY_RETENTION_DAYS = env.int("CC_HISTORY_RETENTION_DAYS", default=730)
# Where archive_history writes its files and verify reads their manifests (docs/audit.md).
CC_ARCHIVE_DIR = Path(env.str("CC_ARCHIVE_DIR", default=str(VAR_DIR / "archive")))
# The key of the ledger's HMAC-SHA256 chain and of the signed checkpoints (docs/audit.md). It is
# never stored in the database. With DEBUG on (development, tests) a fixed, public dev key stands
# in; with DEBUG off and no key the system check cc_rules.E001 refuses to run.
DEV_HISTORY_KEY = "cc-rules development history key: NOT SECRET, set CC_HISTORY_KEY"
CC_HISTORY_KEY = env.str("CC_HISTORY_KEY", default="") or (DEV_HISTORY_KEY if DEBUG else "")
# Signed checkpoints of every agent's chain head, written outside the database (docs/audit.md).
CC_CHECKPOINT_DIR = Path(env.str("CC_CHECKPOINT_DIR", default=str(VAR_DIR / "checkpoints")))
CC_CHECKPOINT_INTERVAL = env.float("CC_CHECKPOINT_INTERVAL", default=3600.0)
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="demo")

# --- Health (/healthz, /readyz: cc_rules/health.py) -----------------------------------------
# /readyz fails when the last timer sweep (or the beat's heartbeat) is older than this ...
CC_READYZ_SWEEP_MAX_AGE = env.float(
    "CC_READYZ_SWEEP_MAX_AGE", default=max(10.0, 10 * CC_SWEEP_INTERVAL)
)
# ... or when a wrap-up timer or offer is overdue by more than this many seconds.
CC_READYZ_OVERDUE_SECONDS = env.float("CC_READYZ_OVERDUE_SECONDS", default=30.0)
# The Celery ping: how long to wait for a worker, and how long each web process reuses the answer.
CC_READYZ_PING_TIMEOUT = env.float("CC_READYZ_PING_TIMEOUT", default=1.0)
CC_READYZ_CACHE_SECONDS = env.float("CC_READYZ_CACHE_SECONDS", default=3.0)

# --- Long audit work (issue 14; API.md "Compliance") ------------------------------------------
# GET /audit/verify/ and the CSV of GET /audit/status-changes/ answer within one request only up
# to this many rows (400 `verify_too_large` / `export_too_large` above, naming the job endpoint);
# any size runs as a job on the Celery queue CC_AUDIT_QUEUE, which only the audit worker reads.
CC_AUDIT_SYNC_VERIFY_MAX_ROWS = env.int("CC_AUDIT_SYNC_VERIFY_MAX_ROWS", default=50_000)
CC_AUDIT_CSV_MAX_ROWS = env.int("CC_AUDIT_CSV_MAX_ROWS", default=50_000)
CC_AUDIT_QUEUE = env.str("CC_AUDIT_QUEUE", default="audit")
# Export jobs write their CSV here (shared by the audit workers and the web processes), and the
# files are deleted this many hours after the job finished (beat task, every 5 minutes).
CC_AUDIT_EXPORT_DIR = Path(env.str("CC_AUDIT_EXPORT_DIR", default=str(VAR_DIR / "audit-exports")))
CC_AUDIT_EXPORT_RETENTION_HOURS = env.int("CC_AUDIT_EXPORT_RETENTION_HOURS", default=72)
# A running job writes its progress (rows so far) and a heartbeat this often.
CC_AUDIT_PROGRESS_SECONDS = env.float("CC_AUDIT_PROGRESS_SECONDS", default=1.0)
CELERY_TASK_ROUTES = {"cc_rules.run_audit_job": {"queue": CC_AUDIT_QUEUE}}

# --- Security (production: DEBUG off) -------------------------------------------------------
# Load balancers probe the health endpoints and Prometheus scrapes /metrics over plain HTTP,
# straight at the web process: never redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$", r"^metrics$"]
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = ["rest_framework.renderers.JSONRenderer"]

# --- Logs and metrics (README, "Operations") --------------------------------------------------
# One line per record on stderr, for web, worker and beat alike (cc_rules/logs.py): JSON objects
# (python-json-logger) unless CC_LOG_FORMAT=text, the default under DEBUG. Every line carries the
# request id; SQL values, tokens and passwords are scrubbed by the formatters.
CC_LOG_FORMAT = env.str("CC_LOG_FORMAT", default="text" if DEBUG else "json").lower()
if CC_LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"CC_LOG_FORMAT={CC_LOG_FORMAT!r}: use json or text.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "cc_rules.logs.JsonFormatter"},
        "text": {"()": "cc_rules.logs.TextFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": CC_LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
# One access line per request (logger cc_rules.access, INFO): route, status, duration, request id
# (runserver prints its own under DEBUG; gunicorn's access log is off under `serve`).
CC_ACCESS_LOG = env.bool("CC_ACCESS_LOG", default=not DEBUG)
# GET /metrics (Prometheus text format; cc_rules/metrics.py): answered for a request from one of
# CC_METRICS_ALLOWED_IPS (addresses or networks; loopback by default) that came through no proxy
# (no X-Forwarded-For / Forwarded header), or for any request with
# "Authorization: Bearer <CC_METRICS_TOKEN>" when that is set; 403 otherwise.
CC_METRICS_TOKEN = env.str("CC_METRICS_TOKEN", default="")
CC_METRICS_ALLOWED_IPS = env.list("CC_METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
