"""The filter that quiets beat's and the worker's INFO lines for the poll and recovery."""

from __future__ import annotations

import logging
import traceback

from durable_celery.runtime import POLL_TASK
from durable_celery.tasks import _QuietMaintenance


def record(level: int, msg: str, args: tuple[object, ...]) -> logging.LogRecord:
    return logging.LogRecord("celery.beat", level, __file__, 1, msg, args, None)


def test_a_failed_send_of_beat_passes_the_filter_instead_of_killing_beat():
    # Beat logs a failed send (broker down) with the stack, a list, as second argument;
    # a filter that raised here ended the embedded beat process.
    failed = record(
        logging.ERROR, "Message Error: %s\n%s", (OSError("refused"), traceback.format_stack())
    )
    assert _QuietMaintenance().filter(failed) is True


def test_beat_sending_the_poll_is_quiet_at_info():
    sending = record(logging.INFO, "Scheduler: Sending due task %s (%s)", ("poll", POLL_TASK))
    beat_logger = logging.getLogger("celery.beat")
    level = beat_logger.level
    beat_logger.setLevel(logging.INFO)
    try:
        assert _QuietMaintenance().filter(sending) is False
    finally:
        beat_logger.setLevel(level)
