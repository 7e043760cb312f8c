"""Switchboard settings: one module, configured by environment variables.

With nothing set it runs on SQLite, a file cache and Celery's filesystem broker (``make run``);
``DATABASE_URL`` and ``REDIS_URL`` switch it to PostgreSQL and Redis.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("SWITCHBOARD_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# With DEBUG off, the production entry points refuse to start on this key (inbox.checks).
DEVELOPMENT_SECRET_KEY = "django-insecure-switchboard-development-only"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
# Previous keys, still accepted for sessions and signatures while rotating SECRET_KEY.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Fernet keys (comma-separated, newest first) for credentials and webhook secrets at rest.
# Required with DEBUG off; in development a key is derived from SECRET_KEY (and its fallbacks).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEY", default=[])
# Public base URL printed for webhook set-up (add_channel); the request's host is used otherwise.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "django_htmx",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's assets, served by the app (no CDN)
    "inbox",
    "relationships",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "inbox.web.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "config.urls"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "inbox:index"
LOGOUT_REDIRECT_URL = "login"
WSGI_APPLICATION = "config.wsgi.application"

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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'switchboard.sqlite3'}"),
}
# Connections are kept between requests: opening one costs more than a webhook's own work. They
# are not checked before each request (that is a round trip per request too): after a database
# restart, each process's next request fails once — a webhook answers 503, the platform retries.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", env.bool("CONN_HEALTH_CHECKS", default=False))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and scheduler share the file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "switchboard",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # WhiteNoise serves STATIC_ROOT (fill it with `manage.py collectstatic`), compressed.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# TLS is terminated by the proxy in front; it also redirects plain HTTP (or set these).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 3600)
# Trust a proxy's "this was HTTPS" header only when told which one (e.g.
# "HTTP_X_FORWARDED_PROTO,https"): trusting it without such a proxy lets clients forge it.
if _proxy_header := env.list("SECURE_PROXY_SSL_HEADER", default=[]):
    SECURE_PROXY_SSL_HEADER = tuple(_proxy_header)
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "inbox.api.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "inbox.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "inbox.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["inbox.api.throttling.WriteThrottle"],
}
# Writes (POST, PATCH, PUT, DELETE) per user and period (second, minute, hour, day); empty: none.
API_WRITE_RATE = env.str("API_WRITE_RATE", default="600/minute")
SPECTACULAR_SETTINGS = {
    "TITLE": "Switchboard API",
    "DESCRIPTION": "The unified inbox: conversations, messages, replies and relationships.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "inbox.api.webhook_schema.add_webhooks",
    ],
    # Choice sets sharing a field name ("status", "direction"): each its own named enum.
    "ENUM_NAME_OVERRIDES": {
        "MessageStatusEnum": "inbox.models.messages.MessageStatus",
        "RelationshipStatusEnum": "relationships.models.RelationshipStatus",
        "ConversationStatusEnum": [("open", "Open"), ("closed", "Closed"), ("deleted", "Deleted")],
        "MessageDirectionEnum": [("in", "In"), ("out", "Out")],
        "RelationshipDirectionEnum": "relationships.models.Relationship.Direction",
    },
}

# --- Celery ------------------------------------------------------------------------------------
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
else:
    # Zero-setup default: a broker in plain files that web, worker and scheduler share.
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "broker"),
        "data_folder_out": str(VAR_DIR / "broker"),
        "processed_folder": str(VAR_DIR / "broker-processed"),
        "control_folder": str(VAR_DIR / "broker-control"),  # not the working directory
        "store_processed": False,
    }
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=CELERY_BROKER_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = False

# --- The way in -----------------------------------------------------------------------------
WEBHOOK_MAX_BODY_BYTES = 1024 * 1024
INBOUND_BATCH_SIZE = env.int("INBOUND_BATCH_SIZE", default=500)
INBOUND_MAX_ATTEMPTS = env.int("INBOUND_MAX_ATTEMPTS", default=8)
# The sweeper leaves events this young to the task queued for them.
INBOUND_SWEEP_GRACE_SECONDS = env.int("INBOUND_SWEEP_GRACE_SECONDS", default=30)
INBOUND_SWEEP_INTERVAL_SECONDS = env.int("INBOUND_SWEEP_INTERVAL_SECONDS", default=30)
# After the broker refused a wake-up, requests skip it this long (the sweeper covers them).
INBOUND_WAKEUP_BACKOFF_SECONDS = env.int("INBOUND_WAKEUP_BACKOFF_SECONDS", default=10)
# Processed and ignored events (and requests left without events) are deleted after this long;
# failed ones are kept.
INBOUND_RETENTION_DAYS = env.int("INBOUND_RETENTION_DAYS", default=30)
INBOUND_PRUNE_INTERVAL_SECONDS = env.int("INBOUND_PRUNE_INTERVAL_SECONDS", default=3600)

# The way out: commands claimed per batch, attempts before a command fails for good, and how
# often the sweeper looks for commands nobody was woken for.
OUTBOUND_BATCH_SIZE = env.int("OUTBOUND_BATCH_SIZE", default=20)
OUTBOUND_MAX_ATTEMPTS = env.int("OUTBOUND_MAX_ATTEMPTS", default=8)
OUTBOUND_SWEEP_INTERVAL_SECONDS = env.int("OUTBOUND_SWEEP_INTERVAL_SECONDS", default=30)
# Polling (the safety net under webhooks): how often beat looks for channels due a poll (each
# channel's own poll_interval says when it is due), and the longest wait after failed polls.
POLL_SCHEDULE_SECONDS = env.int("POLL_SCHEDULE_SECONDS", default=15)
POLL_MAX_BACKOFF_SECONDS = env.int("POLL_MAX_BACKOFF_SECONDS", default=3600)
# Attachment downloads: every sweep retries what is still pending; an attachment whose message
# arrived longer ago than DOWNLOAD_GIVE_UP_SECONDS and still fails is failed for good.
DOWNLOAD_SWEEP_INTERVAL_SECONDS = env.int("DOWNLOAD_SWEEP_INTERVAL_SECONDS", default=60)
DOWNLOAD_GIVE_UP_SECONDS = env.int("DOWNLOAD_GIVE_UP_SECONDS", default=2 * 24 * 3600)
DOWNLOAD_BATCH_SIZE = env.int("DOWNLOAD_BATCH_SIZE", default=50)
# Files uploaded ahead of a reply (POST /api/v1/uploads/) that no reply took are deleted after
# this long, by a sweep every UPLOAD_SWEEP_INTERVAL_SECONDS.
UPLOAD_LIFETIME_SECONDS = env.int("UPLOAD_LIFETIME_SECONDS", default=24 * 3600)
UPLOAD_SWEEP_INTERVAL_SECONDS = env.int("UPLOAD_SWEEP_INTERVAL_SECONDS", default=3600)
TYPING_TTL_SECONDS = env.int("TYPING_TTL_SECONDS", default=8)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
