"""Smoke findings about MCP servers, through the real entry point in a subprocess: what the MCP SDK
logs about a misbehaving server must not reach the terminal (tracebacks, the server's own text)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import FAKE_KEY

# A stdio "server" that writes a non-JSON-RPC line (an escape sequence in it) and exits.
NOISY = "import sys; sys.stdout.write('\\x1b[31mnot json-rpc\\n'); sys.stdout.flush()"


def test_a_server_writing_garbage_is_one_line_without_a_traceback() -> None:
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "mlchat" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    command = json.dumps([sys.executable, "-c", NOISY])
    config.write_text(f"[mcp.noisy]\ncommand = {command}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mlchat", "mcp", "list"],
        env={**os.environ, "MODELSLAB_API_KEY": FAKE_KEY},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "noisy" in proc.stdout and "failed" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert "\x1b" not in proc.stderr + proc.stdout
    assert "not json-rpc" not in proc.stderr
