"""Attachments: `mlchat ask -f TREE` on a 10 MB tree of 2,000 text files against the same text
piped on stdin (`cat`-ed by the bench, so the floor pays for no walking), measured as

- **time to first byte**: spawn to the first byte of the reply on stdout (the emulator answers
  at once), so it holds the walk, the `.gitignore` checks, the reads, the labelled blocks and
  sending 10 MB;
- **peak memory**: ru_maxrss of each (see common.py for how it is read).

The tree has 40 folders of 50 files of ~5 KB (Python-looking text), a `.gitignore` at the top
leaving out `*.log` (one per folder, not sent) and one `build/` folder it ignores. The model is
one without a known context window, so no size check intervenes.

    python bench/attach.py [--quick] [--json]

Imports: bench.common.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c

FILES = 2000
FOLDERS = 40
FILE_BYTES = 5000
TTFB_RATIO = 1.5  # walking and fencing 2,000 files may cost half again what piping does
RSS_RATIO = 1.5
MODEL = "bench-model"  # no known context window: nothing is checked before sending


def make_tree(root: Path) -> bytes:
    """The tree, and the same text as one stream (what the stdin floor sends)."""
    line = "    result = compute(value, factor=3)  # keep the loop tight\n"
    body = (f"def f():\n{line * (FILE_BYTES // len(line))}").encode()
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    (root / "build").mkdir()
    (root / "build" / "out.py").write_bytes(body)
    stream = []
    for d in range(FOLDERS):
        folder = root / f"pkg{d:02d}"
        folder.mkdir()
        (folder / "debug.log").write_bytes(body)
        for f in range(FILES // FOLDERS):
            (folder / f"mod{f:02d}.py").write_bytes(body)
            stream.append(body)
    return b"\n\n".join(stream)


def measure(quick: bool) -> list[c.Row]:
    repeats = 3 if quick else 7
    with c.Sandbox() as sb, c.emulator() as emu, tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        piped = make_tree(tree)
        env = sb.env(emu.base_url)
        c.progress(f"attach: ask -f on {FILES} files ({len(piped) / 1e6:.0f} MB) x {repeats}")
        common = ("ask", "-m", MODEL, "--no-log")

        sizes: dict[str, int] = {}

        def sent(name: str, r: c.Run) -> c.Run:
            # Keep the size of what was sent, not the 10 MB bodies themselves.
            sizes[name] = max(len(q.body) for q in emu.requests)
            emu.reset()
            return r

        def ask_files() -> c.Run:
            emu.script(c.Reply.chat("ok"))
            argv = sb.mlchat(*common, "--max-files", str(FILES), "-f", str(tree), "summarise")
            return sent("files", c.run(argv, env, peak_rss=True).check())

        def ask_piped() -> c.Run:
            emu.script(c.Reply.chat("ok"))
            r = c.run(sb.mlchat(*common, "summarise"), env, stdin=piped, peak_rss=True)
            return sent("piped", r.check())

        runs = c.interleaved({"files": ask_files, "piped": ask_piped}, repeats)

    def ms(name: str) -> float:
        return 1000 * c.median([r.first_byte or 0.0 for r in runs[name]])

    def mb(name: str) -> float:
        return c.median([r.maxrss_mb or 0.0 for r in runs[name]])

    ttfb, floor = ms("files"), ms("piped")
    rss, rss_floor = mb("files"), mb("piped")
    note = f"request bodies: {sizes['files'] / 1e6:.1f} MB and {sizes['piped'] / 1e6:.1f} MB"
    return [
        c.Row(
            f"first byte: ask -f on {FILES:,} files, 10 MB",
            ttfb,
            "ms",
            floor,
            "the same text piped",
            f"<= {TTFB_RATIO:g}x",
            ttfb <= TTFB_RATIO * floor,
            note=note,
        ),
        c.Row(
            f"peak RSS: ask -f on {FILES:,} files, 10 MB",
            rss,
            "MB",
            rss_floor,
            "the same text piped",
            f"<= {RSS_RATIO:g}x",
            rss <= RSS_RATIO * rss_floor,
        ),
    ]


if __name__ == "__main__":
    sys.exit(c.script_main(measure))
