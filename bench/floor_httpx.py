"""The floor for time to first byte and streaming cost: the least a Python client can do.

`python bench/floor_httpx.py BASE_URL PROMPT` (key in MODELSLAB_API_KEY) sends the same streaming
`/chat/completions` request as `mlchat ask`, decodes each SSE `data:` line as JSON and writes every
content delta to stdout, flushed, as mlchat does when piped. A PROMPT of `-` is read from stdin
(as `mlchat ask` reads a piped prompt). No retries, no error mapping, no
rendering: what is left is the cost of Python, httpx and the stream itself.

Imports: the standard library and httpx.
"""

import json
import os
import sys

import httpx


def main() -> None:
    base_url, prompt = sys.argv[1], sys.argv[2]
    if prompt == "-":
        prompt = sys.stdin.read()
    body = {
        "model": "minimax-minimax-m1",
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {os.environ['MODELSLAB_API_KEY']}"}
    out = sys.stdout
    url = base_url.rstrip("/") + "/chat/completions"
    with httpx.stream("POST", url, json=body, headers=headers, timeout=120) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            for choice in json.loads(line[6:]).get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    out.write(text)
                    out.flush()
    out.write("\n")
    out.flush()


if __name__ == "__main__":
    main()
