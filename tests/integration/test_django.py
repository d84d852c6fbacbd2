"""Django: a start inside `transaction.atomic()` belongs to that transaction, on the real
PostgreSQL, through Django's own connection (psycopg 3)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from durable_celery.client.start import _ambient_transactions
from durable_celery.testing import wait_until
from tests.integration.conftest import RUN, clone_database, drop_database
from tests.integration.flows import ThreeSteps


def _django_database(url: str) -> dict[str, object]:
    parsed = make_url(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parsed.database,
        "USER": parsed.username,
        "HOST": parsed.host,
        "PORT": parsed.port,
    }


@pytest.fixture(scope="module")
def django(runtime) -> Iterator[object]:
    import django as django_module
    from django.conf import settings
    from django.db import connections

    other = f"durable_django_other_{RUN}"
    settings.configure(
        DATABASES={
            "default": _django_database(runtime.settings.database_url),
            "other": _django_database(clone_database(other)),
        },
        INSTALLED_APPS=["durable_celery.contrib.django"],
        USE_TZ=True,
    )
    django_module.setup()
    yield django_module
    connections.close_all()
    _ambient_transactions.clear()  # the rest of the session runs without Django
    drop_database(other)


def _exists(db, execution_id: str) -> bool:
    db.rollback()
    count = db.execute(
        text("SELECT count(*) FROM workflow_executions WHERE id = :id"), {"id": execution_id}
    ).scalar_one()
    return bool(count)


def test_a_start_in_an_atomic_block_is_written_in_djangos_own_transaction(worker, db, django):
    from django.db import connection, transaction

    with transaction.atomic():
        handle = ThreeSteps.start_durable({"customer": "django"})
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM workflow_executions WHERE id = %s", [handle.id])
            assert cursor.fetchone()[0] == 1  # in Django's transaction...
        assert not _exists(db, handle.id)  # ...and nowhere else before it commits
    # Published at commit: no waiting for the poller's 10 s grace.
    assert handle.result(timeout=8)["n"] == 3


def test_a_start_in_a_rolled_back_atomic_block_starts_nothing(worker, db, django):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        handle = ThreeSteps.start_durable({"customer": "django-rollback"})
        raise RuntimeError("the order was not saved")
    assert not _exists(db, handle.id)


def test_on_another_database_the_start_waits_for_the_commit(worker, db, django):
    from django.db import transaction

    with transaction.atomic(using="other"):
        handle = ThreeSteps.start_durable({"customer": "django-other"})
        assert not _exists(db, handle.id)
    assert handle.result(timeout=8)["n"] == 3

    with pytest.raises(RuntimeError), transaction.atomic(using="other"):
        dropped = ThreeSteps.start_durable({"customer": "django-other-rollback"})
        raise RuntimeError("rolled back")
    assert not wait_until(lambda: _exists(db, dropped.id), timeout=1)
