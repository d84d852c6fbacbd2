"""Every statement of durable-celery, named and documented, in one package.

Each write made on behalf of a claim is fenced by `lock_token`: when another worker,
stale recovery or a control call has taken the execution back, the token no longer
matches, the statement touches no row, and the caller treats that as LockLost.
Payloads travel as JSON text and are cast in SQL, so no per-row Python JSON processing
happens inside SQLAlchemy.
"""

from __future__ import annotations

from durable_celery.sql.control import *  # noqa: F403
from durable_celery.sql.executions import *  # noqa: F403
from durable_celery.sql.fanout import *  # noqa: F403
from durable_celery.sql.sweeps import *  # noqa: F403
from durable_celery.sql.waits import *  # noqa: F403
