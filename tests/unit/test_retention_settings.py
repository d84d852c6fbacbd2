"""durable_retention and its companions: read from text, mappings and the environment,
validated with messages that name what is wrong; the beat entry only when it is set."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import Celery

import durable_celery as dc
from durable_celery import runtime as runtime_module
from durable_celery.client.retention import RetentionRun, _groups, describe
from durable_celery.config import Settings
from durable_celery.errors import ConfigurationError
from durable_celery.runtime import RETENTION_TASK
from durable_celery.states import ExecutionStatus as S

DAY = 86_400.0
URL = "postgresql+psycopg://nobody@127.0.0.1:1/none"


def test_retention_is_off_by_default():
    settings = Settings.resolve({}, {})
    assert settings.retention == ()
    assert settings.retention_batch_size == 2_000
    assert settings.retention_interval == 3_600.0


def test_retention_from_the_environment_text():
    settings = Settings.resolve(
        {},
        {
            "DURABLE_RETENTION": "completed=30d, failed=90d,cancelled=12h,timed_out=90m,"
            "compensated=3600s,compensation_failed=1.5d",
            "DURABLE_RETENTION_BATCH_SIZE": "500",
            "DURABLE_RETENTION_INTERVAL": "600",
        },
    )
    assert settings.retention == (
        (S.CANCELLED, 12 * 3600.0),
        (S.COMPENSATED, 3600.0),
        (S.COMPENSATION_FAILED, 1.5 * DAY),
        (S.COMPLETED, 30 * DAY),
        (S.FAILED, 90 * DAY),
        (S.TIMED_OUT, 90 * 60.0),
    )
    assert settings.retention_batch_size == 500
    assert settings.retention_interval == 600.0


def test_retention_from_a_celery_mapping_wins_over_the_environment():
    settings = Settings.resolve(
        {"durable_retention": {"completed": timedelta(days=7), "failed": 3600, "cancelled": "2h"}},
        {"DURABLE_RETENTION": "completed=30d"},
    )
    assert settings.retention == (
        (S.CANCELLED, 7200.0),
        (S.COMPLETED, 7 * DAY),
        (S.FAILED, 3600.0),
    )
    # The resolved pairs read back the same (install() writes them to the app's config).
    assert Settings.resolve({"durable_retention": settings.retention}, {}) == settings


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "complete=30d",
            "durable_retention: unknown status 'complete' (finished statuses: cancelled, "
            "compensated, compensation_failed, completed, failed, timed_out)",
        ),
        (
            {"running": "1d"},
            "durable_retention: running is not a finished status; only finished executions "
            "are deleted (cancelled, compensated, compensation_failed, completed, failed, "
            "timed_out)",
        ),
        (
            "completed=30x",
            "durable_retention: the age of completed must be a duration like 30d, 12h, 90m "
            "or 3600s, got '30x'",
        ),
        (
            "failed=30",
            "durable_retention: the age of failed must be a duration like 30d, 12h, 90m "
            "or 3600s, got '30'",
        ),
        (
            {"failed": "nan"},
            "durable_retention: the age of failed must be a duration like 30d, 12h, 90m "
            "or 3600s, got 'nan'",
        ),
        (
            "completed=0d",
            "durable_retention: the age of completed must be more than 0 and at most 36525d "
            "(100 years), got '0d'",
        ),
        (
            {"completed": -5},
            "durable_retention: the age of completed must be more than 0 and at most 36525d "
            "(100 years), got -5",
        ),
        (
            "completed",
            'durable_retention must be status=age pairs (e.g. "completed=30d,failed=90d"), '
            "got 'completed'",
        ),
        ("completed=30d,completed=1d", "durable_retention names completed twice"),
        (
            42,
            "durable_retention must be a mapping of status to age or a text "
            '(e.g. "completed=30d,failed=90d"), got 42',
        ),
    ],
)
def test_bad_retention_names_what_is_wrong(value, message):
    with pytest.raises(ConfigurationError) as raised:
        Settings.resolve({"durable_retention": value}, {})
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"retention_batch_size": 0}, "durable_retention_batch_size must be a whole number >= 1"),
        ({"retention_batch_size": 2.5}, "durable_retention_batch_size must be a whole number"),
        ({"retention_batch_size": 20_000}, "durable_retention_batch_size must be at most 10000"),
        ({"retention_interval": 0}, "durable_retention_interval must be > 0 seconds"),
        ({"retention_interval": "hourly"}, "durable_retention_interval must be a number"),
    ],
)
def test_bad_retention_batches_and_intervals(overrides, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.resolve({}, {}, **overrides)


def test_the_beat_entry_only_with_retention(monkeypatch):
    monkeypatch.setattr(runtime_module, "_current", None)  # install() makes it current
    app = Celery("retention-unit", broker="memory://")
    dc.install(app, database_url=URL, workflows=[])
    assert "durable-celery-retention" not in app.conf.beat_schedule
    assert RETENTION_TASK in app.tasks
    dc.install(app, retention="failed=90d", retention_interval=120, maintenance_queue="ops")
    entry = app.conf.beat_schedule["durable-celery-retention"]
    assert entry["task"] == RETENTION_TASK
    assert entry["schedule"] == 120.0
    assert entry["options"]["queue"] == "ops"
    app.conf.durable_retention = None
    dc.install(app)
    assert "durable-celery-retention" not in app.conf.beat_schedule


def test_statuses_kept_alike_go_in_one_pass_longest_kept_first():
    retention = Settings.resolve(
        {"durable_retention": "completed=30d,cancelled=30d,failed=90d,timed_out=1h"}, {}
    ).retention
    assert _groups(retention) == [
        (90 * DAY, (S.FAILED,)),
        (30 * DAY, (S.CANCELLED, S.COMPLETED)),
        (3600.0, (S.TIMED_OUT,)),
    ]
    run = RetentionRun({(90 * DAY, (S.FAILED,)): 3, (30 * DAY, (S.COMPLETED,)): 4}, 1.25, True)
    assert describe(run) == (
        "retention: deleted 7 finished executions (failed older than 90d: 3; completed older "
        "than 30d: 4) in 1.2s, stopped at its time budget, the next run goes on"
    )
