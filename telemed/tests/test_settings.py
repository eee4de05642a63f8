"""Settings load in every documented configuration; a malformed one stops the process.

Each configuration runs in a fresh interpreter: settings are read once per process.
"""

import json

import pytest

from telemed.tests.processes import project_env, run_python

_REPORT = """
import json
import django
django.setup()
from django.conf import settings
from django.core.files.storage import storages
storage = storages["default"]
print(json.dumps({
    "database": settings.DATABASES["default"]["ENGINE"],
    "database_name": str(settings.DATABASES["default"]["NAME"]),
    "database_host": settings.DATABASES["default"].get("HOST"),
    "cache": settings.CACHES["default"]["BACKEND"],
    "cache_location": settings.CACHES["default"]["LOCATION"],
    "channel_layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "broker": settings.CELERY_BROKER_URL,
    "storage": type(storage).__name__,
    "storage_bucket": getattr(storage, "bucket_name", None),
    "storage_location": getattr(storage, "location", None),
    "email_backend": settings.EMAIL_BACKEND,
    "email_host": settings.EMAIL_HOST,
    "email_port": settings.EMAIL_PORT,
    "email_user": settings.EMAIL_HOST_USER,
    "email_tls": settings.EMAIL_USE_TLS,
    "heartbeat_seconds": settings.CELERY_BEAT_SCHEDULE["telemed-heartbeat"]["schedule"],
}))
"""


def _load(tmp_path, **env):
    result = run_python(_REPORT, project_env(tmp_path, **env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_unset_means_the_embedded_defaults(tmp_path):
    loaded = _load(tmp_path)

    assert loaded["database"] == "django.db.backends.sqlite3"
    assert loaded["database_name"] == str(tmp_path / "db.sqlite3")
    assert loaded["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert loaded["channel_layer"] == "channels.layers.InMemoryChannelLayer"
    assert loaded["broker"] == "filesystem://"
    assert loaded["storage"] == "FileSystemStorage"
    assert loaded["storage_location"] == str(tmp_path / "media")
    assert loaded["email_backend"] == "django.core.mail.backends.console.EmailBackend"
    assert loaded["heartbeat_seconds"] == 30.0


def test_database_url_and_redis_url_select_postgres_and_redis(tmp_path):
    loaded = _load(
        tmp_path,
        DATABASE_URL="postgres://telemed:pw@db.internal:5432/telemed",
        REDIS_URL="redis://redis.internal:6379/2",
    )

    assert loaded["database"] == "django.db.backends.postgresql"
    assert (loaded["database_name"], loaded["database_host"]) == ("telemed", "db.internal")
    assert loaded["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert loaded["cache_location"] == "redis://redis.internal:6379/2"
    assert loaded["channel_layer"] == "channels_redis.core.RedisChannelLayer"
    assert loaded["broker"] == "redis://redis.internal:6379/2"


def test_s3_bucket_selects_s3_storage(tmp_path):
    loaded = _load(
        tmp_path,
        S3_BUCKET="telemed-documents",
        S3_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
    )

    assert loaded["storage"] == "S3Storage"
    assert loaded["storage_bucket"] == "telemed-documents"


def test_email_url_selects_smtp(tmp_path):
    loaded = _load(tmp_path, EMAIL_URL="smtp+tls://mailer:pw@mail.example.test:587")

    assert loaded["email_backend"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (loaded["email_host"], loaded["email_port"], loaded["email_user"]) == ("mail.example.test", 587, "mailer")
    assert loaded["email_tls"] is True


def test_the_heartbeat_interval_comes_from_the_environment(tmp_path):
    assert _load(tmp_path, CELERY_HEARTBEAT_SECONDS="2")["heartbeat_seconds"] == 2.0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REDIS_URL", "http://redis.internal:6379/0"),
        ("DATABASE_URL", "mysql://u:p@db/telemed"),
        ("EMAIL_URL", "carrier-pigeon://coop"),
        ("DEBUG", "maybe"),
        ("CELERY_HEARTBEAT_SECONDS", "0"),
        ("FIELD_ENCRYPTION_KEYS", "k1:bm90LTMyLWJ5dGVz"),
    ],
)
def test_a_malformed_value_stops_the_process_naming_the_variable(tmp_path, variable, value):
    result = run_python(_REPORT, project_env(tmp_path, **{variable: value}))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr.strip().splitlines()[-1]
