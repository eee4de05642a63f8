"""Environments for tests that start the project in a subprocess (settings, check, celery)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

PYTHON = sys.executable
BASE_DIR = Path(settings.BASE_DIR)

# Everything that selects a configuration: a child starts from the embedded defaults, whatever
# the parent test run (PostgreSQL + Redis) or a developer's .env says. An empty value counts
# as unset for telemed.env and, being set, keeps read_dotenv from filling it from .env.
_CONFIGURATION = [
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "S3_BUCKET",
    "S3_ENDPOINT_URL",
    "S3_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "EMAIL_URL",
    "SECRET_KEY",
    "AUDIT_HMAC_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "LOG_JSON",
    "LOG_LEVEL",
]


def project_env(var_dir: Path, **overrides: str | None) -> dict[str, str]:
    """The parent's environment on embedded defaults; `None` removes a variable, "" unsets it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "DJANGO_"))}
    env.update(dict.fromkeys(_CONFIGURATION, ""))
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "telemed.settings",
            "TELEMED_VAR_DIR": str(var_dir),
            "TELEMED_TESTING": "1",
            "DEBUG": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_python(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def run_manage(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
