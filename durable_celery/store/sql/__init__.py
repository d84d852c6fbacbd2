"""Every statement of durable-celery, named and documented, by concern.

Each statement's docstring states its concurrency contract. Each write made on behalf
of a claim is fenced by `lock_token`: when another worker, stale recovery or a control
call has taken the execution back, the token no longer matches, the statement touches
no row, and the store raises LockLost. Payloads travel as JSON text and are cast in
SQL, so no per-row Python JSON processing happens inside SQLAlchemy. Status literals in
this SQL are values of the enums in `durable_celery.states` (a unit test checks it).
"""
