"""The persistence boundary: the only code that runs SQL.

`schema` (tables), `sql` (every statement, named, with its concurrency contract),
`connections`, `codec` (JSON payloads and their size limit), `records` (what queries
return), and typed functions by concern: `executions`, `items`, `waits`, `signals`,
`control`, `bulk`, `sweeps`, `queries`, `migrate`. Nothing here imports the DSL, the
engine or the client.
"""
