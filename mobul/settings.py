"""Mobul settings: one module, driven by environment variables with safe local defaults.

Production is selected with MOBUL_ENV=production; it then requires SECRET_KEY and
ALLOWED_HOSTS and turns on every security setting `manage.py check --deploy` asks for.
"""

import base64
import hashlib
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=None):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def redis_url_with_db(url, db):
    """The same Redis server as `url`, database index `db`."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


MOBUL_ENV = env("MOBUL_ENV", "development")
PRODUCTION = MOBUL_ENV == "production"
# pytest imports this module with pytest already loaded; tests get their own Redis databases.
TESTING = env_bool("MOBUL_TESTING", "pytest" in sys.modules)

DEBUG = env_bool("DEBUG", not PRODUCTION)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when MOBUL_ENV=production.")
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"
# Former keys, still accepted while what they signed or sealed expires (sessions, kept Idempotency-Key answers).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when MOBUL_ENV=production.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Base URL the outside world uses to reach Mobul (PURLs, QR codes, webhook signatures).
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    # Its system check refuses a cache the counters cannot live in (mobul.ratelimit counts with its core).
    "django_ratelimit",
    "accounts",
    "campaigns",
    "mailpieces",
    "giftcards",
    "calltracking",
    "analytics",
    "dashboard",
    "ops",
    "webhooks",
]

MIDDLEWARE = [
    "mobul.middleware.RequestIdMiddleware",
    # Outermost after the request id, so it times everything below it.
    "ops.middleware.RequestMetricsMiddleware",
    "mobul.middleware.RateLimitHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "mobul.api.ApiNotFoundMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "mobul.idempotency.IdempotencyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mobul.urls"
WSGI_APPLICATION = "mobul.wsgi.application"
ASGI_APPLICATION = "mobul.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- Database -----------------------------------------------------------------------------
# psycopg 3 with Django's own connection pool. Behind PgBouncer in transaction mode set
# DATABASE_PGBOUNCER=true: the pool and server-side cursors are switched off.
DATABASE_URL = env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mobul")
DATABASE_PGBOUNCER = env_bool("DATABASE_PGBOUNCER", False)
DATABASE_POOL_MIN_SIZE = env_int("DATABASE_POOL_MIN_SIZE", 2)
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 10)


def database_config(url, pgbouncer=None):
    """Django's settings for the database at `url`; `pgbouncer` (default DATABASE_PGBOUNCER): behind PgBouncer."""
    config = dj_database_url.parse(url, conn_max_age=0)
    config["ENGINE"] = "django.db.backends.postgresql"
    options = config.setdefault("OPTIONS", {})
    options.setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5))
    if DATABASE_PGBOUNCER if pgbouncer is None else pgbouncer:
        config["DISABLE_SERVER_SIDE_CURSORS"] = True
        # A prepared statement lives in one server session, which transaction pooling does not keep.
        options["prepare_threshold"] = None
    else:
        # Django leaves statements unprepared by default, for poolers; only mobul.db.prepared_cursor's are.
        options.setdefault("prepare_threshold", 5)
        options["pool"] = {
            "min_size": DATABASE_POOL_MIN_SIZE,
            "max_size": DATABASE_POOL_MAX_SIZE,
            "timeout": env_int("DATABASE_POOL_TIMEOUT", 10),
        }
    return config


DATABASES = {"default": database_config(DATABASE_URL)}
# A streaming replica of the primary: list endpoints, analytics and dashboards read from it (mobul/replicas.py).
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL")
# After a caller's write, its reads stay on the primary this long: longer than the replica's usual lag.
DATABASE_REPLICA_STICKY_SECONDS = env_int("DATABASE_REPLICA_STICKY_SECONDS", 5)
if DATABASE_REPLICA_URL:
    # Under the test runner the replica alias is the primary's test database, not a second one.
    DATABASES["replica"] = database_config(DATABASE_REPLICA_URL) | {"TEST": {"MIRROR": "default"}}
    DATABASE_ROUTERS = ["mobul.replicas.PrimaryReplicaRouter"]
    MIDDLEWARE.insert(1, "mobul.replicas.ReplicaRequestMiddleware")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker -----------------------------------------------------------
REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
# Tests run against their own Redis database so they never touch development data.
REDIS_TEST_DB = env_int("REDIS_TEST_DB", 15)
CACHE_REDIS_URL = redis_url_with_db(REDIS_URL, REDIS_TEST_DB) if TESTING else REDIS_URL

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": CACHE_REDIS_URL,
        "KEY_PREFIX": "mobul",
        "TIMEOUT": 300,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 2,
            "SOCKET_TIMEOUT": 2,
        },
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"

# Tests publish to their own broker database, so a development worker never takes their tasks.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", redis_url_with_db(REDIS_URL, REDIS_TEST_DB - 1 if TESTING else 1))
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", TESTING)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# A worker process reserves one task beyond the one it runs: a long import never sits on short tasks it holds.
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 1)
# Queues by kind of work, so a million-row import never delays a gift-card SMS. A worker started without -Q
# consumes them all (development, tests); production runs one worker group per line of Procfile.dev /
# docker-compose.yml. Unrouted tasks go to "default".
CELERY_QUEUE_NAMES = ("delivery", "webhooks", "monitoring", "default", "imports", "retention")
CELERY_TASK_QUEUES = [Queue(name) for name in CELERY_QUEUE_NAMES]
CELERY_TASK_DEFAULT_QUEUE = "default"
# By task name (Celery also takes glob patterns). A new task gets its line here: a test fails for a project task
# that would fall into `default`.
CELERY_TASK_ROUTES = {
    # Bulk data jobs: minutes each.
    "campaigns.tasks.process_import": {"queue": "imports"},
    "campaigns.tasks.record_mailing": {"queue": "imports"},
    "mailpieces.tasks.generate_proof": {"queue": "imports"},
    "giftcards.tasks.process_card_import": {"queue": "imports"},
    "mailpieces.print_run_tasks.render_print_run": {"queue": "imports"},
    # Messages a person is waiting for.
    "giftcards.tasks.dispatch_deliveries": {"queue": "delivery"},
    "giftcards.tasks.deliver_gift_card": {"queue": "delivery"},
    "giftcards.tasks.notify_low_stock": {"queue": "delivery"},
    "giftcards.tasks.sweep_deliveries": {"queue": "delivery"},
    "accounts.tasks.send_team_invitation": {"queue": "delivery"},
    # Follow-up work of inbound traffic: provider webhooks, ingested event batches.
    "calltracking.tasks.download_recording": {"queue": "webhooks"},
    "analytics.tasks.apply_rollups": {"queue": "webhooks"},
    # Outbound webhooks to integrators, one message per task, and their emails.
    "webhooks.tasks.dispatch_messages": {"queue": "webhooks"},
    "webhooks.tasks.deliver_message": {"queue": "webhooks"},
    "webhooks.tasks.notify_endpoint_disabled": {"queue": "delivery"},
    # Partition upkeep and retention: nightly drops and archiving, restores from cold storage, card expiry.
    "analytics.tasks.maintain_partitions": {"queue": "retention"},
    "ops.tasks.run_retention_job": {"queue": "retention"},
    "ops.tasks.close_dead_retention_runs": {"queue": "monitoring"},
    # The sweepers: quick, and never stuck behind the work they queue again.
    "campaigns.tasks.sweep_imports": {"queue": "monitoring"},
    "campaigns.tasks.sweep_mailings": {"queue": "monitoring"},
    "campaigns.tasks.purge_staged_imports": {"queue": "retention"},
    "mailpieces.tasks.sweep_proofs": {"queue": "monitoring"},
    "calltracking.tasks.sweep_recordings": {"queue": "monitoring"},
    "webhooks.tasks.sweep_messages": {"queue": "monitoring"},
    "mailpieces.print_run_tasks.sweep_print_runs": {"queue": "monitoring"},
    "calltracking.tasks.restore_archived_recording": {"queue": "retention"},
    "giftcards.tasks.expire_gift_cards": {"queue": "retention"},
    # Checks, alerts and measurements.
    "giftcards.tasks.check_pool_level_later": {"queue": "monitoring"},
    "ops.tasks.check_alerts": {"queue": "monitoring"},
    "ops.tasks.snapshot_database_size": {"queue": "monitoring"},
}
# Task modules beyond each app's tasks.py (which autodiscovery finds).
CELERY_IMPORTS = ["mailpieces.print_run_tasks"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Django's LOGGING (JSON in production, with the request id) also formats the worker's lines.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# django-celery-beat's scheduler, except that entries already in the database (perhaps edited by staff) are kept.
CELERY_BEAT_SCHEDULER = "ops.beat:DatabaseScheduler"
# Built in code; beat (or `manage.py beat_schedules`) adds the missing ones to the database where staff edit them.
CELERY_BEAT_SCHEDULE = {
    # Keeps the event partitions of the retention window and of the next three months (analytics.partitions).
    "analytics.maintain_partitions": {
        "task": "analytics.tasks.maintain_partitions",
        "schedule": crontab(hour=2, minute=0),
    },
    # Counts ingested batches whose on-commit run was lost (a broker outage); normally it finds none.
    "analytics.apply_rollups": {
        "task": "analytics.tasks.apply_rollups",
        "schedule": crontab(minute="*"),
    },
    # Delivers claimed cards whose on-commit dispatch was lost (a broker outage); normally it finds none.
    "giftcards.dispatch_deliveries": {
        "task": "giftcards.tasks.dispatch_deliveries",
        "schedule": crontab(minute="*"),
    },
    # Hands out again the queued cards whose task never came; flags sends that never reported back.
    "giftcards.sweep_deliveries": {
        "task": "giftcards.tasks.sweep_deliveries",
        "schedule": crontab(minute="*"),
    },
    # Queues again the imports whose message was lost or whose worker died; fails those that killed every worker.
    "campaigns.sweep_imports": {"task": "campaigns.tasks.sweep_imports", "schedule": crontab(minute="*")},
    # Deletes the dashboard uploads whose columns were never mapped (STAGED_IMPORT_MAX_AGE_SECONDS).
    "campaigns.purge_staged_imports": {"task": "campaigns.tasks.purge_staged_imports",
                                       "schedule": crontab(minute="17")},
    # Resumes the print runs whose message was lost or whose worker died; fails those that killed every worker.
    "mailpieces.sweep_print_runs": {"task": "mailpieces.print_run_tasks.sweep_print_runs",
                                    "schedule": crontab(minute="*")},
    # Marks as mailed the pieces of campaigns whose on-commit record_mailing was lost.
    "campaigns.sweep_mailings": {"task": "campaigns.tasks.sweep_mailings", "schedule": crontab(minute="*/10")},
    # Queues again the proofs whose message was lost; fails those whose worker died.
    "mailpieces.sweep_proofs": {"task": "mailpieces.tasks.sweep_proofs", "schedule": crontab(minute="*")},
    # Queues again recording downloads and restores whose message was lost.
    "calltracking.sweep_recordings": {"task": "calltracking.tasks.sweep_recordings", "schedule": crontab(minute="*/5")},
    # Webhook deliveries whose worker died, retries now due, messages whose task was lost.
    "webhooks.sweep_messages": {"task": "webhooks.tasks.sweep_messages", "schedule": crontab(minute="*")},
    # Unclaimed cards past their expiry date leave the stock, just after midnight UTC.
    "giftcards.expire_gift_cards": {
        "task": "giftcards.tasks.expire_gift_cards",
        "schedule": crontab(hour=0, minute=5),
    },
    # Retention, one entry per job (see ops/retention.py), daily at 02:00 UTC.
    **{
        f"ops.retention.{job}": {
            "task": "ops.tasks.run_retention_job",
            "schedule": crontab(hour=2, minute=0),
            "kwargs": {"job": job},
        }
        for job in ("events", "recordings", "recipients", "gift_card_logs", "audit_logs", "event_ingest_keys",
                    "webhook_messages")
    },
    "ops.check_alerts": {"task": "ops.tasks.check_alerts", "schedule": crontab()},
    # Retention runs left `running` by a process that died are closed as failed.
    "ops.close_dead_retention_runs": {"task": "ops.tasks.close_dead_retention_runs", "schedule": crontab(minute="*/5")},
    "ops.snapshot_database_size": {
        "task": "ops.tasks.snapshot_database_size",
        "schedule": crontab(hour=0, minute=5),
    },
}

# --- Operations: retention, cold storage, monitoring, alerts ------------------------------------
# How long data is kept, in days: events 2 years, recordings 1 year (then cold storage), recipients 3 years
# after their campaign ended (then soft-deleted and their personal fields cleared), gift-card logs 7 years,
# audit logs 5 years. Campaigns are kept for ever.
RETENTION_DAYS = {
    "events": env_int("RETENTION_EVENTS_DAYS", 730),
    "recordings": env_int("RETENTION_RECORDINGS_DAYS", 365),
    "recipients": env_int("RETENTION_RECIPIENTS_DAYS", 1095),
    "gift_card_logs": env_int("RETENTION_GIFT_CARD_LOGS_DAYS", 2557),
    "audit_logs": env_int("RETENTION_AUDIT_LOGS_DAYS", 1826),
    # An integrator retries a batch within minutes or days, not weeks.
    "event_ingest_keys": env_int("RETENTION_EVENT_INGEST_KEYS_DAYS", 30),
    # Integrators replay what they missed within days; the delivery log is for debugging, not an archive.
    "webhook_messages": env_int("RETENTION_WEBHOOK_MESSAGES_DAYS", 30),
}
# Rows per statement: short transactions, no long locks.
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 5000)
# A recording brought back from cold storage stays playable this long before it is archived again.
RECORDING_RESTORE_KEEP_DAYS = env_int("RECORDING_RESTORE_KEEP_DAYS", 7)
# S3 storage class of archived recordings (GLACIER, DEEP_ARCHIVE, GLACIER_IR, STANDARD_IA ...).
RECORDING_ARCHIVE_STORAGE_CLASS = env("RECORDING_ARCHIVE_STORAGE_CLASS", "GLACIER")
# Days a thawed GLACIER object stays readable, and the retrieval tier.
RECORDING_ARCHIVE_RESTORE_DAYS = env_int("RECORDING_ARCHIVE_RESTORE_DAYS", 2)
RECORDING_ARCHIVE_RESTORE_TIER = env("RECORDING_ARCHIVE_RESTORE_TIER", "Standard")

# What the minute alert check compares against. DATABASE_CAPACITY_BYTES unset (0): no database size alert.
DATABASE_CAPACITY_BYTES = env_int("DATABASE_CAPACITY_BYTES", 0)
ALERT_THRESHOLDS = {
    "database_size_percent": env_int("ALERT_DATABASE_SIZE_PERCENT", 80),
    "connection_pool_percent": env_int("ALERT_CONNECTION_POOL_PERCENT", 90),
    "api_latency_p95_ms": env_int("ALERT_API_LATENCY_P95_MS", 500),
    "error_rate_percent": float(env("ALERT_ERROR_RATE_PERCENT", "1")),
    # Age of the oldest claimed card not known to have reached its recipient.
    "delivery_backlog_minutes": env_int("ALERT_DELIVERY_BACKLOG_MINUTES", 30),
}
# Latency and error rate are judged over this many recent minutes, once enough requests were seen.
ALERT_WINDOW_MINUTES = env_int("ALERT_WINDOW_MINUTES", 5)
ALERT_MIN_REQUESTS = env_int("ALERT_MIN_REQUESTS", 50)
# Which database alias the monitoring page reads PostgreSQL statistics from.
MONITORING_DATABASE = env("MONITORING_DATABASE", "default")
# /metrics answers a matching `Authorization: Bearer <token>` or a caller inside METRICS_ALLOWED_IPS (CIDRs).
METRICS_TOKEN = env("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "" if PRODUCTION else "127.0.0.1/32,::1/128")

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/app/login/"
LOGIN_REDIRECT_URL = "/app/"
LOGOUT_REDIRECT_URL = "/app/login/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media files -----------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Project-wide assets (the public pages' stylesheet) beside the project-wide templates/.
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / ("test-artifacts/media" if TESTING else "media"))))

# Files go to the local disk by default and to S3 (or any S3-compatible store) when a bucket
# is configured.
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    DEFAULT_FILE_STORAGE_CONFIG = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env("AWS_S3_ENDPOINT_URL"),
            "region_name": env("AWS_S3_REGION_NAME", "us-east-1"),
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": env_int("AWS_QUERYSTRING_EXPIRE", 300),
            "file_overwrite": False,
        },
    }
else:
    DEFAULT_FILE_STORAGE_CONFIG = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": MEDIA_URL},
    }

# Cold storage of year-old call recordings: another bucket (or a prefix of the same one) in a cheap storage class;
# on local disk, a folder outside MEDIA_ROOT so it is never served.
if AWS_STORAGE_BUCKET_NAME:
    RECORDING_ARCHIVE_STORAGE_CONFIG = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            **DEFAULT_FILE_STORAGE_CONFIG["OPTIONS"],
            "bucket_name": env("RECORDING_ARCHIVE_BUCKET", AWS_STORAGE_BUCKET_NAME),
            "location": env("RECORDING_ARCHIVE_PREFIX", "archive"),
            "file_overwrite": True,
        },
    }
else:
    RECORDING_ARCHIVE_STORAGE_CONFIG = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": Path(env("RECORDING_ARCHIVE_ROOT", f"{MEDIA_ROOT}-archive"))},
    }

STORAGES = {
    "default": DEFAULT_FILE_STORAGE_CONFIG,
    "recordings_archive": RECORDING_ARCHIVE_STORAGE_CONFIG,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        ),
    },
}

# --- Email ----------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Mobul <no-reply@mobul.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsTenantActor"],
    "DEFAULT_PAGINATION_CLASS": "mobul.api.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "accounts.api.filtering.TenantFilterBackend",
        "mobul.api.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "mobul.schema.AutoSchema",
    "EXCEPTION_HANDLER": "mobul.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.ApiRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["mobul.parsers.JSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Mobul API",
    "DESCRIPTION": "Measured direct-mail marketing: campaigns, recipients, gift cards, calls and events.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Docs assets are served from our own static files: no CDN needed.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One stable enum name per choice set, whichever serializer uses it.
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatusEnum": "campaigns.choices.CampaignStatus",
        "RecipientStatusEnum": "campaigns.choices.RecipientStatus",
        "ImportStatusEnum": "campaigns.choices.ImportStatus",
        "WebhookEventTypeEnum": "webhooks.choices.EventType",
        "WebhookMessageStatusEnum": "webhooks.choices.MessageStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mobul.schema.document_idempotency_key",
    ],
}

# --- Security -------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Everything the dashboard, the admin and the API docs load comes from our own origin: no inline code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Request bodies held in memory (JSON, forms): a full event batch fits; file uploads have their own limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # Health checks from the load balancer arrive over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOG_FORMAT = env("LOG_FORMAT", "json" if PRODUCTION else "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "mobul.middleware.RequestIdLogFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # A line per laid-out page at INFO: thousands for one print run.
        "weasyprint.progress": {"level": "WARNING"},
    },
}

# --- Mobul ----------------------------------------------------------------------------------
# Requests per window, counted in Redis by django-ratelimit (mobul.ratelimit): public redemption per IP and per
# token, API per key or user, webhooks: Twilio's new calls per tracking number, mail scans per client IP.
RATELIMIT_USE_CACHE = "default"
RATELIMITS = {
    "redemption": env("RATELIMIT_REDEMPTION", "10/m"),
    "api": env("RATELIMIT_API", "100/m"),
    "webhook": env("RATELIMIT_WEBHOOK", "50/m"),
    # Sign-in attempts (admin and dashboard), per client IP and per e-mail address tried.
    "login": env("RATELIMIT_LOGIN", "10/m"),
}
# How long the first response to an API POST's Idempotency-Key is kept and replayed.
IDEMPOTENCY_TTL_SECONDS = env_int("IDEMPOTENCY_TTL_SECONDS", 24 * 3600)
# Proxies (addresses or CIDRs) whose X-Forwarded-For is believed when finding the client's IP.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
# Refresh an API key's last_used_at at most this often, so authentication is not a write per request.
API_KEY_LAST_USED_RESOLUTION_SECONDS = env_int("API_KEY_LAST_USED_RESOLUTION_SECONDS", 60)
HEALTH_CHECK_TIMEOUT_SECONDS = env_int("HEALTH_CHECK_TIMEOUT_SECONDS", 2)
# A constant-answer view at /bench/constant/: the framework's ceiling in the HTTP load benchmark. Never in production.
BENCH_TRIVIAL_ENDPOINT = env_bool("BENCH_TRIVIAL_ENDPOINT", False) and not PRODUCTION
DEMO_PASSWORD = env("DEMO_PASSWORD", "mobul-demo-2026")
# Region assumed for phone numbers written without a country code.
DEFAULT_PHONE_REGION = env("DEFAULT_PHONE_REGION", "US")
# Shared secret the print vendor signs mail-tracking webhooks with (HMAC-SHA256 over "<timestamp>.<body>").
# No production default: unset, the webhook answers 503 and accepts nothing.
MAIL_WEBHOOK_SECRET = env("MAIL_WEBHOOK_SECRET", "" if PRODUCTION else "insecure-local-mail-webhook-secret")
# How far a signed request's timestamp may be from our clock; signatures are remembered for twice as long.
MAIL_WEBHOOK_TOLERANCE_SECONDS = env_int("MAIL_WEBHOOK_TOLERANCE_SECONDS", 300)
# Gift-card codes: Fernet keys, newest first (older ones still decrypt during a rotation), and the key of the
# lookup hash. Development derives both from SECRET_KEY; production must set them.
_derived_key = base64.urlsafe_b64encode(hashlib.sha256(f"gift-cards:{SECRET_KEY}".encode()).digest()).decode()
GIFT_CARD_ENCRYPTION_KEYS = env_list("GIFT_CARD_ENCRYPTION_KEYS", "" if PRODUCTION else _derived_key)
GIFT_CARD_HASH_KEY = env("GIFT_CARD_HASH_KEY", "" if PRODUCTION else f"gift-card-lookup:{SECRET_KEY}")
if PRODUCTION and not (GIFT_CARD_ENCRYPTION_KEYS and GIFT_CARD_HASH_KEY):
    raise ImproperlyConfigured("GIFT_CARD_ENCRYPTION_KEYS and GIFT_CARD_HASH_KEY must be set when MOBUL_ENV=production.")
# A recipient waits this long between two gift-card claims.
REDEMPTION_COOLDOWN_SECONDS = env_int("REDEMPTION_COOLDOWN_SECONDS", 300)
# A queued card whose delivery task is this late goes back to the outbox (a message lost with the broker).
# Longer than a busy queue's wait: a card handed out twice is only work wasted, never sent twice.
GIFT_CARD_DELIVERY_REQUEUE_SECONDS = env_int("GIFT_CARD_DELIVERY_REQUEUE_SECONDS", 600)
# The same while delivery messages wait in the broker: past the broker's redelivery of an unacked message
# (visibility timeout, 1 h with Redis), so a backlog gets at most one extra message per card an hour.
GIFT_CARD_DELIVERY_REQUEUE_BACKLOGGED_SECONDS = env_int("GIFT_CARD_DELIVERY_REQUEUE_BACKLOGGED_SECONDS", 3600)
# A send that has not reported back after this long is flagged unconfirmed for staff (its worker died).
# Longer than the delivery task's time limit (giftcards.tasks.DELIVERY_TIME_LIMIT_SECONDS).
GIFT_CARD_DELIVERY_SEND_TIMEOUT_SECONDS = env_int("GIFT_CARD_DELIVERY_SEND_TIMEOUT_SECONDS", 600)
# Gift-card SMS: "console" prints them (development), "twilio" sends them (needs the TWILIO_* settings).
SMS_BACKEND = env("SMS_BACKEND", "console")
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM_NUMBER = env("TWILIO_FROM_NUMBER", "")
# Recording downloads (sent with the account's credentials) only go to URLs under this address.
TWILIO_API_BASE_URL = env("TWILIO_API_BASE_URL", "https://api.twilio.com")
# How long a recording playback URL works, in seconds.
RECORDING_URL_MAX_AGE_SECONDS = env_int("RECORDING_URL_MAX_AGE_SECONDS", 300)
# Largest CSV accepted for an import, in bytes.
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 512 * 1024 * 1024)
# Imports' way out after a crash (campaigns/jobs.py). A running import's worker beats its heartbeat this often,
# waiting for locks included; a heartbeat this old means the worker died, and the sweeper queues the job again.
IMPORT_HEARTBEAT_SECONDS = env_int("IMPORT_HEARTBEAT_SECONDS", 30)
IMPORT_HEARTBEAT_TIMEOUT_SECONDS = env_int("IMPORT_HEARTBEAT_TIMEOUT_SECONDS", 300)
# A pending import whose task is this late is queued again (its message was lost, or waits behind long imports:
# then the extra message finds the job taken and does nothing).
IMPORT_REQUEUE_SECONDS = env_int("IMPORT_REQUEUE_SECONDS", 600)
# A job whose worker died on each of this many starts fails instead of taking down workers for ever.
IMPORT_MAX_ATTEMPTS = env_int("IMPORT_MAX_ATTEMPTS", 3)
# A dashboard upload waits this long for its columns to be mapped, then its file is deleted.
STAGED_IMPORT_MAX_AGE_SECONDS = env_int("STAGED_IMPORT_MAX_AGE_SECONDS", 24 * 3600)
# Print runs (mailpieces/print_runs.py): pieces per PDF file, and their way out after a crash. A running run beats
# its heartbeat after each document it renders (at most 100 pieces); one this old means its worker died, and the
# sweeper queues the run again, to resume at its first chunk not stored.
PRINT_RUN_CHUNK_PIECES = env_int("PRINT_RUN_CHUNK_PIECES", 1000)
PRINT_RUN_HEARTBEAT_TIMEOUT_SECONDS = env_int("PRINT_RUN_HEARTBEAT_TIMEOUT_SECONDS", 300)
PRINT_RUN_REQUEUE_SECONDS = env_int("PRINT_RUN_REQUEUE_SECONDS", 600)
# A chunk whose worker died on each of this many starts fails the run instead of taking down workers for ever.
PRINT_RUN_MAX_ATTEMPTS = env_int("PRINT_RUN_MAX_ATTEMPTS", 3)
# A proof's worker records each piece it finishes; one silent this long is dead, and its proof fails (a proof of
# a few pieces takes seconds). A pending proof's message is sent again once this late.
PROOF_TIMEOUT_SECONDS = env_int("PROOF_TIMEOUT_SECONDS", 600)
PROOF_REQUEUE_SECONDS = env_int("PROOF_REQUEUE_SECONDS", 120)
# A campaign mailed this long ago whose pieces are still pending gets its lost record_mailing run again.
MAILING_REQUEUE_SECONDS = env_int("MAILING_REQUEUE_SECONDS", 600)
# A recording download whose task is this late is queued again, at most RECORDING_MAX_REQUEUES times before the
# recording is marked failed (staff can retry it); a restore from cold storage likewise.
RECORDING_REQUEUE_SECONDS = env_int("RECORDING_REQUEUE_SECONDS", 900)
RECORDING_MAX_REQUEUES = env_int("RECORDING_MAX_REQUEUES", 3)
# Largest upload Django keeps in memory before spooling it to a temporary file.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# Outbound webhooks (webhooks/): plain http and private, loopback or link-local addresses (tests, a receiver on this
# machine) never in production, whatever the environment says.
WEBHOOKS_ALLOW_HTTP = env_bool("WEBHOOKS_ALLOW_HTTP", True) and not PRODUCTION
WEBHOOKS_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", False) and not PRODUCTION
WEBHOOKS_CONNECT_TIMEOUT_SECONDS = env_int("WEBHOOKS_CONNECT_TIMEOUT_SECONDS", 3)
WEBHOOKS_READ_TIMEOUT_SECONDS = env_int("WEBHOOKS_READ_TIMEOUT_SECONDS", 10)
# A delivering message whose worker has not reported back this long after it began is sent again (worker died).
WEBHOOKS_LEASE_SECONDS = env_int("WEBHOOKS_LEASE_SECONDS", 60)
# Deliveries of one endpoint running at once: a dead endpoint never holds more worker slots than this.
WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT = env_int("WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT", 2)
# A due message whose task has not come this long after it was queued is queued again (longer while the queue is
# backlogged: past the broker's visibility timeout).
WEBHOOKS_REQUEUE_SECONDS = env_int("WEBHOOKS_REQUEUE_SECONDS", 120)
WEBHOOKS_REQUEUE_BACKLOGGED_SECONDS = env_int("WEBHOOKS_REQUEUE_BACKLOGGED_SECONDS", 3600)
# After a secret rotation the previous secret also signs for this long.
WEBHOOKS_SECRET_OVERLAP_SECONDS = env_int("WEBHOOKS_SECRET_OVERLAP_SECONDS", 24 * 3600)
# An endpoint is disabled after this many failed attempts in a row spanning more than this long.
WEBHOOKS_DISABLE_AFTER_FAILURES = env_int("WEBHOOKS_DISABLE_AFTER_FAILURES", 10)
WEBHOOKS_DISABLE_AFTER_SECONDS = env_int("WEBHOOKS_DISABLE_AFTER_SECONDS", 24 * 3600)
# "Which event types does client X have an endpoint for", kept in Redis at most this long (cleared on changes).
WEBHOOKS_SUBSCRIPTIONS_CACHE_SECONDS = env_int("WEBHOOKS_SUBSCRIPTIONS_CACHE_SECONDS", 60)
