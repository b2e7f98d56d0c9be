"""What both dialects share: ModelsLab's error shapes, the model list, retry hints. Pure.

ModelsLab's sources disagree on the error shape, so every decoder looks for all of them:
`{"status": "error", "message": ...}` (and the legacy `messege` typo), OpenAI's
`{"error": {"message", "type", "code"}}`, Anthropic's `{"type": "error", "error": {...}}`, a bare
`{"error": "text"}`, and HTML error pages from a proxy. Errors also arrive with HTTP 200, as a whole
body or as one chunk of a stream (docs/error-codes; ModelsLab's own `fusion` client checks every
decoded body and chunk for them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from mlchat.errors import (
    ApiError,
    AuthError,
    ProtocolError,
    RateLimited,
    RequestRejected,
    ServerError,
)
from mlchat.text import clip, has_surrogate_escape, without_surrogates
from mlchat.types import ModelInfo

KEY_HINT = "set MODELSLAB_API_KEY or run `mlchat key set`"
MAX_MESSAGE = 300
MAX_WAIT = 7 * 24 * 3600.0  # a longer wait asked by a server is taken as a week
_HUGE = 1e15  # numbers of seconds are capped here before any arithmetic
MAX_DEPTH = 128  # JSON from the wire nested deeper than this is refused
MAX_COUNT = 10**12  # a token count above this is nonsense, and ignored


def as_dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def loads(text: str) -> Any:
    """Parse one JSON document from the wire; a malformed one is a protocol error, and so is one
    Python cannot hold (an integer over its 4,300-digit limit, nesting deeper than its stack).
    Lone surrogates (`"\\ud800"`), which no terminal or UTF-8 file can take, become U+FFFD."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"the service sent malformed JSON ({exc.msg})") from None
    except ValueError:  # int too long for int(): "Exceeds the limit (4300 digits)"
        raise ProtocolError("the service sent a number too long to read") from None
    except RecursionError:
        raise ProtocolError("the service sent JSON nested too deeply to read") from None
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        # Python could hold it, but every later json.dumps or walk of it would risk the stack.
        raise ProtocolError(f"the service sent JSON nested over {MAX_DEPTH} deep")
    return without_surrogates(value) if "\\u" in text and has_surrogate_escape(text) else value


def _depth(value: Any) -> int:
    """Nesting depth of a parsed document, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((v, level + 1) for v in item if isinstance(v, dict | list))
    return deepest


def insane(*values: Any) -> bool:
    """Whether any of `values` (token counts from the wire) was given but is no sane count."""
    return any(v is not None and count(v) is None for v in values)


def count(value: Any) -> int | None:
    """A token count from the wire: a non-negative integer of sane size, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return value
    return None


def error_payload(payload: Any) -> tuple[str, str | None] | None:
    """(message, kind) when `payload` is an error in any of ModelsLab's shapes, else None."""
    body = as_dict(payload)
    if body is None:
        return None
    err = body.get("error")
    status = body.get("status")
    if body.get("type") == "error" or err not in (None, False, "", {}):
        kind: str | None = None
        message: str | None = None
        if isinstance(err, dict):
            message = _text(err.get("message")) or _text(err.get("messege"))
            kind = _text(err.get("type")) or _text(err.get("code"))
        elif isinstance(err, str):
            message = err
        message = message or _text(body.get("message")) or _text(body.get("messege"))
        return (message or "the service reported an error", kind)
    if isinstance(status, str) and status.lower() in ("error", "failed", "failure"):
        message = _text(body.get("message")) or _text(body.get("messege"))
        return (message or "the service reported an error", None)
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, dict | list):
        # Some upstreams nest the details (`message: {"error": ...}`); keep them readable.
        return json.dumps(value, ensure_ascii=False)
    return None


def is_html(body: bytes, content_type: str) -> bool:
    """An HTML page (a proxy's, a captive portal's, a web site's) rather than an API answer."""
    if "html" in content_type.lower():
        return True
    start = body[:512].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<title"))


def summarize_body(body: bytes, content_type: str) -> str:
    """One line for a non-JSON body: an HTML page's title or first words, never the page."""
    text = body.decode("utf-8", errors="replace")
    if "html" in content_type.lower() or text.lstrip()[:1] == "<":
        match = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S) or re.search(
            r"<h1[^>]*>(.*?)</h1>", text, re.I | re.S
        )
        found = match.group(1) if match else ""
        if not found:
            found = re.sub(r"<[^>]+>", " ", re.sub(r"(?is)<(script|style).*?</\1>", " ", text))
        import html  # only for error pages: keeps ~2 ms off every start

        return clip(html.unescape(re.sub(r"<[^>]+>", " ", found)), 120) or "an HTML page"
    return clip(text, 200)


def retry_after(
    headers: Mapping[str, str],
    payload: Any = None,
    *,
    now: float | None = None,
    rate_limited: bool = False,
) -> float | None:
    """The server's requested wait in seconds, from the first of: `retry_after` in the body
    (ModelsLab's documented 429 field), `retry-after-ms`, `Retry-After` (seconds or an HTTP date),
    and for a 429 only (`rate_limited`) `X-RateLimit-Reset` (a Unix time, as ModelsLab's own CLI
    reads it; small values are taken as seconds): elsewhere it is the end of a quota window, not
    a request to wait. `now` is the current Unix time (for dates); None means the real clock.
    A wait over a week (`Retry-After: 1e20`) is taken as a week."""
    wait = _retry_after(headers, payload, now, rate_limited)
    return None if wait is None else min(wait, MAX_WAIT)


def _retry_after(
    headers: Mapping[str, str], payload: Any, now: float | None, rate_limited: bool
) -> float | None:
    body = as_dict(payload)
    if body is not None:
        wait = _seconds(body.get("retry_after"))
        if wait is not None:
            return wait
    lower = {k.lower(): v for k, v in headers.items()}
    ms = _seconds(lower.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000
    ra = lower.get("retry-after", "").strip()
    if ra:
        wait = _seconds(ra)
        if wait is not None:
            return wait
        from datetime import UTC
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(ra)
            if when.tzinfo is None:  # "-0000": UTC by RFC 5322
                when = when.replace(tzinfo=UTC)
            return max(0.0, when.timestamp() - _now(now))
        except (TypeError, ValueError, IndexError, OverflowError, OSError):
            return None
    reset = _seconds(lower.get("x-ratelimit-reset")) if rate_limited else None
    if reset is not None:
        return max(0.0, reset - _now(now)) if reset > 1_000_000_000 else reset
    return None


def _seconds(value: Any) -> float | None:
    """A non-negative number of seconds given as a number or a numeric string, else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 40 or not text.isascii():
            return _HUGE if text.isascii() and text.isdigit() else None
        try:
            value = float(text)
        except ValueError:
            return None
    if isinstance(value, int):  # a 400-digit integer would overflow float()
        return float(min(value, int(_HUGE))) if value >= 0 else None
    if isinstance(value, float) and value >= 0 and value == value:
        return min(value, _HUGE)
    return None


def _now(now: float | None) -> float:
    import time

    return time.time() if now is None else now


def describe_wait(seconds: float) -> str:
    """A wait as a person says it: "30 s", "5 min", "2 h 5 min"."""
    if seconds < 90:
        return f"{seconds:.3g} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"


_AUTH_WORDS = ("api key", "api_key", "apikey", "unauthorized", "unauthenticated", "invalid key")
_AUTH_KINDS = ("authentication_error", "permission_error", "invalid_api_key")
_SERVER_KINDS = ("overloaded_error", "api_error", "server_error", "internal_error")


def classify(
    status: int,
    message: str,
    kind: str | None = None,
    wait: float | None = None,
) -> ApiError:
    """Map a status and message to the error class that carries the right exit code."""
    message = clip(message, MAX_MESSAGE)
    lowered = message.lower()
    if status in (401, 403) or (
        status < 400 and (kind in _AUTH_KINDS or any(w in lowered for w in _AUTH_WORDS))
    ):
        return AuthError(message, status=status, hint=KEY_HINT, kind=kind)
    if status == 429 or kind == "rate_limit_error" or (status < 400 and "rate limit" in lowered):
        wait_hint = (
            f"the service asks to wait {describe_wait(wait)}"
            if wait
            else "ModelsLab queues at most 5 requests per account (pay-as-you-go); retry shortly"
        )
        return RateLimited(message, status=status, retry_after=wait, hint=wait_hint, kind=kind)
    if status == 408 or status >= 500 or kind in _SERVER_KINDS:
        server_hint = f"the service asks to wait {describe_wait(wait)}" if wait else None
        return ServerError(message, status=status, retry_after=wait, hint=server_hint, kind=kind)
    hint: str | None = None
    if status == 402 or "credit" in lowered:
        hint = "add credits in your ModelsLab dashboard"
    elif "model" in lowered and (
        "not found" in lowered
        or "unknown" in lowered
        or "does not exist" in lowered
        or "invalid" in lowered
    ):
        # Only when the service says the model is unknown: a 404 for a wrong path is not that.
        hint = "run `mlchat models` to see the available model ids"
    elif status == 404:
        hint = "no such API path: check the base URL (--base-url or MODELSLAB_BASE_URL)"
    elif status == 413:
        hint = "the prompt is too large for this model"
    return RequestRejected(message, status=status, hint=hint, kind=kind)


def http_error(
    status: int, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> ApiError:
    """The error for a response with status >= 400 (or an unusable body); `now` is the Unix time
    against which a `Retry-After` date is measured."""
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    payload: Any = None
    text = body.decode("utf-8", errors="replace").strip()
    if text[:1] in ("{", "["):
        try:
            payload = loads(text)
        except ProtocolError:
            payload = None
    found = error_payload(payload)
    if found is not None:
        message, kind = found
    elif payload is not None:
        message, kind = clip(text, MAX_MESSAGE), None
    elif text:
        message, kind = summarize_body(body, ctype), None
    else:
        message, kind = "", None
    prefix = f"HTTP {status}" if status >= 400 else "the service"
    message = f"{prefix}: {message}" if message else f"{prefix} with an empty body"
    wait = retry_after(headers, payload, now=now, rate_limited=status == 429)
    return classify(status, message, kind, wait)


def raise_if_error(payload: Any, status: int = 200) -> None:
    """Raise when a successfully received body or chunk is in fact an error."""
    found = error_payload(payload)
    if found is not None:
        message, kind = found
        # OpenRouter relays an upstream's HTTP status as a numeric `error.code` inside a 200
        # stream (e.g. 502 from the provider): classify by it, so a 5xx stays retryable.
        code = (as_dict((as_dict(payload) or {}).get("error")) or {}).get("code")
        if (
            status < 400
            and isinstance(code, int)
            and not isinstance(code, bool)
            and 400 <= code < 600
        ):
            status = code
        raise classify(status, message, kind, retry_after({}, payload))


def decode_models(payload: Any) -> list[ModelInfo]:
    """`GET /v1/models`: OpenAI-style `{"data": [{id, owned_by, created}]}`, tolerating extra
    fields and Anthropic-style entries (`display_name`, `created_at`, `has_more`)."""
    raise_if_error(payload)
    body = as_dict(payload)
    items = body.get("data") if body is not None else payload
    if isinstance(items, dict):
        items = items.get("items") or items.get("data")
    if not isinstance(items, list):
        raise ProtocolError("the model list has an unexpected shape")
    models: list[ModelInfo] = []
    for item in items:
        entry = as_dict(item)
        if entry is None:
            if isinstance(item, str):
                models.append(ModelInfo(id=item))
            continue
        ident = entry.get("id") or entry.get("model_id")
        if not isinstance(ident, str) or not ident:
            continue
        created = entry.get("created")
        if not isinstance(created, int) or isinstance(created, bool):
            created = _iso_to_epoch(entry.get("created_at"))
        owner = entry.get("owned_by") or entry.get("provider")
        name = entry.get("display_name") or entry.get("name")
        models.append(
            ModelInfo(
                id=ident,
                owned_by=owner if isinstance(owner, str) else None,
                created=created,
                display_name=name if isinstance(name, str) else None,
                context=_context(entry),
            )
        )
    return models


# The names services give a model's context window (OpenRouter, vLLM, LiteLLM, Together, Gemini);
# OpenRouter also nests one under `top_provider`.
CONTEXT_FIELDS = (
    "context_length",
    "context_window",
    "max_context_length",
    "context_size",
    "max_model_len",
    "max_input_tokens",
    "input_token_limit",
)
MAX_CONTEXT = 100_000_000  # a larger figure is a broken list, not a model


def _context(entry: dict[str, Any]) -> int | None:
    for where in (entry, as_dict(entry.get("top_provider"))):
        if where is None:
            continue
        for name in CONTEXT_FIELDS:
            value = where.get(name)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_CONTEXT:
                return value
    return None


def _iso_to_epoch(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def decode_count(payload: Any) -> int:
    raise_if_error(payload)
    body = as_dict(payload)
    value = body.get("input_tokens") if body is not None else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError("the token count reply has no input_tokens")
    return value


def content_text(content: Any) -> str:
    """Message content as text: a string, null, or a list of `{type, text}` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and part.get("type", "text") in ("text", "output_text"):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
        return "".join(parts)
    return ""
