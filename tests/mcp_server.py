"""A small MCP server for the tests, written with the SDK's own server API (MCPServer).

    python tests/mcp_server.py stdio          # over stdin/stdout
    python tests/mcp_server.py http PORT      # Streamable HTTP on 127.0.0.1:PORT/mcp

Tools: `echo` (says which server answered: $MCP_TEST_NAME), `fail` (a tool error), `crash` (the
process exits mid-call), `hang` (never answers; writes $MCP_TEST_PIDS.hang first), `whoami_env`
(whether MODELSLAB_API_KEY reached it), `header` (an HTTP request header, on the http transport),
`picture` (an image), `fake_picture` (text that claims to be a PNG). With $MCP_TEST_PIDS set, the
server appends its pid and the pid of a child it keeps (`sleep`, in the server's process group)
to that file, so a test can see that the whole group was stopped.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image

NAME = os.environ.get("MCP_TEST_NAME", "demo")
app = MCPServer(NAME, log_level="WARNING")


@app.tool()
def echo(text: str) -> str:
    """Echo the text back, saying which server answered."""
    return f"{NAME} says: {text}"


@app.tool()
def fail(reason: str = "it broke") -> str:
    """Always fails."""
    raise ToolError(reason)


@app.tool()
def crash() -> str:
    """The server exits in the middle of the call."""
    os._exit(3)


@app.tool()
async def hang() -> str:
    """Never answers (within any test's patience)."""
    pids = os.environ.get("MCP_TEST_PIDS")
    if pids:
        with open(pids + ".hang", "a") as f:
            f.write("hanging\n")
    await anyio.sleep(3600)
    return "late"


@app.tool()
def whoami_env() -> str:
    """Whether the API key is in this server's environment."""
    return "key present" if "MODELSLAB_API_KEY" in os.environ else "no key"


@app.tool()
def header(name: str, ctx: Context) -> str:
    """One header of the HTTP request that carried this call."""
    request = ctx.request_context.request
    headers = getattr(request, "headers", None)
    return str(headers.get(name)) if headers is not None else "no request"


@app.tool()
def picture() -> Image:
    """A tiny PNG."""
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    return Image(data=png, format="png")


@app.tool()
def fake_picture() -> Image:
    """Says it is a PNG; is not one."""
    return Image(data=b"<html>not an image</html>", format="png")


def main() -> None:
    pids = os.environ.get("MCP_TEST_PIDS")
    if pids:
        # Left running when the server exits: only stopping the whole group ends it.
        child = subprocess.Popen(["sleep", "300"])
        with open(pids, "a") as f:
            f.write(f"{os.getpid()} {child.pid}\n")
    print(f"{NAME} starting (stderr goes to the log)", file=sys.stderr, flush=True)
    if sys.argv[1] == "http":
        app.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        app.run()


if __name__ == "__main__":
    main()
