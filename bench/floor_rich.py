"""The floor for a rendered first token: the least a Python client that draws Markdown does.

`python bench/floor_rich.py BASE_URL PROMPT` (key in MODELSLAB_API_KEY): bench/floor_httpx.py's
streaming request, with rich imported before it is sent (rich.console, rich.live, rich.markdown)
and the reply drawn as Markdown in a Live display, refreshed on every delta. What a token costs
from its arrival to the screen here is the floor for mlchat's rendered output.

Imports: the standard library, httpx and rich.
"""

import json
import os
import sys

import httpx
from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown


def main() -> None:
    base_url, prompt = sys.argv[1], sys.argv[2]
    body = {
        "model": "minimax-minimax-m1",
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {os.environ['MODELSLAB_API_KEY']}"}
    url = base_url.rstrip("/") + "/chat/completions"
    console = Console()
    text = ""
    with (
        httpx.stream("POST", url, json=body, headers=headers, timeout=120) as response,
        Live(console=console, auto_refresh=False) as live,
    ):
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            for choice in json.loads(line[6:]).get("choices") or ():
                delta = (choice.get("delta") or {}).get("content")
                if delta:
                    text += delta
                    live.update(Markdown(text), refresh=True)


if __name__ == "__main__":
    main()
