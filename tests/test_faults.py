"""Fault injection: every way the network, the service or the input can fail, through `mlchat ask`
against the emulator or a raw socket server on 127.0.0.1. Each case checks the message, the exit
code and what reached stdout (and, once the store lands, what was saved). Backoff waits go through
the injected `sleep`, which records them: no test sleeps for a retry."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlchat import config
from mlchat.client import Client, RetryPolicy
from mlchat.errors import ProtocolError, UsageError
from mlchat.prompt_input import MAX_BYTES, binary_reason, decode, human_size
from mlchat.providers import get_provider
from mlchat.runtime import Runtime
from mlchat.types import ChatRequest, Message, TextDelta
from tests.conftest import FAKE_KEY, invoke
from tests.emulator import Emulator, Reply
from tests.rawserver import (
    CERT,
    Conn,
    ForwardProxy,
    RawServer,
    free_port,
    openai_chunk,
    sse_chat,
    sse_response,
)

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def no_proxy_or_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx reads proxies and CA bundles from the process environment: start from none."""
    for name in (*PROXY_VARS, *(n.lower() for n in PROXY_VARS), "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class Result:
    code: int
    out: str
    err: str
    sleeps: list[float]

    @property
    def status_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if "retrying in" in line]


def ask(
    args: list[str],
    env: dict[str, str],
    *,
    stdin: bytes = b"",
    transport: httpx.BaseTransport | None = None,
) -> Result:
    """`mlchat <args>` in-process with a Runtime whose sleep records its waits."""
    out, err = io.StringIO(), io.StringIO()
    sleeps: list[float] = []
    rt = Runtime(
        env=env,
        stdin=io.BytesIO(stdin),
        stdout=out,
        stderr=err,
        stdin_tty=False,
        stdout_tty=False,
        stderr_tty=False,
        transport=transport,
        sleep=sleeps.append,
    )
    r = invoke(args, rt=rt)
    result = Result(r.code, out.getvalue() + r.out, err.getvalue() + r.err, sleeps)
    assert FAKE_KEY not in result.out and FAKE_KEY not in result.err
    if "--debug" not in args and "MLCHAT_DEBUG" not in env:
        assert "Traceback" not in result.err  # --debug adds tracebacks on purpose
    return result


def key_env(base_url: str, **extra: str) -> dict[str, str]:
    return {"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": base_url, **extra}


def first_error(err: str) -> str:
    return next(line for line in err.splitlines() if line.startswith("mlchat: error: "))


# -- the stream breaks -----------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_server_closes_mid_stream(env: dict[str, str], emulator: Emulator, api: str) -> None:
    emulator.script(Reply.chat("one two three four five six", chunk_size=4, drop_after=5))
    r = ask(["ask", "--api", api, "hi"], env)
    assert r.code == 6
    assert r.out.endswith("\n") and "one two three four five six".startswith(r.out.rstrip("\n"))
    assert r.out.strip()
    assert "closed the connection before the reply was complete" in first_error(r.err)
    assert "mlchat: warning: the reply above is incomplete" in r.err
    assert len(emulator.requests) == 1 and r.sleeps == []  # content shown: never retried


def test_server_closes_before_answering_is_retried_then_exit_6() -> None:
    def close_at_once(conn: Conn) -> None:
        conn.read_request()
        conn.close()

    with RawServer(close_at_once) as server:
        r = ask(["ask", "hi"], key_env(server.url))
    assert r.code == 6
    assert r.out == ""
    message = first_error(r.err)
    assert "closed the connection without answering" in message
    assert message.endswith("(gave up after 3 attempts)")
    assert len(server.requests) == 3 and len(r.sleeps) == 2
    assert len(r.status_lines) == 2


@pytest.mark.parametrize("drop_after", [0, 1])
def test_stream_broken_before_any_content_is_retried(
    env: dict[str, str], emulator: Emulator, drop_after: int
) -> None:
    # drop_after=0: right after the headers; 1: after the role-only chunk, still no content.
    emulator.script(Reply.chat("lost", drop_after=drop_after), Reply.chat("second try"))
    r = ask(["ask", "hi"], env)
    assert r.code == 0, r.err
    assert r.out == "second try\n"
    assert len(r.status_lines) == 1 and len(r.sleeps) == 1
    assert len(emulator.requests) == 2


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_only_pings_hit_the_idle_limit(env: dict[str, str], emulator: Emulator, api: str) -> None:
    emulator.script(Reply.pings(100, 0.02))
    r = ask(["ask", "--api", api, "hi"], {**env, "MLCHAT_IDLE_TIMEOUT": "0.15"})
    assert r.code == 6
    assert r.out == ""
    assert "only keep-alives, no reply, for 0.15 s" in first_error(r.err)
    assert "MLCHAT_IDLE_TIMEOUT" in r.err
    assert len(emulator.requests) == 1  # a timeout is not retried: it would triple the wait


def test_idle_limit_from_the_config_file(
    env: dict[str, str], emulator: Emulator, isolated: Path
) -> None:
    path = config.config_path()
    path.parent.mkdir(parents=True)
    path.write_text("idle_timeout = 0.15\n")
    emulator.script(Reply.pings(100, 0.02))
    r = ask(["ask", "hi"], env)
    assert r.code == 6 and "only keep-alives" in r.err


def test_idle_limit_defaults_and_validation() -> None:
    def idle(timeout: float | None, env: dict[str, str] | None = None, **file: Any) -> float:
        return config.resolve(config.Flags(timeout=timeout), env or {}, file).idle_timeout

    assert idle(None) == 300.0
    assert idle(600) == 600.0  # never below --timeout
    assert idle(600, {"MLCHAT_IDLE_TIMEOUT": "42"}) == 42.0
    assert idle(600, idle_timeout=5) == 5.0  # unless set
    assert idle(None, {"MLCHAT_IDLE_TIMEOUT": "7"}, idle_timeout=5) == 7.0
    r = ask(["ask", "hi"], key_env("http://127.0.0.1:9", MLCHAT_IDLE_TIMEOUT="soon"))
    assert r.code == 2 and "MLCHAT_IDLE_TIMEOUT must be a number of seconds" in r.err
    r = ask(["ask", "hi"], key_env("http://127.0.0.1:9", MLCHAT_IDLE_TIMEOUT="0"))
    assert r.code == 2 and "MLCHAT_IDLE_TIMEOUT must be a number of seconds > 0" in r.err
    path = config.config_path()
    path.parent.mkdir(parents=True)
    path.write_text("idle_timeout = -5\n")
    r = ask(["ask", "hi"], key_env("http://127.0.0.1:9"))
    # The config file's own validation names the file and the key.
    assert r.code == 3 and str(path) in r.err and "idle_timeout" in r.err and "got -5" in r.err


def test_read_timeout_after_content_keeps_partial() -> None:
    def stall(conn: Conn) -> None:
        conn.read_request()
        conn.start_sse()
        conn.chunk(openai_chunk("partial"))
        conn.stall(10)

    with RawServer(stall) as server:
        r = ask(["ask", "--timeout", "0.3", "hi"], key_env(server.url))
    assert r.code == 6
    assert r.out == "partial\n"
    assert "went silent for more than 0.3 s" in first_error(r.err)
    assert "hint: raise the limit with --timeout" in r.err
    assert "incomplete" in r.err
    assert len(server.requests) == 1


def test_read_timeout_before_any_answer_is_not_retried(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.script(Reply.hang(10))
    r = ask(["ask", "--timeout", "0.2", "hi"], env)
    assert r.code == 6 and r.out == ""
    assert "went silent for more than 0.2 s" in r.err
    assert len(emulator.requests) == 1 and r.sleeps == []


def test_one_byte_at_a_time_still_works() -> None:
    texts = ["Drip", "ping ", "héllo ", "wörld ", "世界 ", "🎉", "\n\nlast line"]
    response = sse_response(texts)

    def drip(conn: Conn) -> None:
        conn.read_request()
        conn.drip(response, pause=0.0002)

    with RawServer(drip) as server:
        r = ask(["ask", "hi"], key_env(server.url))
    assert r.code == 0, r.err
    assert r.out == "".join(texts) + "\n"
    assert r.err == ""


# -- the service says "not now" --------------------------------------------------------------------


def _http_date(seconds_from_now: float) -> str:
    return formatdate(time.time() + seconds_from_now, usegmt=True)


RATE = {"status": "error", "message": "Rate limit exceeded. Maximum 5 queued requests allowed."}


@pytest.mark.parametrize(
    ("body", "headers", "low", "high"),
    [
        ({**RATE, "retry_after": 7}, {}, 7.0, 7.0),
        (RATE, {"retry-after-ms": "1500"}, 1.5, 1.5),
        (RATE, {"Retry-After": "3"}, 3.0, 3.0),
        (RATE, {"Retry-After": "HTTP-DATE+30"}, 28.0, 30.0),
        (RATE, {"X-RateLimit-Reset": "UNIX+20"}, 18.0, 20.0),
    ],
    ids=["body-retry_after", "retry-after-ms", "Retry-After-seconds", "Retry-After-date", "reset"],
)
def test_429_waits_as_the_server_asks(
    env: dict[str, str],
    emulator: Emulator,
    body: dict[str, object],
    headers: dict[str, str],
    low: float,
    high: float,
) -> None:
    headers = {
        k: _http_date(30)
        if v == "HTTP-DATE+30"
        else str(int(time.time()) + 20)
        if v == "UNIX+20"
        else v
        for k, v in headers.items()
    }
    emulator.script(Reply.error(429, body, headers=headers))
    r = ask(["ask", "hi"], env)
    assert r.code == 0, r.err
    assert r.out == "echo: hi\n"
    assert len(r.sleeps) == 1 and low <= r.sleeps[0] <= high
    (line,) = r.err.splitlines()  # one status line, nothing else
    assert line.startswith("mlchat: HTTP 429: Rate limit exceeded.")
    assert line.endswith(f"retrying in {r.sleeps[0]:.1f} s (attempt 2 of 3)")


@pytest.mark.parametrize(
    "headers_or_body",
    [{"retry_after": 300}, {"Retry-After": "300"}, {"Retry-After": "HTTP-DATE+7200"}],
    ids=["body", "seconds", "date"],
)
def test_429_with_a_long_wait_is_not_slept_and_says_when(
    env: dict[str, str], emulator: Emulator, headers_or_body: dict[str, object]
) -> None:
    if "retry_after" in headers_or_body:
        reply = Reply.error(429, {**RATE, **headers_or_body})
        expected = "5 min"
    else:
        value = str(headers_or_body["Retry-After"])
        header = _http_date(7200) if value.startswith("HTTP-DATE") else value
        reply = Reply.error(429, RATE, headers={"Retry-After": header})
        expected = "5 min" if value == "300" else "2 h"
    emulator.script(reply)
    before = time.time()
    r = ask(["ask", "hi"], env)
    assert r.code == 5
    assert r.out == "" and r.sleeps == [] and len(emulator.requests) == 1
    assert first_error(r.err).startswith("mlchat: error: HTTP 429: Rate limit exceeded.")
    hint = r.err.splitlines()[-1]
    match = re.fullmatch(r"hint: the service asks to wait (.+): try again after (.+)", hint)
    assert match, hint
    assert match.group(1) in (expected, "119 min", "1 h 59 min")
    wait = 300 if expected == "5 min" else 7200
    allowed = {time.strftime("%H:%M:%S", time.localtime(before + wait + d)) for d in (-1, 0, 1)}
    allowed |= {time.strftime("%Y-%m-%d %H:%M", time.localtime(before + wait))}
    assert match.group(2) in allowed


def test_429_without_a_wait_backs_off_then_gives_up(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.script(*[Reply.error(429, RATE)] * 3)
    r = ask(["ask", "hi"], env)
    assert r.code == 5
    assert len(emulator.requests) == 3
    # Exponential from 0.5 s, doubling, with up to 25% of jitter taken off.
    assert 0.375 <= r.sleeps[0] <= 0.5 and 0.75 <= r.sleeps[1] <= 1.0
    assert first_error(r.err).endswith("(gave up after 3 attempts)")


def test_backoff_doubles_to_a_cap_of_8_seconds() -> None:
    policy = RetryPolicy(retries=10)
    assert [policy.backoff(n, rand=lambda: 0.0) for n in range(7)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        8.0,
        8.0,
    ]
    assert policy.backoff(6, rand=lambda: 1.0) == 6.0


def test_500_then_200_succeeds_after_one_retry(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.error(500))
    r = ask(["ask", "hi"], env)
    assert r.code == 0, r.err
    assert r.out == "echo: hi\n"
    assert len(emulator.requests) == 2 and len(r.sleeps) == 1
    assert r.err == (
        "mlchat: HTTP 500: Internal server error. Please try again. — "
        f"retrying in {r.sleeps[0]:.1f} s (attempt 2 of 3)\n"
    )


@pytest.mark.parametrize(
    ("args", "extra_env", "config_text", "requests"),
    [
        ([], {}, "", 3),
        (["--retries", "0"], {}, "", 1),
        (["--retries", "4"], {}, "", 5),
        ([], {"MLCHAT_RETRIES": "0"}, "", 1),
        ([], {}, "retries = 1\n", 2),
        (["--retries", "3"], {}, "retries = 0\n", 4),  # the flag wins over the file
    ],
)
def test_503_every_time_gives_up(
    env: dict[str, str],
    emulator: Emulator,
    args: list[str],
    extra_env: dict[str, str],
    config_text: str,
    requests: int,
) -> None:
    if config_text:
        path = config.config_path()
        path.parent.mkdir(parents=True)
        path.write_text(config_text)
    emulator.script(*[Reply.error(503)] * 6)
    r = ask(["ask", *args, "hi"], {**env, **extra_env})
    assert r.code == 6
    assert r.out == ""
    assert len(emulator.requests) == requests
    assert len(r.sleeps) == len(r.status_lines) == requests - 1
    message = first_error(r.err)
    assert message.startswith("mlchat: error: HTTP 503: Service temporarily unavailable.")
    assert message.endswith(f"(gave up after {requests} attempts)") == (requests > 1)


def test_html_502_page_is_one_line(env: dict[str, str], emulator: Emulator) -> None:
    page = (
        b"<!DOCTYPE html><html><head><style>body{color:red}</style>"
        b"<title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>"
        + b"<p>nginx</p>" * 500
        + b"</body></html>"
    )
    emulator.script(*[Reply.raw(502, page, content_type="text/html")] * 3)
    r = ask(["ask", "hi"], env)
    assert r.code == 6
    assert r.out == ""
    assert first_error(r.err) == (
        "mlchat: error: HTTP 502: 502 Bad Gateway (gave up after 3 attempts)"
    )
    assert all(len(line) < 200 and "<" not in line for line in r.err.splitlines())


def test_html_200_to_a_stream_request(env: dict[str, str], emulator: Emulator) -> None:
    page = b"<html><head><title>Sign in to Hotel Wi-Fi</title></head><body>...</body></html>"
    emulator.script(Reply.raw(200, page, content_type="text/html; charset=utf-8"))
    r = ask(["ask", "hi"], env)
    assert r.code == 6
    assert r.out == ""
    assert first_error(r.err) == (
        "mlchat: error: expected an API reply but got an HTML page "
        "(Sign in to Hotel Wi-Fi, HTTP 200)"
    )
    assert "hint: check --base-url" in r.err
    assert len(emulator.requests) == 1


def test_malformed_json_in_an_event(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(
        Reply.sse([{"choices": [{"delta": {"content": "partial"}}]}, "data: {not json\n\n"]),
        Reply.sse(["data: {not json either\n\n"]),
    )
    r = ask(["ask", "hi"], env)
    assert r.code == 6
    assert r.out == "partial\n"
    assert "the service sent malformed JSON" in first_error(r.err)
    assert "incomplete" in r.err
    r = ask(["ask", "hi"], env)  # before any content: still an error, and not retried
    assert r.code == 6 and r.out == "" and "malformed JSON" in r.err
    assert len(emulator.requests) == 2


@pytest.mark.parametrize("terminated", [True, False], ids=["big-event", "endless-line"])
def test_oversized_event(emulator: Emulator, terminated: bool) -> None:
    big = "data: " + "x" * 5000 + ("\n\n" if terminated else "")
    emulator.script(Reply.sse([{"choices": [{"delta": {"content": "ok"}}]}, big]))
    client = Client(emulator.base_url, FAKE_KEY, max_event_bytes=1024, sleep=lambda _s: None)
    request = ChatRequest(model="m", messages=(Message("user", "hi"),))
    got: list[object] = []
    with (
        pytest.raises(ProtocolError) as caught,
        client,
        client.chat(get_provider("openai"), request) as events,
    ):
        got.extend(events)
    assert got == [TextDelta("ok")]
    assert caught.value.message == "the service sent an event larger than 1 KiB"
    assert caught.value.exit_code == 6
    assert len(emulator.requests) == 1


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_error_event_before_content_is_retried(
    env: dict[str, str], emulator: Emulator, api: str
) -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    emulator.script(Reply.sse([f"event: error\ndata: {json.dumps(error)}\n\n"]))
    r = ask(["ask", "--api", api, "hi"], env)
    assert r.code == 0, r.err
    assert r.out == "echo: hi\n"
    assert len(r.status_lines) == 1 and "Overloaded" in r.status_lines[0]


def test_error_event_after_content_is_not_retried(env: dict[str, str], emulator: Emulator) -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    emulator.script(
        Reply.sse(
            [
                'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
                '"content_block":{"type":"text","text":""}}\n\n'
                'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                '"delta":{"type":"text_delta","text":"half an ans"}}\n\n',
                f"event: error\ndata: {json.dumps(error)}\n\n",
            ]
        )
    )
    r = ask(["ask", "--api", "anthropic", "hi"], env)
    assert r.code == 6
    assert r.out == "half an ans\n"
    assert "Overloaded" in first_error(r.err) and "incomplete" in r.err
    assert len(emulator.requests) == 1 and r.sleeps == []


# -- the network says no ---------------------------------------------------------------------------


def test_connection_refused_is_retried_then_exit_6() -> None:
    port = free_port()
    r = ask(["--debug", "ask", "hi"], key_env(f"http://127.0.0.1:{port}/api"))
    assert r.code == 6
    assert r.out == ""
    message = first_error(r.err)
    assert message.startswith(f"mlchat: error: cannot connect to 127.0.0.1:{port}: ")
    assert message.endswith("(gave up after 3 attempts)")
    assert "hint: check the network and the base URL" in r.err
    assert len(r.sleeps) == 2
    attempts = re.findall(r"-> ConnectError: .* \(attempt (\d) of 3, \d+ ms\)", r.err)
    assert attempts == ["1", "2", "3"]


def test_connect_timeout_is_retried() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectTimeout("timed out", request=request)
        body = openai_chunk("fine") + b"data: [DONE]\n\n"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    r = ask(
        ["ask", "hi"], key_env("https://api.invalid/v7"), transport=httpx.MockTransport(handler)
    )
    assert r.code == 0, r.err
    assert r.out == "fine\n"
    assert len(calls) == 2
    assert r.status_lines[0].startswith("mlchat: timed out connecting to api.invalid after 10 s")


def _tls_hello(conn: Conn) -> None:
    sse_chat(conn, ["Hello ", "over TLS"])


def test_untrusted_certificate_then_trusted_through_ssl_cert_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with RawServer(_tls_hello, tls=True) as server:
        env = key_env(server.url + "/api")
        r = ask(["ask", "hi"], env)
        assert r.code == 6
        assert r.out == ""
        assert re.fullmatch(
            r"mlchat: error: the TLS certificate of 127\.0\.0\.1:\d+ is not trusted: "
            r"\[SSL: CERTIFICATE_VERIFY_FAILED\] certificate verify failed: "
            r"self.signed certificate.*",
            first_error(r.err),
        )
        assert (
            "hint: if a proxy or a private CA signs this certificate, point SSL_CERT_FILE" in r.err
        )
        assert r.sleeps == []  # retrying cannot make a certificate trusted
        assert server.requests == []  # the key never left: the handshake failed first

        monkeypatch.setenv("SSL_CERT_FILE", str(CERT))
        r = ask(["ask", "hi"], env)
        assert r.code == 0, r.err
        assert r.out == "Hello over TLS\n"
        assert server.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"


def test_ssl_cert_file_that_cannot_be_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(missing))
    r = ask(["ask", "hi"], key_env("https://127.0.0.1:9/api"))
    assert r.code == 3
    assert first_error(r.err).startswith(
        f"mlchat: error: cannot load the CA certificates named by SSL_CERT_FILE={missing}: "
    )


def test_an_http_base_url_loads_no_ca_certificates(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], emulator: Emulator
) -> None:
    # An http:// API never does TLS, so the CA bundle is not loaded before the request leaves:
    # a CA file that cannot be read is then never touched (over https:// it is an error, above).
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nowhere.pem"))
    r = ask(["ask", "hi"], env)
    assert r.code == 0, r.err
    assert r.out == "echo: hi\n"
    # With a proxy variable set the proxy may be https://: the certificates are loaded as usual.
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")
    r = ask(["ask", "hi"], env)
    assert r.code == 3
    assert first_error(r.err).startswith("mlchat: error: cannot load the CA certificates named by")
    assert len(emulator.requests) == 1


def test_sent_is_called_when_the_request_has_left_before_any_answer() -> None:
    # The server answers only once the client has said the request is sent: a `sent` called
    # with the response (or never) would leave it waiting, and the reply would not come.
    calls: list[str] = []
    said = threading.Event()

    def answer_when_told(conn: Conn) -> None:
        conn.read_request()
        said.wait(5)
        calls.append("answered" if said.is_set() else "timed out")
        conn.send(sse_response(["hello"]))

    def sent() -> None:
        calls.append("sent")
        said.set()

    provider = get_provider("openai")
    req = ChatRequest(model="m", messages=(Message("user", "hi"),))
    with (
        RawServer(answer_when_told) as server,
        Client(server.url, FAKE_KEY) as client,
        client.chat(provider, req, sent=sent) as events,
    ):
        texts = [ev.text for ev in events if isinstance(ev, TextDelta)]
    assert texts == ["hello"]
    assert calls == ["sent", "answered"]  # once, before the answer


def test_https_to_a_plain_http_server(env: dict[str, str], emulator: Emulator) -> None:
    r = ask(
        ["ask", "hi"], {**env, "MODELSLAB_BASE_URL": emulator.base_url.replace("http", "https")}
    )
    assert r.code == 6
    assert "TLS handshake with 127.0.0.1:" in first_error(r.err)
    assert "http:// or https://" in r.err


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_redirect_to_another_host_never_carries_the_key(api: str) -> None:
    with RawServer(lambda conn: sse_chat(conn, ["moved"])) as elsewhere:
        target = f"{elsewhere.url}/api/v7/llm/chat/completions"

        def redirect(conn: Conn) -> None:
            conn.read_request()
            conn.respond(307, b"", headers={"Location": target})

        with RawServer(redirect) as origin:
            r = ask(["ask", "--api", api, "hi"], key_env(origin.url + "/api/v7/llm"))
        assert elsewhere.requests == []
        assert len(origin.requests) == 1
    assert r.code == 4
    assert r.out == ""
    assert first_error(r.err) == (
        f"mlchat: error: HTTP 307: the service redirects to {target}, "
        "and mlchat does not follow redirects"
    )
    assert "point --base-url (or MODELSLAB_BASE_URL) at it" in r.err


# -- proxies ---------------------------------------------------------------------------------------


def test_http_proxy_is_honoured_and_no_proxy_bypasses_it(
    env: dict[str, str], emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        r = ask(["ask", "via proxy"], env)
        assert r.code == 0, r.err
        assert r.out == "echo: via proxy\n"
        assert [(q.method, q.target) for q in proxy.requests] == [
            ("POST", emulator.base_url + "/chat/completions")
        ]
        assert len(emulator.requests) == 1

        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        r = ask(["ask", "direct"], env)
        assert r.code == 0 and r.out == "echo: direct\n"
        assert len(proxy.requests) == 1 and len(emulator.requests) == 2


def test_https_proxy_tunnels_with_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    with RawServer(_tls_hello, tls=True) as server, ForwardProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("SSL_CERT_FILE", str(CERT))
        r = ask(["ask", "hi"], key_env(server.url + "/api"))
        assert r.code == 0, r.err
        assert r.out == "Hello over TLS\n"
        assert [(q.method, q.target) for q in proxy.requests] == [
            ("CONNECT", f"127.0.0.1:{server.port}")
        ]
        assert FAKE_KEY not in repr(proxy.requests)  # the proxy sees only the encrypted tunnel


def test_a_dead_proxy_is_named_in_the_hint(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    r = ask(["ask", "--retries", "0", "hi"], env)
    assert r.code == 6
    assert "HTTPS_PROXY / NO_PROXY" in r.err


# -- --debug ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_attempts_timing_and_outcome(
    env: dict[str, str], emulator: Emulator, how: str
) -> None:
    emulator.script(Reply.error(500))
    args = ["--debug", "ask", "hi"] if how == "flag" else ["ask", "hi"]
    r = ask(args, {**env, "MLCHAT_DEBUG": "1"} if how == "env" else env)
    assert r.code == 0
    url = emulator.base_url + "/chat/completions"
    lines = r.err.splitlines()
    assert re.fullmatch(
        rf"mlchat: debug: POST {re.escape(url)} -> 500 application/json "
        r"\(attempt 1 of 3, \d+ ms\)",
        lines[0],
    )
    assert "retrying in" in lines[1]
    assert re.fullmatch(
        rf"mlchat: debug: POST {re.escape(url)} -> 200 text/event-stream "
        r"\(attempt 2 of 3, \d+ ms\)",
        lines[2],
    )
    assert re.fullmatch(r"mlchat: debug: reply complete \(attempt 2 of 3, \d+ ms\)", lines[3])


def test_debug_shows_the_final_failure(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(*[Reply.error(503)] * 3)
    r = ask(["--debug", "ask", "hi"], env)
    assert r.code == 6
    assert re.search(
        r"mlchat: debug: reply failed: HTTP 503: .* \(gave up after 3 attempts\) "
        r"\(exit 6, attempt 3 of 3, \d+ ms\)",
        r.err,
    )


def test_key_echoed_by_the_service_is_masked_everywhere(
    env: dict[str, str], emulator: Emulator
) -> None:
    echo = {"status": "error", "message": f"Service busy for key {FAKE_KEY}"}
    emulator.script(Reply.error(503, echo), Reply.error(401, {"message": f"bad {FAKE_KEY}"}))
    r = ask(["--debug", "ask", "hi"], env)  # ask() asserts the key is in no output
    assert r.code == 3
    assert "…" + FAKE_KEY[-4:] in r.err


# -- bad input -------------------------------------------------------------------------------------


def test_binary_stdin_is_refused_with_its_size(env: dict[str, str], emulator: Emulator) -> None:
    blob = bytes(range(256)) * 4
    r = ask(["ask", "what is this?"], env, stdin=blob)
    assert r.code == 2
    assert r.out == ""
    assert first_error(r.err) == (
        "mlchat: error: stdin looks binary (1.0 KB, it contains NUL bytes); nothing was sent"
    )
    assert "hint: pass --allow-binary" in r.err
    assert emulator.requests == []


def test_allow_binary_sends_it(env: dict[str, str], emulator: Emulator) -> None:
    blob = b"\x00\x01PNG\x89 data"
    r = ask(["ask", "--allow-binary", "what is this?"], env, stdin=blob)
    assert r.code == 0, r.err
    sent = emulator.requests[0].json["messages"][0]["content"]
    assert sent == "\x00\x01PNG\ufffd data\n\nwhat is this?"
    assert r.err.count("mlchat: warning:") == 1 and "not valid UTF-8" in r.err


def test_non_utf8_stdin_is_sent_with_one_warning(env: dict[str, str], emulator: Emulator) -> None:
    latin1 = "café crème brûlée\n".encode("latin-1") * 50
    r = ask(["ask", "translate"], env, stdin=latin1)
    assert r.code == 0, r.err
    (warning,) = r.err.splitlines()
    assert warning == (
        "mlchat: warning: stdin is not valid UTF-8 (first bad byte at offset 3); "
        "invalid bytes were replaced with U+FFFD"
    )
    sent = emulator.requests[0].json["messages"][0]["content"]
    assert sent.startswith("caf\ufffd cr\ufffdme")


def test_utf16_with_bom_is_decoded(env: dict[str, str], emulator: Emulator) -> None:
    r = ask(["ask"], env, stdin="héllo from Windows\r\nline 2".encode("utf-16"))
    assert r.code == 0, r.err
    assert r.err == ""
    assert emulator.requests[0].json["messages"][0]["content"] == "héllo from Windows\r\nline 2"


def test_several_megabytes_are_sent(env: dict[str, str], emulator: Emulator) -> None:
    # 3.5 MB is near minimax-minimax-m1's window of 1M tokens by the estimate, so the service
    # counts it first (mlchat.context); the count says it fits, and it is sent.
    big = "a line of a large log file, more or less eighty characters long......\n" * 50_000
    emulator.script(Reply.json({"input_tokens": 900_000}), Reply.chat("summary"))
    r = ask(["ask", "summarise"], env, stdin=big.encode())
    assert r.code == 0, r.err
    assert r.out == "summary\n"
    count, sent = emulator.requests
    assert count.path == "/v1/messages/count_tokens"
    assert sent.json["messages"][0]["content"] == big.rstrip("\n") + "\n\nsummarise"
    assert len(sent.body) > 3_000_000


def test_stdin_over_the_limit_is_refused(env: dict[str, str], emulator: Emulator) -> None:
    r = ask(["ask", "hi"], env, stdin=b"x" * (MAX_BYTES + 1))
    assert r.code == 2
    assert first_error(r.err) == "mlchat: error: stdin is larger than 50.0 MB; nothing was sent"
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"plain text\n", None),
        (b"tabs\tand\r\nform\x0cfeeds and \x1b[1mcolour\x1b[0m\n", None),
        ("ünïcödé and emoji 🎉".encode(), None),
        (b"caf\xe9", None),  # not UTF-8, but text: decoded with a warning, not refused
        (b"a\x00b", "it contains NUL bytes"),
        (b"\x01\x02\x03\x04 mostly controls", "20% of its first bytes are control codes"),
        (b"text" * 1000 + b"\x00", "it contains NUL bytes"),  # found past the sample too
    ],
)
def test_binary_detection(data: bytes, reason: str | None) -> None:
    assert binary_reason(data) == reason


def test_decode_boms_and_sizes() -> None:
    assert decode(b"\xef\xbb\xbfhello").text == "hello"
    with pytest.raises(UsageError):  # a UTF-8 byte order mark does not make a binary text
        decode(b"\xef\xbb\xbf\x00\x01")
    assert decode("x".encode("utf-32")).text == "x"
    assert decode(b"\xfe\xff" + "y".encode("utf-16-be")).text == "y"
    assert [human_size(n) for n in (0, 1, 999, 1000, 1_234_567, 5_000_000_000)] == [
        "0 bytes",
        "1 byte",
        "999 bytes",
        "1.0 KB",
        "1.2 MB",
        "5.0 GB",
    ]


# -- the server's wait, parsed ---------------------------------------------------------------------

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "payload", "rate_limited", "wait"),
    [
        ({}, {"retry_after": 30}, False, 30.0),
        ({}, {"retry_after": "12.5"}, False, 12.5),
        ({"Retry-After": "3"}, {"retry_after": 30}, False, 30.0),  # the body wins
        ({}, {"retry_after": -1}, False, None),
        ({}, {"retry_after": True}, False, None),
        ({"retry-after-ms": "250"}, None, False, 0.25),
        ({"Retry-After-Ms": "bogus", "Retry-After": "4"}, None, False, 4.0),
        ({"retry-after": " 7 "}, None, False, 7.0),
        ({"Retry-After": formatdate(NOW + 90, usegmt=True)}, None, False, 90.0),
        ({"Retry-After": formatdate(NOW - 90, usegmt=True)}, None, False, 0.0),
        # RFC 5322 "-0000": UTC, with no zone known. NOW is 2027-01-15 08:00:00 UTC.
        ({"Retry-After": "Fri, 15 Jan 2027 08:00:30 -0000"}, None, False, 30.0),
        ({"Retry-After": "soon"}, None, False, None),
        ({"X-RateLimit-Reset": str(int(NOW) + 45)}, None, True, 45.0),
        ({"X-RateLimit-Reset": "20"}, None, True, 20.0),
        ({"X-RateLimit-Reset": str(int(NOW) + 45)}, None, False, None),  # not a 429: a window
        ({}, None, True, None),
    ],
)
def test_retry_after_forms(
    headers: dict[str, str], payload: object, rate_limited: bool, wait: float | None
) -> None:
    from mlchat.providers.common import retry_after

    assert retry_after(headers, payload, now=NOW, rate_limited=rate_limited) == wait


def test_describe_wait() -> None:
    from mlchat.providers.common import describe_wait

    assert [describe_wait(s) for s in (0.25, 7, 89, 300, 5340, 7200, 7500)] == [
        "0.25 s",
        "7 s",
        "89 s",
        "5 min",
        "89 min",
        "2 h",
        "2 h 5 min",
    ]


def test_bare_json_error_labelled_event_stream(env: dict[str, str], emulator: Emulator) -> None:
    # Some upstreams send a plain JSON error with Content-Type text/event-stream: its message must
    # be shown, not "the reply was cut short".
    body = b'{"status": "error", "message": "Model is overloaded, try later"}'
    emulator.script(Reply.raw(200, body, content_type="text/event-stream"))
    r = invoke(["ask", "--retries", "0", "hi"], env=env)
    assert r.code == 4, r.err
    assert "Model is overloaded, try later" in r.err
    assert r.out == ""


def test_bare_json_reply_labelled_event_stream(env: dict[str, str], emulator: Emulator) -> None:
    body = b'{"choices": [{"message": {"content": "whole"}, "finish_reason": "stop"}]}'
    emulator.script(Reply.raw(200, body, content_type="text/event-stream"))
    r = invoke(["ask", "hi"], env=env)
    assert r.code == 0, r.err
    assert r.out == "whole\n"


def test_runtime_stdin_is_bytes_even_over_a_text_only_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("héllo\nsecond line\n"))
    rt = Runtime().bind()
    assert rt.stdin is not None
    assert rt.stdin.readline() == "héllo\n".encode()
    assert rt.stdin.read() == b"second line\n"
