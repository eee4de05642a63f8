"""/readyz answers for every dependency, and names the one that really fails.

Failures are real: a Redis port nobody listens on, a Redis that accepts and never answers,
a media folder that cannot exist, a broker folder that is a file.
"""

import socket
import time

import pytest
from django.utils import timezone

from telemed.tasks import heartbeat

DEPENDENCIES = {"database", "cache", "channel_layer", "storage", "broker"}
REFUSED_REDIS = "redis://127.0.0.1:1/0"  # port 1: connection refused at once


@pytest.fixture
def silent_redis():
    """A port that accepts connections (the kernel's backlog) and never answers: a hung Redis."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


def _redis_cache(url):
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }


def _redis_layer(url):
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}}


def _readyz(client):
    started = time.monotonic()
    response = client.get("/readyz")
    return response, response.json(), time.monotonic() - started


@pytest.mark.django_db
def test_it_is_ready_when_every_dependency_answers(client):
    response, body, _ = _readyz(client)

    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["failed"] == []
    assert set(body["checks"]) == DEPENDENCIES
    for name, check in body["checks"].items():
        assert check["ok"] is True, (name, check)
        assert check["backend"]
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_an_unreachable_cache_makes_it_unready_and_is_named(client, settings):
    settings.CACHES = _redis_cache(REFUSED_REDIS)

    response, body, _ = _readyz(client)

    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["failed"] == ["cache"]
    assert "Connection" in body["checks"]["cache"]["error"]
    assert all(check["ok"] for name, check in body["checks"].items() if name != "cache")


@pytest.mark.django_db
def test_an_unreachable_channel_layer_makes_it_unready_and_is_named(client, settings):
    settings.CHANNEL_LAYERS = _redis_layer(REFUSED_REDIS)

    response, body, _ = _readyz(client)

    assert response.status_code == 503
    assert body["failed"] == ["channel_layer"]


@pytest.mark.django_db
def test_unwritable_storage_makes_it_unready_and_is_named(client, settings, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the media folder should be")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker / "media")},
        },
    }

    response, body, _ = _readyz(client)

    assert response.status_code == 503
    assert body["failed"] == ["storage"]


@pytest.mark.django_db
def test_an_unreachable_broker_makes_it_unready_and_is_named(client, settings):
    settings.CELERY_BROKER_URL = REFUSED_REDIS

    response, body, _ = _readyz(client)

    assert response.status_code == 503
    assert body["failed"] == ["broker"]


@pytest.mark.django_db
def test_a_broken_filesystem_broker_folder_makes_it_unready(client, settings, tmp_path):
    blocker = tmp_path / "broker"
    blocker.write_text("a file where the broker folder should be")
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(blocker), "data_folder_out": str(blocker)}

    response, body, _ = _readyz(client)

    assert response.status_code == 503
    assert body["failed"] == ["broker"]


@pytest.mark.django_db
def test_a_hung_redis_fails_every_redis_check_within_three_seconds(client, settings, silent_redis):
    settings.CACHES = _redis_cache(silent_redis)
    settings.CHANNEL_LAYERS = _redis_layer(silent_redis)
    settings.CELERY_BROKER_URL = silent_redis

    response, body, elapsed = _readyz(client)

    assert response.status_code == 503
    assert body["failed"] == ["cache", "channel_layer", "broker"]
    assert elapsed < 3.0, body


@pytest.mark.django_db
def test_a_refused_redis_fails_every_redis_check_within_three_seconds(client, settings):
    settings.CACHES = _redis_cache(REFUSED_REDIS)
    settings.CHANNEL_LAYERS = _redis_layer(REFUSED_REDIS)
    settings.CELERY_BROKER_URL = REFUSED_REDIS

    response, body, elapsed = _readyz(client)

    assert response.status_code == 503
    assert body["failed"] == ["cache", "channel_layer", "broker"]
    assert elapsed < 3.0, body


@pytest.mark.django_db
def test_a_missing_heartbeat_is_reported_without_failing(client, settings, tmp_path):
    settings.VAR_DIR = tmp_path

    response, body, _ = _readyz(client)

    assert response.status_code == 200
    assert body["celery_heartbeat"] == {"at": None, "age_seconds": None}


@pytest.mark.django_db
def test_the_age_of_the_last_heartbeat_is_reported(client, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    before = timezone.now()
    heartbeat()

    response, body, elapsed = _readyz(client)

    assert response.status_code == 200
    assert body["celery_heartbeat"]["at"] >= before.isoformat()
    assert 0 <= body["celery_heartbeat"]["age_seconds"] <= elapsed + 1
