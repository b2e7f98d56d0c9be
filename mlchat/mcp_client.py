"""The MCP SDK's one home: connections to MCP servers, run for a synchronous caller.

Imported only when a run uses a server (mlchat.mcp_tools imports it inside a function), so no other
command pays for the SDK (pydantic, anyio, httpx2: hundreds of milliseconds).

Why a thread: the SDK is async, mlchat's core is synchronous (sync httpx; prompt_toolkit runs an
event loop of its own for every prompt, so none can live in the main thread across prompts).
One daemon thread runs one asyncio loop for every server of the run; the main thread submits
coroutines with `run_coroutine_threadsafe` and waits with a timeout, so Ctrl-C in the main thread is
never stuck behind the loop. Each server lives in one task that enters the SDK's `Client` (whose
cancel scopes must be left in the task that entered them), reports its tool list, and waits to be
stopped; leaving the `Client` is the SDK's own shutdown (close stdin, wait, then SIGTERM and SIGKILL
to the server's process group, which the SDK creates with a new session).

Errors come back as values or as `ServerDown`: the caller reports them in one line and goes on.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

import httpx2
import mcp_types
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from mlchat import __version__
from mlchat.mcp_config import ServerConfig, expand
from mlchat.types import ImagePart, image_type

T = TypeVar("T")
STOP_GRACE = 6.0  # the SDK's own shutdown: 2 s for stdin EOF, 2 s after SIGTERM, then SIGKILL
_MARGIN = 2.0  # beyond the SDK's own timeout, before the main thread stops waiting
MAX_IMAGES = 8  # per result; more are described only
MAX_IMAGE_BYTES = 5_000_000  # Anthropic's limit for one image

# The SDK logs through `logging` (the "mcp" tree, and "client" in mcp.client.session); with no
# handler configured, Python's last-resort handler prints those records on stderr: tracebacks for a
# server's stray stdout line, and text the server chose (SSE event names, tool names) unescaped.
# mlchat reports a server's failures itself, in one line, so the SDK's own records go nowhere.
for _name in ("mcp", "client"):
    logging.getLogger(_name).addHandler(logging.NullHandler())
    logging.getLogger(_name).propagate = False


@dataclass(frozen=True, slots=True)
class ToolInfo:
    name: str
    description: str
    schema: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A tool's result as the model will see it: text (images described in it too), the images
    that can be sent as images, and whether it failed."""

    text: str
    is_error: bool = False
    images: tuple[ImagePart, ...] = ()


class ServerDown(Exception):
    """The server crashed, hung or closed the connection: its tools are gone for this run."""


class _Server:
    def __init__(self, config: ServerConfig, env: Mapping[str, str], log_path: Path) -> None:
        self.config = config
        self.env = env
        self.log_path = log_path
        self.client: Client | None = None
        self.task: asyncio.Task[None] | None = None
        self.stop: asyncio.Event | None = None
        self.pid: int | None = None  # a stdio server's process, when /proc can tell which

    async def run(self, ready: asyncio.Future[list[ToolInfo]]) -> None:
        self.stop = asyncio.Event()
        log: TextIO | None = None
        try:
            async with contextlib.AsyncExitStack() as stack:
                if self.config.transport == "stdio":
                    log = self._open_log()
                    transport: Any = stdio_client(self._stdio_params(), errlog=log)
                else:
                    http = await stack.enter_async_context(
                        httpx2.AsyncClient(
                            headers=self._headers(), timeout=httpx2.Timeout(30.0, read=300.0)
                        )
                    )
                    assert self.config.url is not None
                    transport = streamable_http_client(self.config.url, http_client=http)
                client = Client(
                    transport,
                    client_info=mcp_types.Implementation(name="mlchat", version=__version__),
                )
                await stack.enter_async_context(client)
                tools = await _list_tools(client)
                self.client = client
                ready.set_result(tools)
                await self.stop.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except BaseException as exc:  # every failure is the caller's one line, never a traceback
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
        finally:
            self.client = None
            if log is not None:
                log.close()

    def _open_log(self) -> TextIO:
        self.log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        log = self.log_path.open("a", encoding="utf-8", errors="replace")
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write(f"--- {stamp} mlchat starts {self.config.name}: {self.config.target}\n")
        log.flush()
        return log

    def _stdio_params(self) -> StdioServerParameters:
        """The SDK gives a server only HOME, LOGNAME, PATH, SHELL, TERM and USER of our
        environment, plus the configured `env`: the API key reaches a server only if the config
        passes it on purpose (`env = {MODELSLAB_API_KEY = "${MODELSLAB_API_KEY}"}`)."""
        where = f"mcp.{self.config.name}.env"
        env = {k: expand(v, self.env, f"{where}.{k}") for k, v in self.config.env.items()}
        return StdioServerParameters(
            command=self.config.command[0],
            args=list(self.config.command[1:]),
            env=env,
            cwd=self.config.cwd,
        )

    def _headers(self) -> dict[str, str]:
        where = f"mcp.{self.config.name}.headers"
        return {k: expand(v, self.env, f"{where}.{k}") for k, v in self.config.headers.items()}


async def _list_tools(client: Client) -> list[ToolInfo]:
    tools: list[ToolInfo] = []
    cursor: str | None = None
    for _ in range(100):  # a server whose pages never end cannot hang the start
        page = await client.list_tools(cursor=cursor)
        tools += [ToolInfo(t.name, t.description or "", dict(t.input_schema)) for t in page.tools]
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def describe(exc: BaseException) -> str:
    """One line for a failure, from the innermost exception of a group."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename or exc}"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if isinstance(exc, MCPError) and exc.error.code == mcp_types.CONNECTION_CLOSED:
        return "the server closed the connection"
    if isinstance(exc, httpx2.ConnectError):
        return "cannot connect"
    if isinstance(exc, httpx2.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def outcome(result: mcp_types.CallToolResult) -> Outcome:
    """The result as the model will see it: text parts as they are; images described in the
    text and, when they are what they claim (PNG, JPEG, GIF or WebP by their bytes, whatever the
    server says, at most MAX_IMAGES of at most MAX_IMAGE_BYTES each), kept as images; audio
    described; resources by their text or their URI."""
    parts: list[str] = []
    images: list[ImagePart] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, mcp_types.ImageContent):
            image = _image(block.data)
            if image is not None and len(images) < MAX_IMAGES:
                images.append(image)
                parts.append(f"[image: {image.media_type}, {len(image.data)} bytes]")
            else:
                size = len(block.data) * 3 // 4
                parts.append(f"[image: {block.mime_type}, {size} bytes, not sent]")
        elif isinstance(block, mcp_types.AudioContent):
            parts.append(f"[audio: {block.mime_type}, {len(block.data) * 3 // 4} bytes]")
        elif isinstance(block, mcp_types.EmbeddedResource):
            res = block.resource
            text = getattr(res, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource: {res.uri}]")
        elif isinstance(block, mcp_types.ResourceLink):
            parts.append(f"[resource: {block.uri}]")
    if not parts and result.structured_content is not None:
        import json

        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return Outcome("\n".join(parts), bool(result.is_error), tuple(images))


def _image(data: str) -> ImagePart | None:
    """An image from a result's base64 data, typed by its own bytes; None if it is not one we
    can send (or too big)."""
    if len(data) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        return None
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        return None
    media_type = image_type(raw)
    if media_type is None or len(raw) > MAX_IMAGE_BYTES:
        return None
    return ImagePart(media_type, raw)


class Hub:
    """Every server of one run, on one background event loop."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="mlchat-mcp", daemon=True)
        self.thread.start()
        self.servers: dict[str, _Server] = {}
        self.closed = False
        self.pids: set[int] = set()  # our stdio servers' process groups, for kill_leftovers

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _wait(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def start(self, configs: Sequence[ServerConfig]) -> dict[str, list[ToolInfo] | str]:
        """Start the servers in parallel; each gives its tools, or the one line of its failure."""
        for config in configs:
            self.servers[config.name] = _Server(config, self.env, self.log_path(config.name))
        wanted = [self.servers[c.name] for c in configs]

        async def start_all() -> list[list[ToolInfo] | BaseException]:
            return await asyncio.gather(*(_start(s) for s in wanted), return_exceptions=True)

        longest = max((c.startup_timeout for c in configs), default=0.0)
        before = group_leaders()
        try:
            results = self._wait(start_all(), longest + STOP_GRACE + _MARGIN)
        finally:
            new = group_leaders() - before
            self.pids |= new
            for server in wanted:
                server.pid = _writing_to(new, server.log_path)
        out: dict[str, list[ToolInfo] | str] = {}
        for server, result in zip(wanted, results, strict=True):
            if isinstance(result, BaseException):
                out[server.config.name] = (
                    f"did not start within {server.config.startup_timeout:g} s"
                    if isinstance(result, TimeoutError)
                    else describe(result)
                )
            else:
                out[server.config.name] = result
        return out

    def call(self, name: str, tool: str, arguments: dict[str, Any]) -> Outcome:
        """One tool call. A tool's own failure is an error Outcome for the model; a server that
        crashed, hung past its timeout, or dropped the connection raises ServerDown."""
        server = self.servers.get(name)
        client = server.client if server is not None else None
        if server is None or client is None:
            raise ServerDown("not running")
        timeout = server.config.timeout
        future = asyncio.run_coroutine_threadsafe(
            client.call_tool(tool, arguments, read_timeout_seconds=timeout), self.loop
        )
        try:
            result = self._watch(future, server, timeout + _MARGIN)
        except (TimeoutError, concurrent.futures.TimeoutError):
            raise ServerDown(f"no answer within {timeout:g} s") from None
        except MCPError as exc:
            code = exc.error.code
            if code == mcp_types.REQUEST_TIMEOUT:
                raise ServerDown(f"no answer within {timeout:g} s") from None
            if code == mcp_types.CONNECTION_CLOSED:
                raise ServerDown(describe(exc)) from None
            return Outcome(f"error: {describe(exc)}", True)
        except Exception as exc:  # a broken transport or a malformed result: the server is unusable
            raise ServerDown(describe(exc)) from None
        return outcome(result)

    def _watch(self, future: concurrent.futures.Future[T], server: _Server, timeout: float) -> T:
        """The call's result. A server process that dies is noticed even when a child of it
        keeps the pipe open (then the SDK would wait for the timeout)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    return future.result(min(0.25, max(0.0, deadline - time.monotonic())))
                except concurrent.futures.TimeoutError:
                    if time.monotonic() >= deadline:
                        raise
                    if server.pid is not None and not _alive(server.pid):
                        raise ServerDown("the server exited") from None
        except BaseException:
            future.cancel()
            raise

    def stop(self, name: str) -> None:
        """Stop one server in the background (its task runs the SDK's shutdown)."""
        server = self.servers.get(name)
        if server is not None and not self.closed:
            self.loop.call_soon_threadsafe(_stop, server)

    def close(self) -> None:
        """Stop every server and wait (bounded) for their process groups to end; whatever is
        still alive after that (a second Ctrl-C cut the wait short) is killed with its group."""
        if self.closed:
            return
        self.closed = True
        try:
            with contextlib.suppress(concurrent.futures.TimeoutError, TimeoutError):
                self._wait(_stop_all(list(self.servers.values())), STOP_GRACE + _MARGIN)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(1.0)
            kill_groups(self.pids)


async def _start(server: _Server) -> list[ToolInfo]:
    ready: asyncio.Future[list[ToolInfo]] = asyncio.get_running_loop().create_future()
    server.task = asyncio.create_task(server.run(ready))
    try:
        return await asyncio.wait_for(asyncio.shield(ready), server.config.startup_timeout)
    except BaseException:
        server.task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(server.task, STOP_GRACE)
        raise


def _stop(server: _Server) -> None:
    if server.stop is not None:
        server.stop.set()


async def _stop_all(servers: list[_Server]) -> None:
    tasks = [s.task for s in servers if s.task is not None and not s.task.done()]
    for server in servers:
        _stop(server)
    if tasks:
        await asyncio.wait(tasks, timeout=STOP_GRACE)
    for task in tasks:
        task.cancel()


def group_leaders() -> set[int]:
    """Our children that lead their own process group: the SDK starts each stdio server so (a new
    session). Linux's /proc only; elsewhere the SDK's own shutdown is all there is."""
    if not sys.platform.startswith("linux"):
        return set()
    me = os.getpid()
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[1]) == me and int(fields[2]) == int(entry.name):
            found.add(int(entry.name))
    return found


def _writing_to(pids: set[int], log: Path) -> int | None:
    """The one of `pids` whose stderr is `log` (each stdio server has a log of its own)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/fd/2").readlink() == log.resolve():
                return pid
    return None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :][:1] not in ("Z", "X")


def kill_groups(pgids: set[int]) -> None:
    """SIGKILL what is left of each server's process group after the SDK's shutdown: a child
    the server left behind (the SDK kills the group only when the server itself lingers), or a
    server whose shutdown a second Ctrl-C cut short."""
    for pgid in pgids:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
