"""Where a database's schema stands (the migrations themselves are Alembic's)."""

from __future__ import annotations

from sqlalchemy import text

VERSION_TABLE_EXISTS = text("SELECT to_regclass(:table) IS NOT NULL")
"""Whether durable-celery's version table is in the search_path (the migrations ran)."""

CURRENT_REVISION = text("SELECT version_num FROM durable_alembic_version")
"""The revision the database is at."""
