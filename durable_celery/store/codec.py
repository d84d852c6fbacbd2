"""The payload codec: JSON text that jsonb accepts, and the one owner of the size limits.

Payloads (inputs, outputs, context, events, item values) must be storable as they are:
`encode` rejects what jsonb cannot hold (NaN, a NUL character, a lone surrogate, objects
that are not JSON) with InvalidPayload, and what exceeds `durable_max_payload_bytes` with
PayloadTooLarge. What the engine records about a run (errors, log lines) is never
rejected: `record_error` and `record_logs` replace what cannot be stored and cut what is
too long, with a marker, so that recording a failure cannot fail.
"""

from __future__ import annotations

import json
import re
from typing import Any

from durable_celery.errors import InvalidPayload, PayloadTooLarge

_SEPARATORS = (",", ":")
# A \u0000 escape in JSON text: preceded by an even number of backslashes (an odd number
# means the backslash itself is escaped, and the text is the harmless literal "\u0000").
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"
CUT_MARKER = "… [cut: {dropped} more characters]"


class Codec:
    def __init__(
        self,
        max_payload_bytes: int,
        max_error_bytes: int = 65_536,
        max_log_bytes: int = 65_536,
    ) -> None:
        self.max_payload_bytes = max_payload_bytes
        self.max_error_bytes = max_error_bytes
        self.max_log_bytes = max_log_bytes

    def encode(self, value: Any, what: str) -> str:
        """JSON text of a payload, or InvalidPayload / PayloadTooLarge naming `what`. One
        pass of the C encoder: for values produced by steps, on the hot path."""
        encoded = _dumps(value, what)
        self._check_size(_storable(encoded, what), what)
        return encoded

    def encode_incoming(self, value: Any, what: str) -> str:
        """Like `encode`, for a payload a caller hands in (an input, an event, an answer):
        encoded piece by piece and refused as soon as it passes the limit, so an oversized
        payload is never held whole as JSON."""
        encoder = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=_SEPARATORS)
        pieces: list[str] = []
        size = 0
        try:
            for piece in encoder.iterencode(value):
                size += _storable(piece, what)
                if size > self.max_payload_bytes:
                    raise PayloadTooLarge(
                        f"{what} is more than {self.max_payload_bytes} bytes of JSON: over the "
                        f"limit of {self.max_payload_bytes} bytes (durable_max_payload_bytes)"
                    )
                pieces.append(piece)
        except InvalidPayload:
            raise
        except (TypeError, ValueError) as exc:
            raise InvalidPayload(f"{what} is not JSON-serialisable: {exc}") from None
        except RecursionError:
            raise InvalidPayload(f"{what} is nested too deeply to be stored") from None
        return "".join(pieces)

    def record_error(self, error: dict[str, Any]) -> str:
        """JSON text of a recorded error (type, message, traceback, ...), whatever it holds:
        unstorable characters are replaced, and the message and the traceback are each cut
        to half of `durable_max_error_bytes` (other fields to 1 KiB)."""
        return json.dumps(self._clean_error(error), separators=_SEPARATORS, allow_nan=False)

    def _clean_error(self, error: dict[str, Any]) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        for key, value in error.items():
            if isinstance(value, str):
                limit = self.max_error_bytes // 2 if key in ("message", "traceback") else 1_024
                value = cut(sanitise(value), limit)
            elif isinstance(value, dict):
                value = self._clean_error(value)
            elif not (value is None or isinstance(value, (bool, int))):
                value = cut(sanitise(repr(value)), 1_024)
            clean[cut(sanitise(str(key)), 200)] = value
        return clean

    def record_logs(self, lines: list[str]) -> str | None:
        """JSON text of a step attempt's log lines, or None when there are none: the lines
        are sanitised, and those past `durable_max_log_bytes` dropped, with a marker."""
        if not lines:
            return None
        kept: list[str] = []
        room = self.max_log_bytes
        for index, line in enumerate(lines):
            line = cut(sanitise(line), room)
            kept.append(line)
            room -= _utf8_size(line)
            if room <= 0 and index + 1 < len(lines):
                dropped = len(lines) - index - 1
                kept.append(f"[{dropped} more log lines dropped: durable_max_log_bytes]")
                break
        return json.dumps(kept, separators=_SEPARATORS)

    def _check_size(self, size: int, what: str) -> None:
        if size > self.max_payload_bytes:
            raise PayloadTooLarge(
                f"{what} is {size} bytes of JSON, over the limit of {self.max_payload_bytes} "
                f"bytes (durable_max_payload_bytes)"
            )


def encode_record(value: Any, what: str = "record") -> str:
    """JSON text of an engine-made value (a list of step names, a context read from the
    database): storable by construction, so only non-JSON objects are refused."""
    return _dumps(value, what)


def sanitise(text: str) -> str:
    """`text` with NUL characters and lone surrogates replaced by U+FFFD."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


def cut(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, saying how much was dropped."""
    if len(text) <= limit // 4 or _utf8_size(text) <= limit:
        return text
    kept = text.encode("utf-8", "replace")[: max(limit, 0)].decode("utf-8", "ignore")
    return kept + CUT_MARKER.format(dropped=len(text) - len(kept))


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


# One encoder for every payload: json.dumps builds a new one per call when given options.
_ENCODER = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=_SEPARATORS)


def _dumps(value: Any, what: str) -> str:
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"{what} is not JSON-serialisable: {exc}") from None
    except RecursionError:
        raise InvalidPayload(f"{what} is nested too deeply to be stored") from None


def _storable(encoded: str, what: str) -> int:
    """The size of JSON text in UTF-8 bytes; InvalidPayload when jsonb could not store it
    (a NUL character, a lone surrogate)."""
    if encoded.isascii():
        size = len(encoded)
    else:
        try:
            size = len(encoded.encode())
        except UnicodeEncodeError:
            raise InvalidPayload(
                f"{what} contains a lone surrogate (a half of a UTF-16 pair, such as "
                f"'\\ud800'), which PostgreSQL cannot store"
            ) from None
    _check_nul(encoded, what)
    return size


def _check_nul(encoded: str, what: str) -> None:
    if "\\u0000" in encoded and _NUL_ESCAPE.search(encoded):
        raise InvalidPayload(f"{what} contains a NUL character, which PostgreSQL cannot store")
