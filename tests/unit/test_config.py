"""Settings: install() argument > Celery config > environment > default, validated; and a
process that configured nothing gets a ConfigurationError, not a guessed database."""

from __future__ import annotations

import inspect

import pytest

import durable_celery as dc
from durable_celery import runtime as runtime_module
from durable_celery.config import SETTING_NAMES, Settings, database_url_configured
from durable_celery.errors import ConfigurationError


def test_settings_precedence_argument_then_config_then_environment(monkeypatch):
    monkeypatch.setenv("DURABLE_POLL_INTERVAL", "7")
    monkeypatch.setenv("DURABLE_STALE_LOCK_TIMEOUT", "600")
    settings = Settings.resolve({"durable_poll_interval": 3}, heartbeat_interval=5)
    assert settings.poll_interval == 3.0
    assert settings.stale_lock_timeout == 600.0
    assert settings.heartbeat_interval == 5.0
    monkeypatch.setenv("DURABLE_WORKFLOW_MODULES", "a.b, c.d")
    assert Settings.resolve().workflow_modules == ("a.b", "c.d")


def test_empty_values_count_as_unset():
    settings = Settings.resolve(
        {"durable_poll_interval": ""}, {"DURABLE_POLL_INTERVAL": "4"}, poll_interval=None
    )
    assert settings.poll_interval == 4.0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"database_url": "mysql://x/y"}, "must point at PostgreSQL"),
        ({"schema": "bad-name; drop"}, "lowercase SQL identifier"),
        ({"schema": "Tenant"}, "lowercase SQL identifier"),
        ({"poll_interval": "nan"}, "must be a finite number"),
        ({"max_queue_name_length": 300}, "at most 255"),
        ({"max_buffered_events": 0}, "whole number >= 1"),
        ({"poll_interval": 0}, "must be > 0"),
        ({"poll_interval": "fast"}, "must be a number"),
        ({"heartbeat_interval": 400}, "must be shorter than"),
        ({"max_payload_bytes": 0}, "whole number >= 1"),
        ({"pol_interval": 1}, "unknown durable-celery settings: pol_interval"),
    ],
)
def test_bad_settings_are_configuration_errors(overrides, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.resolve({}, {}, **overrides)


def test_every_setting_can_be_given_to_install():
    parameters = set(inspect.signature(dc.install).parameters)
    assert {name for name in SETTING_NAMES if name != "workflow_modules"} <= parameters
    assert "workflows" in parameters


def test_a_database_url_counts_as_configured_wherever_it_is_set():
    assert not database_url_configured({}, {})
    assert database_url_configured({"durable_database_url": "postgresql://h/d"}, {})
    assert database_url_configured({}, {"DURABLE_DATABASE_URL": "postgresql://h/d"})


def test_a_process_that_configured_nothing_is_told_how(monkeypatch):
    monkeypatch.setattr(runtime_module, "_current", None)
    monkeypatch.delenv("DURABLE_DATABASE_URL", raising=False)

    class Lonely(dc.Workflow):
        name = "tests.unit.lonely"

        @dc.step
        def only(ctx: dc.StepContext) -> None: ...

    for call in (lambda: Lonely.start_durable({}), lambda: dc.get_execution(dc_id())):
        with pytest.raises(ConfigurationError, match=r"durable_celery.install\(app, database_url"):
            call()
    assert runtime_module._current is None


def test_the_environment_alone_is_enough_for_client_calls(monkeypatch):
    monkeypatch.setattr(runtime_module, "_current", None)
    monkeypatch.setenv("DURABLE_DATABASE_URL", "postgresql://someone@db.example/orders")
    current = runtime_module.current_runtime()
    assert current.settings.database_url == "postgresql+psycopg://someone@db.example/orders"
    assert runtime_module.current_runtime() is current


def dc_id() -> str:
    return "00000000-0000-4000-8000-000000000000"


def test_a_rejected_database_url_does_not_print_its_password():
    with pytest.raises(ConfigurationError) as raised:
        Settings.resolve({}, {}, database_url="mysql://shop:s3cret@db.example/shop")
    assert "s3cret" not in str(raised.value)
    assert "mysql://shop:***@db.example/shop" in str(raised.value)
