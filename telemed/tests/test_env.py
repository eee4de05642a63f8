"""The typed environment helpers fail loudly, naming the variable, and `.env` never overrides."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from telemed.env import (
    env_bool,
    env_database_url,
    env_email_url,
    env_int,
    env_list,
    env_str,
    read_dotenv,
)


@pytest.mark.parametrize("value", ["maybe", "2", "tru"])
def test_a_malformed_boolean_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("TM_FLAG", value)
    with pytest.raises(ImproperlyConfigured, match="TM_FLAG"):
        env_bool("TM_FLAG", False)


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("Yes", True), ("off", False), ("0", False)])
def test_booleans_are_read_in_their_usual_spellings(monkeypatch, value, expected):
    monkeypatch.setenv("TM_FLAG", value)
    assert env_bool("TM_FLAG", not expected) is expected


def test_an_unset_boolean_is_its_default(monkeypatch):
    monkeypatch.delenv("TM_FLAG", raising=False)
    assert env_bool("TM_FLAG", True) is True


def test_a_malformed_integer_names_the_variable(monkeypatch):
    monkeypatch.setenv("TM_PORT", "80a")
    with pytest.raises(ImproperlyConfigured, match="TM_PORT"):
        env_int("TM_PORT", 1)


def test_an_integer_below_its_minimum_is_refused(monkeypatch):
    monkeypatch.setenv("TM_PORT", "-1")
    with pytest.raises(ImproperlyConfigured, match="TM_PORT"):
        env_int("TM_PORT", 1, minimum=0)


def test_a_required_string_that_is_missing_names_the_variable(monkeypatch):
    monkeypatch.delenv("TM_REQUIRED", raising=False)
    with pytest.raises(ImproperlyConfigured, match="TM_REQUIRED"):
        env_str("TM_REQUIRED")


def test_a_list_is_split_on_commas_without_blanks(monkeypatch):
    monkeypatch.setenv("TM_HOSTS", " a.example, ,b.example,")
    assert env_list("TM_HOSTS") == ["a.example", "b.example"]


@pytest.mark.parametrize("value", ["mysql://u:p@db/telemed", "sqlite:///x.db", "not a url"])
def test_a_database_url_that_is_not_postgres_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("TM_DB", value)
    with pytest.raises(ImproperlyConfigured, match="TM_DB"):
        env_database_url("TM_DB")


def test_a_postgres_url_becomes_a_django_database(monkeypatch):
    monkeypatch.setenv("TM_DB", "postgres://tele:pw@db.internal:5433/telemed")
    config = env_database_url("TM_DB")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["HOST"], config["PORT"]) == ("telemed", "tele", "db.internal", 5433)


def test_a_malformed_email_url_names_the_variable(monkeypatch):
    monkeypatch.setenv("TM_EMAIL", "carrier-pigeon://coop")
    with pytest.raises(ImproperlyConfigured, match="TM_EMAIL"):
        env_email_url("TM_EMAIL", "consolemail://")


def test_dotenv_fills_unset_variables_and_never_overrides_set_ones(monkeypatch, tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("TM_FROM_FILE=file-value\nTM_ALREADY_SET=file-value\n")
    monkeypatch.setenv("TM_FROM_FILE", "")
    monkeypatch.delenv("TM_FROM_FILE")  # recorded, so monkeypatch removes what the file sets
    monkeypatch.setenv("TM_ALREADY_SET", "process-value")

    read_dotenv(dotenv)

    assert env_str("TM_FROM_FILE") == "file-value"
    assert env_str("TM_ALREADY_SET") == "process-value"


def test_a_missing_dotenv_is_not_an_error(tmp_path):
    read_dotenv(tmp_path / "absent.env")
