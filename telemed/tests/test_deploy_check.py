"""`manage.py check --deploy` is clean with the production variables and refuses without them."""

import base64
import os
import secrets

import pytest

from telemed.tests.processes import project_env, run_manage

_CHECK = ["check", "--deploy", "--fail-level", "WARNING"]
_DEV_FIELD_KEY = "dev:" + base64.b64encode(b"insecure-development-field-key!!").decode()


def _field_key(key_id):
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def _production_env(var_dir, **overrides):
    env = {
        "TELEMED_TESTING": None,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "AUDIT_HMAC_KEY": secrets.token_urlsafe(40),
        "JWT_SIGNING_KEY": secrets.token_urlsafe(60),
        "FIELD_ENCRYPTION_KEYS": f"{_field_key('2026b')},{_field_key('2026a')}",
        "ALLOWED_HOSTS": "telemed.example.test",
        "CSRF_TRUSTED_ORIGINS": "https://telemed.example.test",
        "SITE_URL": "https://telemed.example.test",
        "BEHIND_TLS_PROXY": "1",
    }
    env.update(overrides)
    return project_env(var_dir, **env)


def test_the_deploy_check_passes_with_the_production_variables(tmp_path):
    result = run_manage(_CHECK, _production_env(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": "too-short"}, "SECRET_KEY"),
        ({"AUDIT_HMAC_KEY": ""}, "AUDIT_HMAC_KEY"),
        ({"JWT_SIGNING_KEY": ""}, "JWT_SIGNING_KEY"),
        ({"FIELD_ENCRYPTION_KEYS": ""}, "FIELD_ENCRYPTION_KEYS"),
        ({"FIELD_ENCRYPTION_KEYS": _DEV_FIELD_KEY}, "FIELD_ENCRYPTION_KEYS"),
        ({"FIELD_ENCRYPTION_KEYS": "k1:" + base64.b64encode(os.urandom(16)).decode()}, "FIELD_ENCRYPTION_KEYS"),
        ({"ALLOWED_HOSTS": ""}, "security.W020"),
        ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
    ],
    ids=[
        "no-secret-key",
        "short-secret-key",
        "no-audit-key",
        "no-jwt-key",
        "no-field-keys",
        "development-field-key",
        "short-field-key",
        "no-allowed-hosts",
        "no-hsts",
    ],
)
def test_the_deploy_check_fails_without_a_production_variable(tmp_path, overrides, reason):
    result = run_manage(_CHECK, _production_env(tmp_path, **overrides))

    assert result.returncode != 0
    assert reason in result.stdout + result.stderr
