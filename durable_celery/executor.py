"""Claim an execution and run its steps inline, one checkpoint transaction per step.

One wake-up runs as many steps as it can: after a step's checkpoint commits, the next
step starts in the same task with the same claim, so a step costs one transaction and
no broker round trip. Every write is fenced by the claim's lock token.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from durable_celery import sql
from durable_celery.context import StepContext
from durable_celery.db import encode_json
from durable_celery.definition import StepSpec, Workflow, get_workflow
from durable_celery.errors import DurableError, LockLost, UnknownWorkflow
from durable_celery.runtime import Runtime

logger = logging.getLogger("durable_celery.executor")


@dataclass(frozen=True)
class Claim:
    execution_id: str
    workflow: str
    input: dict[str, Any]
    context: dict[str, Any]
    current_step: str | None
    attempt: int
    step_runs: int
    token: Any


class DecisionError(DurableError):
    """A decision returned something that is not a step of its workflow."""


class StepLimitExceeded(DurableError):
    """The execution ran more steps than the workflow's max_step_runs."""


def claim_execution(conn: Connection, execution_id: str, worker: str) -> Claim | None:
    row = conn.execute(sql.CLAIM, {"id": execution_id, "worker": worker}).first()
    conn.commit()
    if row is None:
        return None
    return Claim(
        execution_id=str(row.id),
        workflow=row.workflow,
        input=row.input,
        context=row.context,
        current_step=row.current_step,
        attempt=row.step_attempt,
        step_runs=row.step_runs,
        token=row.lock_token,
    )


def describe_error(
    exc: BaseException, step: str | None = None, attempt: int | None = None
) -> dict[str, Any]:
    kind = type(exc)
    error: dict[str, Any] = {
        "type": kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}",
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }
    if step is not None:
        error["step"] = step
        error["attempt"] = attempt
    return error


def run_execution(runtime: Runtime, execution_id: str) -> str | None:
    """Handle one wake-up. Returns the status the execution was left in, or None when
    there was nothing to claim (duplicate, early or forged wake-up)."""
    worker = runtime.worker_id
    # Autocommit: every hot-path statement is a single fenced statement, atomic on its own,
    # so each costs one round trip and one commit with no BEGIN/COMMIT around it.
    with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        claim = claim_execution(conn, execution_id, worker)
        if claim is None:
            return None
        try:
            return _Run(runtime, conn, claim, worker).run()
        except LockLost:
            conn.rollback()
            logger.warning(
                "execution %s: claim lost to another worker or a control call; stopping "
                "without writing",
                execution_id,
            )
            return None


class _Run:
    def __init__(self, runtime: Runtime, conn: Connection, claim: Claim, worker: str) -> None:
        self.runtime = runtime
        self.conn = conn
        self.claim = claim
        self.worker = worker
        self.limit = runtime.settings.max_payload_bytes
        self.step_runs = claim.step_runs
        self.context_json = encode_json(claim.context, "context", 1 << 62)

    def run(self) -> str:
        claim = self.claim
        try:
            self.runtime.import_workflows()
            workflow = get_workflow(claim.workflow)
        except UnknownWorkflow as exc:
            return self._fail_without_step(exc)
        steps = workflow.__steps__
        index = workflow.__step_index__.get(claim.current_step or steps[0].name)
        if index is None:
            return self._fail_without_step(
                DurableError(
                    f"step {claim.current_step!r} no longer exists in workflow "
                    f"{workflow.name!r} (steps now: {', '.join(workflow.step_names())}); "
                    f"deploy a version that still has it, or cancel the execution"
                )
            )
        results: dict[str, Any] = {}
        if self.step_runs:
            for row in self.conn.execute(sql.COMPLETED_OUTPUTS, {"id": claim.execution_id}):
                results[row.step_name] = row.output
            self.conn.rollback()
        ctx = StepContext(
            execution_id=claim.execution_id,
            workflow=workflow.name,
            input=claim.input,
            context=claim.context,
            results=results,
        )
        attempt = claim.attempt
        while True:
            spec = steps[index]
            ctx._enter_step(spec.name, attempt)
            started_at = datetime.now(UTC)
            clock = time.perf_counter()
            try:
                output = self._call(spec, ctx)
                output_json = encode_json(output, f"output of step {spec.name!r}", self.limit)
                next_index = self._next_index(workflow, spec, index, output)
                context_json = encode_json(dict(ctx._context), "context", self.limit)
            except Exception as exc:
                duration_ms = (time.perf_counter() - clock) * 1000
                return self._finish_failed(spec, attempt, exc, started_at, duration_ms, ctx)
            duration_ms = (time.perf_counter() - clock) * 1000
            step_record = self._step_record(
                spec,
                attempt,
                "completed",
                started_at,
                duration_ms,
                ctx,
                output=output_json,
            )
            if next_index is None:
                self._write(
                    sql.FINISH,
                    {
                        **step_record,
                        "status": "completed",
                        "context": context_json,
                        "result": output_json,
                        "execution_error": None,
                    },
                )
                return "completed"
            self._write(
                sql.ADVANCE,
                {
                    **step_record,
                    "context": context_json,
                    "next_step": steps[next_index].name,
                },
            )
            self.context_json = context_json
            results[spec.name] = output
            index, attempt = next_index, 1

    def _call(self, spec: StepSpec, ctx: StepContext) -> Any:
        if spec.kind == "each":
            raise DurableError("@each steps are not supported by this version of the executor")
        return spec.fn(ctx)

    def _next_index(
        self, workflow: type[Workflow], spec: StepSpec, index: int, output: Any
    ) -> int | None:
        if self.step_runs + 1 >= workflow.max_step_runs:
            raise StepLimitExceeded(
                f"workflow {workflow.name!r} ran {self.step_runs + 1} steps, the limit set by "
                f"max_step_runs={workflow.max_step_runs}; a decision probably loops forever"
            )
        if spec.kind == "decision" and output is not None:
            target = workflow.__step_index__.get(output) if isinstance(output, str) else None
            if target is None:
                raise DecisionError(
                    f"decision {spec.name!r} of workflow {workflow.name!r} returned {output!r}, "
                    f"which is not a step; allowed: {', '.join(workflow.step_names())} or None"
                )
            return target
        return index + 1 if index + 1 < len(workflow.__steps__) else None

    def _step_record(
        self,
        spec: StepSpec,
        attempt: int,
        status: str,
        started_at: datetime,
        duration_ms: float,
        ctx: StepContext,
        *,
        output: str | None = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        self.step_runs += 1
        return {
            "id": self.claim.execution_id,
            "token": self.claim.token,
            "step_id": str(uuid.uuid4()),
            "step_name": spec.name,
            "sequence": self.step_runs,
            "attempt": attempt,
            "step_status": status,
            "output": output,
            "error": error,
            "logs": encode_json(ctx.log_lines, "logs", 1 << 62) if ctx.log_lines else None,
            "started_at": started_at,
            "duration_ms": duration_ms,
            "worker": self.worker,
        }

    def _finish_failed(
        self,
        spec: StepSpec,
        attempt: int,
        exc: Exception,
        started_at: datetime,
        duration_ms: float,
        ctx: StepContext,
    ) -> str:
        error = describe_error(exc, spec.name, attempt)
        error_json = encode_json(error, "error", 1 << 62)
        logger.info("execution %s: step %s failed: %r", self.claim.execution_id, spec.name, exc)
        record = self._step_record(
            spec, attempt, "failed", started_at, duration_ms, ctx, error=error_json
        )
        # The failed step's context changes are dropped: the last checkpoint stays.
        self._write(
            sql.FINISH,
            {
                **record,
                "status": "failed",
                "context": self.context_json,
                "result": None,
                "execution_error": error_json,
            },
        )
        return "failed"

    def _fail_without_step(self, exc: Exception) -> str:
        error_json = encode_json(describe_error(exc), "error", 1 << 62)
        self._write(
            sql.FAIL_WITHOUT_STEP,
            {
                "id": self.claim.execution_id,
                "token": self.claim.token,
                "error": error_json,
            },
        )
        return "failed"

    def _write(self, statement: Any, params: dict[str, Any]) -> None:
        result = self.conn.execute(statement, params)
        if result.rowcount != 1:
            raise LockLost(f"execution {self.claim.execution_id}: lock token no longer matches")
        self.conn.commit()
