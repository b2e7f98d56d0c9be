"""The JSON Schema validator candidates, measured as mlchat/schema.py's docstring reports them:
import time and the time to validate {"type": "string", "pattern": "^(a+)+$"} against
"a" * n + "!" (catastrophic backtracking for an engine that backtracks).

    python bench/schema_validators.py [PYTHON] [--limit SECONDS]

PYTHON (default: this interpreter) must have the candidates installed (`pip install jsonschema
jsonschema-rs fastjsonschema regex`); a missing one is skipped. Each measurement runs in a child
process, killed after --limit seconds (default 20): past that the growth is the answer.

Imports: the standard library only.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

CANDIDATES = ("jsonschema", "jsonschema_rs", "fastjsonschema", "regex")
# What `ask` has loaded by the time it validates, so only the validator's own cost is counted.
PRELOAD = "import typing, re, json, socket, email.utils, dataclasses, enum, functools"
LENGTHS = (20, 22, 24, 26, 40, 10_000, 1_000_000)
VALIDATE = {
    "jsonschema": "import jsonschema\nok = jsonschema.Draft202012Validator(SCHEMA).is_valid",
    "jsonschema_rs": "import jsonschema_rs\nok = jsonschema_rs.validator_for(SCHEMA).is_valid",
    "fastjsonschema": "import fastjsonschema\nf = fastjsonschema.compile(SCHEMA)\n"
    "def ok(x):\n    try:\n        f(x)\n        return True\n"
    "    except fastjsonschema.JsonSchemaException:\n        return False",
}


def run(python: str, code: str, limit: float) -> str | None:
    try:
        proc = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, timeout=limit, check=False
        )
    except subprocess.TimeoutExpired:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else f"error: {proc.stderr.strip()[-200:]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("python", nargs="?", default=sys.executable)
    parser.add_argument("--limit", type=float, default=20.0)
    args = parser.parse_args()
    print("import, after preloading what `ask` has loaded (median / min of 9, ms):")
    for name in CANDIDATES:
        code = f"{PRELOAD}\nimport time\nt = time.perf_counter()\nimport {name}\n"
        code += "print(time.perf_counter() - t)"
        times = []
        for _ in range(9):
            out = run(args.python, code, 30)
            if out is None or out.startswith("error"):
                break
            times.append(float(out) * 1000)
        if not times:
            print(f"  {name:15s} not installed")
            continue
        print(f"  {name:15s} {statistics.median(times):6.1f} / {min(times):6.1f}")
    print('validating "a" * n + "!" against ^(a+)+$:')
    for name, setup in VALIDATE.items():
        for n in LENGTHS:
            code = (
                f"import time\nSCHEMA = {{'type': 'string', 'pattern': '^(a+)+$'}}\n{setup}\n"
                f"s = 'a' * {n} + '!'\nt = time.perf_counter()\nv = ok(s)\n"
                "print(v, time.perf_counter() - t)"
            )
            out = run(args.python, code, args.limit)
            if out is None:
                print(f"  {name:15s} n={n:>9,}: not done after {args.limit:g} s (killed)")
                break
            if out.startswith("error"):
                print(f"  {name:15s} not installed")
                break
            valid, seconds = out.split()
            print(f"  {name:15s} n={n:>9,}: {float(seconds) * 1000:10.3f} ms (valid: {valid})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
