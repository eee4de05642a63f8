"""Telemed settings: read only from the environment (and `.env`), with embedded defaults.

Unset means the embedded default: SQLite (WAL), an in-memory channel layer, a local-memory
cache, files under var/, Celery on kombu's filesystem transport, email to the console.
See README.md ("Configuration") for every variable.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from telemed.env import (
    env_bool,
    env_database_url,
    env_email_url,
    env_encryption_keys,
    env_int,
    env_list,
    env_str,
    read_dotenv,
)

BASE_DIR = Path(__file__).resolve().parent.parent
read_dotenv(BASE_DIR / ".env")

VAR_DIR = Path(env_str("TELEMED_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Set by pytest (pyproject.toml [tool.pytest.ini_options] env): fast hasher, finder-served static.
TESTING = env_bool("TELEMED_TESTING", False)
DEBUG = env_bool("DEBUG", False)

_DEV_SECRET = "insecure-development-key-only-for-debug-and-tests-never-in-production-0123456789"
if DEBUG or TESTING:
    SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET)
else:
    SECRET_KEY = env_str("SECRET_KEY")
    if SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be a random value of at least 50 characters when DEBUG=0.")

# Keyed HMAC for the audit hash chain. Kept out of the database so that someone who can
# write the audit table cannot recompute a valid chain.
AUDIT_HMAC_KEY = env_str("AUDIT_HMAC_KEY", "" if not (DEBUG or TESTING) else "insecure-audit-key-for-debug-and-tests")
if not AUDIT_HMAC_KEY:
    raise ImproperlyConfigured("AUDIT_HMAC_KEY is required when DEBUG=0 (a random value of at least 32 characters).")

# Keys of encryption at rest (telemed.crypto): "<key id>:<base64 of 32 bytes>,...". The first
# encrypts, every one decrypts; rotating prepends a key. Kept out of the database so that a
# dump (or the storage bucket) without them is ciphertext. See docs/security.md.
_DEV_FIELD_KEY = b"insecure-development-field-key!!"  # 32 bytes, published: development only
FIELD_ENCRYPTION_KEYS = env_encryption_keys(
    "FIELD_ENCRYPTION_KEYS", f"dev:{base64.b64encode(_DEV_FIELD_KEY).decode()}" if (DEBUG or TESTING) else ""
)
if not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS is required when DEBUG=0: <key id>:<base64 of 32 random bytes> (docs/security.md)."
    )
if not (DEBUG or TESTING) and _DEV_FIELD_KEY in FIELD_ENCRYPTION_KEYS.values():
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must not contain the development key when DEBUG=0.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if (DEBUG or TESTING) else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Proxies whose X-Forwarded-For we believe (see telemed.middleware.client_ip).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")
CLINIC_NAME = env_str("CLINIC_NAME", "Telemed Demo Clinic")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "telemed",
    "accounts",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    # After axes: its failed-login receiver must run first (ours audits whether it locked out).
    "accounts.mfa",
    "audit",
    "appointments",
    "records",
    "prescriptions",
    "messaging",
    "media_relay",
]

MIDDLEWARE = [
    "telemed.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditContextMiddleware",
    # Anywhere after AuthenticationMiddleware (the audit context sits right after it by contract).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Idle/absolute timeouts and ended sessions, then staff without a verified OTP device.
    "accounts.middleware.SessionSecurityMiddleware",
    "accounts.middleware.StaffOtpRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes requires: it turns a lockout flagged during the view into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "telemed.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "telemed.asgi.application"

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
                "csp.context_processors.nonce",
                "telemed.context_processors.portal",
                "accounts.context_processors.acting_for",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
_pg = env_database_url("DATABASE_URL")
_pg_pool = env_bool("DATABASE_POOL", True)
if _pg:
    DATABASES = {
        "default": {
            **_pg,
            # A connection pool per process (psycopg_pool), not persistent connections: under
            # ASGI every concurrent request runs its sync code in a thread of its own, and a
            # persistent connection per thread piled up to "too many clients" under load
            # (measured by bench/bench_api_slots.py). The pool bounds a process's connections
            # and hands a checked one to each request. DATABASE_POOL=0 goes back to
            # per-thread connections kept DATABASE_CONN_MAX_AGE seconds.
            "CONN_MAX_AGE": 0 if _pg_pool else env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
            "CONN_HEALTH_CHECKS": not _pg_pool,
            # A dead database must fail a request (and /readyz) quickly, not hang a worker.
            "OPTIONS": {
                "connect_timeout": env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1),
                **(
                    {
                        "pool": {
                            "min_size": env_int("DATABASE_POOL_MIN_SIZE", 1, minimum=0),
                            "max_size": env_int("DATABASE_POOL_MAX_SIZE", 8, minimum=1),
                            # Seconds a request waits for a free connection before failing.
                            "timeout": env_int("DATABASE_POOL_TIMEOUT", 10, minimum=1),
                        }
                    }
                    if _pg_pool
                    else {}
                ),
                **_pg.get("OPTIONS", {}),
            },
            "ATOMIC_REQUESTS": False,
            "TEST": {"NAME": env_str("DATABASE_TEST_NAME", f"test_{_pg['NAME']}")},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            # DATABASE_SQLITE_PATH: another file, e.g. a test's database shared with a worker process.
            "NAME": Path(env_str("DATABASE_SQLITE_PATH", str(VAR_DIR / "db.sqlite3"))),
            "OPTIONS": {
                # WAL lets readers work while one writer commits; IMMEDIATE takes the write
                # lock at BEGIN so two transactions never deadlock upgrading a read lock.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            },
            # A file (not :memory:) so the live ASGI server process of browser tests shares it.
            "TEST": {"NAME": str(VAR_DIR / "test-db.sqlite3")},
        }
    }
DATABASE_IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, Celery -------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://")):
    raise ImproperlyConfigured("REDIS_URL must be a redis:// or rediss:// URL.")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # redis-py waits forever by default: a hung Redis would hang every request using the cache.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1500, "expiry": 10},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "telemed"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Celery: Redis when configured, otherwise kombu's filesystem transport, which needs no
# server, so that beat + worker really run scheduled work under `make run`.
CELERY_BROKER_DIR = VAR_DIR / "celery" / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 300}
else:
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
    CELERY_BROKER_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR),
        "data_folder_out": str(CELERY_BROKER_DIR),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        # kombu otherwise writes its exchange bindings to ./control in the working directory.
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celery" / "beat-schedule")
CELERY_BEAT_SCHEDULE: dict = {
    "telemed-heartbeat": {
        "task": "telemed.tasks.heartbeat",
        "schedule": float(env_int("CELERY_HEARTBEAT_SECONDS", 30, minimum=1)),
    },
    # The notification outbox: claims due rows and enqueues their delivery (messaging.tasks).
    "messaging-notifications-sweep": {
        "task": "messaging.tasks.notifications_sweep",
        "schedule": float(env_int("NOTIFICATIONS_SWEEP_SECONDS", 15, minimum=1)),
    },
    # Waitlist offers past their hold: expire them and pass the slot on (appointments.tasks).
    "appointments-waitlist-offers-expire": {
        "task": "appointments.tasks.waitlist_offers_expire",
        "schedule": float(env_int("WAITLIST_SWEEP_SECONDS", 30, minimum=1)),
    },
    # Stored documents with no row (an upload that died before committing): removed once
    # older than DOCUMENT_ORPHAN_AGE_SECONDS (records.tasks).
    "records-documents-sweep-orphans": {
        "task": "records.tasks.documents_sweep_orphans",
        "schedule": float(env_int("DOCUMENT_SWEEP_SECONDS", 900, minimum=1)),
    },
}

# --- Storage ------------------------------------------------------------------------------
MEDIA_ROOT = VAR_DIR / "media"
S3_BUCKET = env_str("S3_BUCKET", "")
if S3_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_str("S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("S3_REGION", "") or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID", "") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY", "") or None,
            "default_acl": None,
            "file_overwrite": False,
            "querystring_expire": 60,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": None},
    }

# --- Documents (records) ----------------------------------------------------------------------
# The largest document accepted; a larger request is refused from its Content-Length (or once
# that many bytes have arrived) before the body is buffered (telemed.asgi_limits).
RECORDS_MAX_UPLOAD_BYTES = env_int("RECORDS_MAX_UPLOAD_BYTES", 20 * 1024 * 1024, minimum=1024)
# Uploads spool to disk beyond this, never wholly in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
# ClamAV: "tcp://host:3310" or "unix:///run/clamav/clamd.ctl"; unset: documents are stored
# "not scanned" (and shown so).
CLAMD_URL = env_str("CLAMD_URL", "")
CLAMD_TIMEOUT_SECONDS = env_int("CLAMD_TIMEOUT_SECONDS", 30, minimum=1)
# An object in the documents prefix with no row after this long is an orphan (an upload that
# died between storing and committing) and the sweeper removes it.
DOCUMENT_ORPHAN_AGE_SECONDS = env_int("DOCUMENT_ORPHAN_AGE_SECONDS", 3600, minimum=60)

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every start without it
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Tests and DEBUG serve straight from the finders; production from collectstatic's output.
WHITENOISE_USE_FINDERS = DEBUG or TESTING
WHITENOISE_AUTOREFRESH = DEBUG

# --- Email ----------------------------------------------------------------------------------
_email = env_email_url("EMAIL_URL", "consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
if EMAIL_BACKEND.endswith("filebased.EmailBackend"):
    EMAIL_FILE_PATH = str(BASE_DIR / (_email.get("EMAIL_FILE_PATH") or "var/mail"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Telemed <no-reply@telemed.invalid>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# A provider that hangs must not hold a delivery (and its row lock) for ever.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)

# --- Notification outbox (messaging) ----------------------------------------------------------
# How long a claimed notification waits for its worker before the sweeper claims it again:
# the delay after a worker crash or a flushed broker. Keep it above the slowest provider call.
NOTIFICATIONS_CLAIM_LEASE_SECONDS = env_int("NOTIFICATIONS_CLAIM_LEASE_SECONDS", 300, minimum=1)

# --- SMS (messaging.sms) ------------------------------------------------------------------------
# A dotted path to an SmsGateway; the default appends one JSON line per SMS to SMS_OUTBOX_PATH.
SMS_BACKEND = env_str("SMS_BACKEND", "messaging.sms.FileSmsGateway")
SMS_OUTBOX_PATH = VAR_DIR / "sms" / "outbox.jsonl"

# --- Auth -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# django-axes first: it refuses a locked-out username or address before the password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
# Two independent counters: one per account (whatever address), one per address (whatever account).
AXES_LOCKOUT_PARAMETERS = [["username"], ["ip_address"]]
# The address as telemed.middleware.client_ip tells it: X-Forwarded-For only from TRUSTED_PROXIES,
# so a client cannot dodge or reset the per-address counter by sending its own header.
AXES_CLIENT_IP_CALLABLE = "telemed.middleware.client_ip"
# "Doctor@X" and "doctor@x" are one account (email is case-insensitive): one counter.
AXES_USERNAME_CALLABLE = "accounts.middleware.axes_username"
AXES_LOCKOUT_CALLABLE = "accounts.views.login.lockout_response"
AXES_RESET_ON_SUCCESS = False
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password", "csrfmiddlewaretoken"]
# Unlocking is audited on the portal's page (accounts:staff_unlock); axes' own admin would
# let an admin delete failure records with no trace.
AXES_ENABLE_ADMIN = False

# Sessions: idle limits by role and an absolute limit (accounts.middleware.SessionSecurityMiddleware).
SESSION_IDLE_TIMEOUT_STAFF_SECONDS = 15 * 60
SESSION_IDLE_TIMEOUT_PATIENT_SECONDS = 30 * 60
SESSION_ABSOLUTE_TIMEOUT_SECONDS = 12 * 60 * 60
# The warning dialog opens this long before the idle limit (static/js/session-timeout.js).
SESSION_TIMEOUT_WARNING_SECONDS = 2 * 60
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT_SECONDS

OTP_TOTP_ISSUER = CLINIC_NAME
# A password-checked user has this long to type the code of the challenge step.
MFA_CHALLENGE_TIMEOUT_SECONDS = 5 * 60

if TESTING:
    # Tests create hundreds of users; the hasher's cost is not what they test.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Security ---------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Django's own CSRF failure page uses inline styles, which our CSP blocks.
CSRF_FAILURE_VIEW = "telemed.views.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG and not TESTING:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # On by default so `check --deploy` is clean; an operator whose subdomains are not all
    # on HTTPS turns it off (the header alone submits nothing to the preload list).
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz and /readyz are probed over plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# Content Security Policy (django-csp 4): no inline script, no third-party origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'", "ws:", "wss:"] if (DEBUG or TESTING) else ["'self'", "wss:"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api.authentication.OtpAwareJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Staff roles reach nothing but /me/ and the auth endpoints without an OTP-verified login.
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.api.permissions.StaffOtpVerified",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "telemed.api.pagination.DefaultPagination",
    "PAGE_SIZE": 20,
    # DRF's own classes would count by whatever X-Forwarded-For the client sends.
    "DEFAULT_THROTTLE_CLASSES": [
        "telemed.api.throttling.AnonRateThrottle",
        "telemed.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "60/min"),
        "user": env_str("API_THROTTLE_USER", "600/min"),
        # Sign-in (token) and registration endpoints, per client IP.
        "auth": env_str("API_THROTTLE_AUTH", "10/min"),
        # The public prescription check and dispense (prescriptions.api), per client IP.
        "rx_verify": env_str("RX_VERIFY_RATE", "30/min"),
        "rx_dispense": env_str("RX_DISPENSE_RATE", "10/min"),
    },
    "EXCEPTION_HANDLER": "telemed.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# JWT for mobile clients (accounts.api): short access tokens, rotated refresh tokens whose reuse
# revokes their family, revoked on password change (the claim hashes the password hash).
if DEBUG or TESTING:
    JWT_SIGNING_KEY = env_str("JWT_SIGNING_KEY", SECRET_KEY)
else:
    JWT_SIGNING_KEY = env_str("JWT_SIGNING_KEY")
    if len(JWT_SIGNING_KEY) < 50:
        raise ImproperlyConfigured("JWT_SIGNING_KEY must be a random value of at least 50 characters when DEBUG=0.")
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": dt.timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": dt.timedelta(days=14),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "AUDIENCE": env_str("JWT_AUDIENCE", "telemed-api"),
    "ISSUER": env_str("JWT_ISSUER", SITE_URL),
    "LEEWAY": 0,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "USER_AUTHENTICATION_RULE": "accounts.services.tokens.user_may_authenticate",
    "CHECK_USER_IS_ACTIVE": True,
    "CHECK_REVOKE_TOKEN": True,
    "REVOKE_TOKEN_CLAIM": "pwd",
}
# Seconds a WebSocket ticket (POST /api/v1/auth/ws-ticket/) stays usable, once.
WS_TICKET_SECONDS = 30

SPECTACULAR_SETTINGS = {
    "TITLE": "Telemed API",
    "DESCRIPTION": "REST API of the Telemed telemedicine portal (versioned under /api/v1/).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from our own static files: no CDN, and the CSP forbids third-party scripts.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Choice sets shared by several components get one name (otherwise a hash-suffixed one).
    "ENUM_NAME_OVERRIDES": {
        # Allergies and problems: active, inactive, resolved (and entered in error).
        "ClinicalStatusEnum": "records.models.AllergyStatus",
        "ClinicalStatusSettableEnum": "records.api.serializers.CLINICAL_STATUS_SETTABLE",
        # Two apps have a Route and a Severity: name each, so records' names stay as they were.
        "RouteEnum": "records.models.Route",
        "SeverityEnum": "records.models.Severity",
        "PrescriptionRouteEnum": "prescriptions.models.Route",
        "PrescriptionStatusEnum": "prescriptions.models.PrescriptionStatus",
        "WarningSeverityEnum": "prescriptions.models.WarningSeverity",
        # Messaging's `kind` and `status` are a conversation's; a safety warning's kind keeps its name.
        "KindEnum": "prescriptions.models.WarningKind",
        "ConversationKindEnum": "messaging.models.ConversationKind",
        "QueryStatusEnum": "messaging.models.QueryStatus",
    },
}

# --- Logging -------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_JSON = env_bool("LOG_JSON", not DEBUG)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "telemed.logging.RequestIdFilter"},
        "redact": {"()": "telemed.logging.RedactingFilter"},
    },
    "formatters": {
        "json": {"()": "telemed.logging.JsonFormatter"},
        "plain": {
            "()": "telemed.logging.PlainFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id", "redact"],
            "formatter": "json" if LOG_JSON else "plain",
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "daphne": {"level": "INFO"},
        # Naming "django" drops the handlers of Django's DEFAULT_LOGGING (an unfiltered console
        # under DEBUG, mail_admins with the request): every line goes through the redacting handler.
        "django": {"level": "INFO"},
    },
}

# --- Portal ----------------------------------------------------------------------------------
TURN_URLS = env_list("TURN_URLS")
TURN_SECRET = env_str("TURN_SECRET", "")
