"""`-f SOURCE` on `ask` and `tokens`: the exact request bodies for files, folders, globs, images
and URLs in both dialects, streamed and not, and every bad input refused before any request."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke
from tests.emulator import Emulator

# The smallest real images of each kind (1x1 pixel), recognised by their bytes.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00"
WEBP += b"\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"

MODES = [
    pytest.param("openai", True, id="openai-stream"),
    pytest.param("openai", False, id="openai-whole"),
    pytest.param("anthropic", True, id="anthropic-stream"),
    pytest.param("anthropic", False, id="anthropic-whole"),
]


def ask(
    env: dict[str, str], api: str, stream: bool, *args: str, stdin: bytes = b""
) -> tuple[int, str]:
    flags = ["ask", "--api", api, *([] if stream else ["--no-stream"]), *args]
    r = invoke(flags, env=env, stdin=stdin)
    return r.code, r.err


def user_content(emulator: Emulator) -> Any:
    body = emulator.requests[-1].json
    users = [m for m in body["messages"] if m["role"] == "user"]
    assert len(users) == 1
    return users[0]["content"]


def image_part(api: str, media: str, data: bytes) -> dict[str, Any]:
    b64 = base64.b64encode(data).decode()
    if api == "openai":
        return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{b64}"}}
    return {"type": "image", "source": {"type": "base64", "media_type": media, "data": b64}}


def url_image_part(api: str, url: str) -> dict[str, Any]:
    if api == "openai":
        return {"type": "image_url", "image_url": {"url": url}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def text(t: str) -> dict[str, str]:
    return {"type": "text", "text": t}


# -- a local web server for URLs ------------------------------------------------------------------


@dataclass
class Web:
    pages: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def web() -> Iterator[Web]:
    site = Web()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.hits.append(self.path)
            status, ctype, body = site.pages.get(self.path, (404, "text/plain", b"not found"))
            if status in (301, 302):
                self.send_response(status)
                self.send_header("Location", body.decode())
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


# -- what is sent ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("api", "stream"), MODES)
def test_one_text_file_is_a_labelled_block(
    env: dict[str, str], emulator: Emulator, tmp_path: Path, api: str, stream: bool
) -> None:
    src = tmp_path / "main.py"
    src.write_text("print('hi')\n")
    code, err = ask(env, api, stream, "-f", str(src), "explain")
    assert code == 0, err
    assert user_content(emulator) == f"{src}\n```python\nprint('hi')\n```\n\nexplain"
    assert emulator.requests[-1].json["stream"] is stream


def test_the_fence_is_longer_than_any_backtick_run_inside(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    doc = tmp_path / "notes.md"
    doc.write_text("before\n````\ncode\n````\nafter")
    assert invoke(["ask", "-f", str(doc)], env=env).code == 0
    assert user_content(emulator) == f"{doc}\n`````markdown\nbefore\n````\ncode\n````\nafter\n`````"


def make_tree(root: Path) -> None:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "b.py").write_text("b = 2\n")
    (root / "src" / "a.py").write_text("a = 1\n")
    (root / "src" / "pkg" / "c.txt").write_text("see\n")
    (root / "src" / "debug.log").write_text("noise\n")
    (root / "src" / "build").mkdir()
    (root / "src" / "build" / "out.py").write_text("generated\n")
    (root / "src" / ".hidden.py").write_text("secret\n")
    (root / "src" / ".git").mkdir()
    (root / "src" / ".git" / "config").write_text("[core]\n")
    (root / "src" / "logo.png").write_bytes(PNG)
    (root / "src" / "blob.bin").write_bytes(b"\x00\x01\x02")
    (root / "src" / "empty.py").write_text("")
    (root / "src" / ".gitignore").write_text("*.log\nbuild/\n")
    (root / "src" / "pkg" / ".gitignore").write_text("!keep.log\n")
    (root / "src" / "pkg" / "keep.log").write_text("kept\n")


@pytest.mark.parametrize(("api", "stream"), MODES)
def test_a_directory_skips_ignored_hidden_and_binary_files(
    env: dict[str, str],
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api: str,
    stream: bool,
) -> None:
    make_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    r = invoke(
        ["ask", "--api", api, *([] if stream else ["--no-stream"]), "-f", "src", "q"], env=env
    )
    assert r.code == 0, r.err
    assert user_content(emulator) == (
        "src/a.py\n```python\na = 1\n```\n\n"
        "src/b.py\n```python\nb = 2\n```\n\n"
        "src/pkg/c.txt\n```\nsee\n```\n\n"
        "src/pkg/keep.log\n```log\nkept\n```\n\n"
        "q"
    )
    # empty.py is read (and counted) but, being blank, not sent.
    assert r.err == "mlchat: src: 5 files, 21 bytes, 2 binary left out\n"


def test_the_enclosing_work_trees_gitignore_applies(
    env: dict[str, str], emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("secret*\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("guide\n")
    (tmp_path / "docs" / "secret.md").write_text("no\n")
    monkeypatch.chdir(tmp_path / "docs")
    assert invoke(["ask", "-f", "."], env=env).code == 0
    assert user_content(emulator) == "./guide.md\n```markdown\nguide\n```"


@pytest.mark.parametrize(("api", "stream"), MODES)
def test_a_glob_in_sorted_order(
    env: dict[str, str],
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api: str,
    stream: bool,
) -> None:
    make_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, err = ask(env, api, stream, "-f", "src/**/*.py", "q")
    assert code == 0, err
    assert user_content(emulator) == (
        "src/a.py\n```python\na = 1\n```\n\nsrc/b.py\n```python\nb = 2\n```\n\nq"
    )
    assert "src/**/*.py: 3 files" in err  # build/out.py is ignored; empty.py counts


@pytest.mark.parametrize(("api", "stream"), MODES)
@pytest.mark.parametrize(
    ("name", "data", "media"),
    [
        ("shot.dat", PNG, "image/png"),  # by its bytes, not its name
        ("a.gif", GIF, "image/gif"),
        ("a.jpg", JPEG, "image/jpeg"),
        ("a.webp", WEBP, "image/webp"),
    ],
)
def test_an_image_is_an_image_part(
    env: dict[str, str],
    emulator: Emulator,
    tmp_path: Path,
    api: str,
    stream: bool,
    name: str,
    data: bytes,
    media: str,
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    code, err = ask(env, api, stream, "-f", str(path), "what is this?")
    assert code == 0, err
    assert user_content(emulator) == [image_part(api, media, data), text("what is this?")]


@pytest.mark.parametrize(("api", "stream"), MODES)
def test_an_image_url_is_sent_as_its_url(
    env: dict[str, str], emulator: Emulator, web: Web, api: str, stream: bool
) -> None:
    web.pages["/cat.png"] = (200, "image/png", PNG)
    url = f"{web.url}/cat.png"
    code, err = ask(env, api, stream, "-f", url, "describe")
    assert code == 0, err
    assert user_content(emulator) == [url_image_part(api, url), text("describe")]


@pytest.mark.parametrize(("api", "stream"), MODES)
def test_an_html_url_becomes_markdown(
    env: dict[str, str], emulator: Emulator, web: Web, api: str, stream: bool
) -> None:
    page = b"<html><head><script>alert(1)</script></head><body><h1>Title</h1>"
    page += b"<p>Some <b>bold</b> text.</p></body></html>"
    web.pages["/page"] = (200, "text/html; charset=utf-8", page)
    url = f"{web.url}/page"
    code, err = ask(env, api, stream, "-f", url, "summarise")
    assert code == 0, err
    assert (
        user_content(emulator)
        == f"{url}\n```markdown\n# Title\n\nSome **bold** text.\n```\n\nsummarise"
    )


def test_plain_text_urls_are_sent_as_they_are(
    env: dict[str, str], emulator: Emulator, web: Web
) -> None:
    web.pages["/data.json"] = (200, "application/json", b'{"a": 1}')
    web.pages["/moved"] = (302, "", b"/data.json")
    url = f"{web.url}/moved"
    assert invoke(["ask", "-f", url], env=env).code == 0
    assert user_content(emulator) == f'{url}\n```json\n{{"a": 1}}\n```'


@pytest.mark.parametrize(("api", "stream"), MODES)
def test_several_sources_in_the_documented_order(
    env: dict[str, str], emulator: Emulator, tmp_path: Path, web: Web, api: str, stream: bool
) -> None:
    (tmp_path / "one.txt").write_text("first file")
    (tmp_path / "pic.png").write_bytes(PNG)
    web.pages["/notes.txt"] = (200, "text/plain", b"from the web")
    url = f"{web.url}/notes.txt"
    args = ["-f", str(tmp_path / "one.txt"), "-f", str(tmp_path / "pic.png"), "-f", url, "why?"]
    code, err = ask(env, api, stream, *args, stdin=b"piped text\n")
    assert code == 0, err
    assert user_content(emulator) == [
        text(f"piped text\n\n{tmp_path / 'one.txt'}\n```\nfirst file\n```"),
        image_part(api, "image/png", PNG),
        text(f"{url}\n```\nfrom the web\n```\n\nwhy?"),
    ]


def test_dash_puts_stdin_where_it_is_named(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("file")
    assert (
        invoke(["ask", "-f", str(tmp_path / "a.txt"), "-f", "-", "q"], env=env, stdin=b"in").code
        == 0
    )
    assert user_content(emulator) == f"{tmp_path / 'a.txt'}\n```\nfile\n```\n\nin\n\nq"


def test_tokens_counts_exactly_what_ask_sends(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "a.md").write_text("# notes\n")
    (tmp_path / "b.png").write_bytes(PNG)
    args = ["-f", str(tmp_path / "a.md"), "-f", str(tmp_path / "b.png"), "q"]
    assert invoke(["ask", "--api", "anthropic", *args], env=env).code == 0
    r = invoke(["tokens", *args], env=env)
    assert r.code == 0, r.err
    sent, counted = emulator.requests[0].json, emulator.requests[1].json
    assert emulator.requests[1].path == "/v1/messages/count_tokens"
    assert counted["messages"] == sent["messages"]


# -- what is refused ------------------------------------------------------------------------------


def refused(r: Any, emulator: Emulator, code: int, start: str) -> None:
    assert r.code == code, r.err
    assert r.out == ""
    assert r.err.splitlines()[0].startswith(f"mlchat: error: {start}"), r.err
    assert emulator.requests == []


@pytest.mark.parametrize("command", ["ask", "tokens"])
def test_a_missing_path(
    env: dict[str, str], emulator: Emulator, tmp_path: Path, command: str
) -> None:
    r = invoke([command, "-f", str(tmp_path / "nope.txt"), "q"], env=env)
    refused(r, emulator, 2, f"cannot read {tmp_path / 'nope.txt'}: No such file or directory")


def test_an_unreadable_file(env: dict[str, str], emulator: Emulator, tmp_path: Path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    path = tmp_path / "locked.txt"
    path.write_text("x")
    path.chmod(0)
    refused(invoke(["ask", "-f", str(path), "q"], env=env), emulator, 2, f"cannot read {path}")


def test_a_binary_file_that_is_not_an_image(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "prog"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 100)
    r = invoke(["ask", "-f", str(path), "q"], env=env)
    refused(
        r,
        emulator,
        2,
        f"{path} looks binary (108 bytes, it contains NUL bytes) and is not an image",
    )


def test_a_glob_that_matches_nothing(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    r = invoke(["ask", "-f", f"{tmp_path}/*.nothing", "q"], env=env)
    refused(r, emulator, 2, f"{tmp_path}/*.nothing matches no text files")


def test_too_many_files_unless_raised(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_text(f"file {i}")
    r = invoke(["ask", "--max-files", "4", "-f", str(tmp_path), "q"], env=env)
    refused(r, emulator, 2, "more than 4 files to attach")
    assert "--max-files" in r.err
    assert invoke(["ask", "--max-files", "5", "-f", str(tmp_path), "q"], env=env).code == 0


def test_too_much_text_and_the_config_key(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    from tests.test_cli_tokens import write_config

    (tmp_path / "a.txt").write_text("x" * 600)
    (tmp_path / "b.txt").write_text("y" * 600)
    r = invoke(["ask", "--max-bytes", "1000", "-f", str(tmp_path), "q"], env=env)
    refused(r, emulator, 2, "the attachments are over 1.0 KB of text")
    write_config("attach_max_bytes = 1000\n")
    r = invoke(["ask", "-f", str(tmp_path), "q"], env=env)
    refused(r, emulator, 2, "the attachments are over 1.0 KB of text")
    assert invoke(["ask", "--max-bytes", "2000", "-f", str(tmp_path), "q"], env=env).code == 0


def test_an_image_over_the_limit(env: dict[str, str], emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(PNG + b"\x00" * 2000)
    r = invoke(["ask", "--max-bytes", "1000", "-f", str(path), "q"], env=env)
    refused(r, emulator, 2, f"{path} is larger than 1.0 KB (the limit for one image)")


def test_text_that_is_not_utf8_is_sent_with_one_warning(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"caf\xe9\n")
    r = invoke(["ask", "-f", str(path), "q"], env=env)
    assert r.code == 0
    assert r.err == (
        f"mlchat: warning: {path} is not valid UTF-8 (first bad byte at offset 3); "
        "invalid bytes were replaced with U+FFFD\n"
    )
    assert user_content(emulator) == f"{path}\n```\ncaf\ufffd\n```\n\nq"


@pytest.mark.parametrize(("status", "message"), [(404, "HTTP 404"), (500, "HTTP 500")])
def test_a_url_that_fails_exits_6(
    env: dict[str, str], emulator: Emulator, web: Web, status: int, message: str
) -> None:
    web.pages["/x"] = (status, "text/plain", b"no")
    r = invoke(["ask", "-f", f"{web.url}/x", "q"], env=env)
    refused(r, emulator, 6, f"cannot fetch {web.url}/x: {message}")


def test_a_url_over_the_size_limit_exits_6(
    env: dict[str, str], emulator: Emulator, web: Web
) -> None:
    web.pages["/big"] = (200, "text/plain", b"z" * 5000)
    r = invoke(["ask", "--max-bytes", "1000", "-f", f"{web.url}/big", "q"], env=env)
    refused(r, emulator, 6, f"cannot fetch {web.url}/big: it is 5.0 KB, over the limit of 1.0 KB")


def test_a_url_nobody_answers_exits_6(env: dict[str, str], emulator: Emulator) -> None:
    from tests.rawserver import free_port

    url = f"http://127.0.0.1:{free_port()}/x"
    refused(invoke(["ask", "-f", url, "q"], env=env), emulator, 6, f"cannot fetch {url}")


def test_a_url_that_times_out_exits_6(env: dict[str, str], emulator: Emulator) -> None:
    from tests.rawserver import RawServer

    def silent(conn: Any) -> None:
        conn.read_request()
        conn.stall(3)

    with RawServer(silent) as server:
        url = f"{server.url}/slow"
        r = invoke(["ask", "--timeout", "0.3", "-f", url, "q"], env=env)
    refused(r, emulator, 6, f"cannot fetch {url}: timed out")


def test_a_binary_url_is_refused(env: dict[str, str], emulator: Emulator, web: Web) -> None:
    web.pages["/a.pdf"] = (200, "application/pdf", b"%PDF-1.4\x00\x01")
    r = invoke(["ask", "-f", f"{web.url}/a.pdf", "q"], env=env)
    refused(r, emulator, 2, f"{web.url}/a.pdf is application/pdf, not text or an image")


def test_a_bad_file_fails_before_any_url_is_fetched(
    env: dict[str, str], emulator: Emulator, web: Web, tmp_path: Path
) -> None:
    web.pages["/ok"] = (200, "text/plain", b"fine")
    r = invoke(["ask", "-f", f"{web.url}/ok", "-f", str(tmp_path / "missing"), "q"], env=env)
    refused(r, emulator, 2, "cannot read")
    assert web.hits == []
