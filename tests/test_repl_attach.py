"""Attachments in `mlchat chat`: `@path` mentions, `/file`, `/files`, `chat -f`, path completion
after `@`, the toolbar's queue, and a resumed chat that carried them: the exact request bodies in
both dialects, streamed and not, and every bad source refused with nothing sent."""

from __future__ import annotations

import base64
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from mlchat.errors import UsageError
from mlchat.repl.complete import completions
from mlchat.repl.mentions import parse
from tests.conftest import invoke
from tests.emulator import Emulator
from tests.emulator import Reply as R
from tests.test_cli_attach import Web, web  # noqa: F401 - `web` is a fixture

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
B64 = base64.b64encode(PNG).decode()

MODES = [
    pytest.param("openai", True, id="openai-stream"),
    pytest.param("openai", False, id="openai-whole"),
    pytest.param("anthropic", True, id="anthropic-stream"),
    pytest.param("anthropic", False, id="anthropic-whole"),
]


def chat(
    env: dict[str, str], lines: list[str], *args: str, api: str = "openai", stream: bool = True
) -> tuple[int, str]:
    flags = ["chat", "--api", api, *([] if stream else ["--no-stream"]), *args]
    r = invoke(flags, env=env, stdin="".join(line + "\n" for line in lines).encode())
    return r.code, r.err


def users(emulator: Emulator) -> list[Any]:
    """The content of the last user message of every chat request, in order."""
    out = []
    for r in emulator.requests:
        if r.path in ("/chat/completions", "/v1/messages"):
            out.append([m for m in r.json["messages"] if m["role"] == "user"][-1]["content"])
    return out


def image_part(api: str) -> dict[str, Any]:
    if api == "openai":
        return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{B64}"}}
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": B64}}


def text(t: str) -> dict[str, str]:
    return {"type": "text", "text": t}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "main.py"
    path.write_text("print('hi')\n")
    return path


# -- @ mentions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("api", "stream"), MODES)
def test_a_mention_attaches_the_file_to_its_message(
    env: dict[str, str], emulator: Emulator, src: Path, api: str, stream: bool
) -> None:
    code, err = chat(env, [f"explain @{src}", "thanks"], api=api, stream=stream)
    assert code == 0, err
    block = f"{src}\n```python\nprint('hi')\n```"
    assert users(emulator) == [f"{block}\n\nexplain @{src}", "thanks"]
    assert emulator.requests[0].json["stream"] is stream


@pytest.mark.parametrize(("api", "stream"), MODES)
def test_a_mentioned_image_is_an_image_part(
    env: dict[str, str], emulator: Emulator, tmp_path: Path, api: str, stream: bool
) -> None:
    (tmp_path / "shot.png").write_bytes(PNG)
    code, err = chat(env, [f"what is in @{tmp_path}/shot.png?"], api=api, stream=stream)
    assert code == 0, err
    assert users(emulator) == [[image_part(api), text(f"what is in @{tmp_path}/shot.png?")]]


def test_a_mentioned_folder_honours_gitignore(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "b.log").write_text("noise\n")
    (tmp_path / ".gitignore").write_text("*.log\n")
    code, err = chat(env, [f"review @{tmp_path}/"])
    assert code == 0, err
    assert users(emulator) == [f"{tmp_path}/a.py\n```python\na = 1\n```\n\nreview @{tmp_path}/"]
    assert "1 file" in err


def test_double_at_is_a_literal_at_and_a_handle_is_text(
    env: dict[str, str], emulator: Emulator, src: Path
) -> None:
    line = f"mail @@{src} to @alice, me@example.com; what does @pytest.fixture do?"
    code, err = chat(env, [line])
    assert code == 0, err
    assert users(emulator) == [line.replace("@@", "@")]


def test_trailing_punctuation_is_not_part_of_the_mention(
    env: dict[str, str], emulator: Emulator, src: Path
) -> None:
    code, err = chat(env, [f"is @{src}, fine?"])
    assert code == 0, err
    assert users(emulator)[0].startswith(f"{src}\n```python\n")


def test_a_mention_of_nothing_is_refused_and_nothing_is_sent(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    code, err = chat(env, [f"explain @{tmp_path}/nope.py"])
    assert code == 2
    assert f"@{tmp_path}/nope.py: no such file, folder or matching glob; nothing was sent" in err
    assert "@@ for a literal @" in err
    assert emulator.requests == []


def test_a_mentioned_binary_is_refused(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02" * 10)
    code, err = chat(env, [f"what is @{tmp_path}/blob.bin", "and this?"])
    assert code == 2 and "looks binary" in err
    assert users(emulator) == ["and this?"]  # the chat goes on; the refused line was not sent


def test_the_same_path_twice_is_attached_once(
    env: dict[str, str], emulator: Emulator, src: Path
) -> None:
    code, err = chat(env, [f"@{src} and again @{src}"])
    assert code == 0, err
    assert users(emulator)[0].count("print('hi')") == 1


# -- /file, /files and chat -f --------------------------------------------------------------------


@pytest.mark.parametrize(("api", "stream"), MODES)
def test_file_attaches_to_the_next_message_only(
    env: dict[str, str], emulator: Emulator, src: Path, tmp_path: Path, api: str, stream: bool
) -> None:
    (tmp_path / "shot.png").write_bytes(PNG)
    lines = [f"/file {src} {tmp_path}/shot.png", "look", "and now?"]
    code, err = chat(env, lines, api=api, stream=stream)
    assert code == 0, err
    block = f"{src}\n```python\nprint('hi')\n```"
    assert users(emulator) == [[text(block), image_part(api), text("look")], "and now?"]
    assert "attached to the next message: 1 file (12 bytes), 1 image" in err


def test_file_errors_queue_nothing(
    env: dict[str, str], emulator: Emulator, src: Path, tmp_path: Path
) -> None:
    code, err = chat(env, [f"/file {src} {tmp_path}/missing.txt", "hello"])
    assert code == 2 and f"cannot read {tmp_path}/missing.txt" in err
    assert users(emulator) == ["hello"]


def test_file_clear_and_show(env: dict[str, str], emulator: Emulator, src: Path) -> None:
    r = invoke(["chat"], env=env, stdin=f"/file {src}\n/file\n/file none\n/file\nhi\n".encode())
    assert r.code == 0, r.err
    assert f"next message: {src}" in r.out
    assert "nothing is queued" in r.out
    assert users(emulator) == ["hi"]


def test_files_lists_what_the_conversation_carries(
    env: dict[str, str], emulator: Emulator, src: Path, tmp_path: Path
) -> None:
    (tmp_path / "shot.png").write_bytes(PNG)
    lines = [f"look @{src}", f"/file {tmp_path}/shot.png", "/files"]
    r = invoke(["chat"], env=env, stdin="".join(f"{x}\n" for x in lines).encode())
    assert r.code == 0, r.err
    listing = r.out[r.out.index("message 1") :]
    block = math.ceil(len(f"{src}\n```python\nprint('hi')\n```") / 4)
    assert listing.splitlines() == [
        f"message 1  {src}  12 bytes  ~{block} tokens",
        f"next       {tmp_path}/shot.png  image/png, {len(PNG)} bytes  ~1,600 tokens",
        f"2 attachments, ~{block + 1600:,} tokens",
    ]


def test_chat_file_flag_attaches_to_the_first_message(
    env: dict[str, str], emulator: Emulator, src: Path
) -> None:
    code, err = chat(env, ["explain", "more"], "-f", str(src))
    assert code == 0, err
    assert users(emulator) == [f"{src}\n```python\nprint('hi')\n```\n\nexplain", "more"]


def test_chat_file_flag_errors_before_the_chat(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    code, err = chat(env, ["hello"], "-f", str(tmp_path / "missing.txt"))
    assert code == 2 and "cannot read" in err
    assert emulator.requests == []
    code, err = chat(env, ["hello"], "-f", "-")
    assert code == 2 and "stdin" in err
    assert emulator.requests == []


def test_a_resumed_chat_sends_its_attachments_again(
    env: dict[str, str], emulator: Emulator, src: Path
) -> None:
    assert chat(env, [f"explain @{src}"])[0] == 0
    src.write_text("changed on disk\n")  # what was sent is stored; the file is not read again
    assert chat(env, ["and then?"], "-c")[0] == 0
    body = emulator.requests[-1].json["messages"]
    user = [m["content"] for m in body if m["role"] == "user"]
    assert user == [f"{src}\n```python\nprint('hi')\n```\n\nexplain @{src}", "and then?"]


# -- completion and the toolbar -----------------------------------------------------------------


def test_tab_completes_paths_after_an_at(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("n")
    (tmp_path / "notebook").mkdir()
    (tmp_path / ".hidden").write_text("h")
    (tmp_path / "other.txt").write_text("o")

    def got(line: str) -> list[tuple[str, int]]:
        return [(t, start) for t, start, _ in completions(line, list)]

    base = f"{tmp_path}/no"
    assert got(f"look at @{base}") == [
        (f"{tmp_path}/notebook/", -len(base)),
        (f"{tmp_path}/notes.md", -len(base)),
    ]
    assert got(f"@{tmp_path}/.h") == [(f"{tmp_path}/.hidden", -len(f"{tmp_path}/.h"))]
    assert all(".hidden" not in t for t, _ in got(f"@{tmp_path}/"))
    assert got(f"@@{base}") == []  # a literal @
    assert got(f"me@{base}") == []  # inside a word
    assert got(f"/file {src_of(tmp_path)} {base}")[0][0] == f"{tmp_path}/notebook/"


def src_of(tmp_path: Path) -> str:
    return str(tmp_path / "other.txt")


def test_parse_keeps_text_and_finds_sources(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("a")
    got = parse(f"see @{tmp_path}/a.md. @@x @bob", tmp_path)
    assert got.text == f"see @{tmp_path}/a.md. @x @bob"
    assert got.sources == (f"{tmp_path}/a.md",)
    assert parse("@a.md", tmp_path).sources == ("a.md",)  # relative to the given directory
    for typo in ("@b.md", "@~/nope", "@src/nope", "@*.nothing"):
        with pytest.raises(UsageError, match="no such file, folder or matching glob"):
            parse(f"see {typo}", tmp_path)


def test_the_toolbar_shows_what_is_queued(emulator: Emulator, src: Path) -> None:
    from mlchat import params as P
    from mlchat.client import Client
    from mlchat.repl.loop import Repl
    from mlchat.session import Conversation
    from tests.test_context import quiet_runtime

    client = Client(emulator.base_url, "ml-test-key-0123456789abcdef")
    repl = Repl(quiet_runtime(), client, Conversation(model="m", params=P.DEFAULTS))
    try:
        assert "next:" not in repl.toolbar()
        repl.command(f"/file {src}")
        assert " · next: 1 file (12 bytes)" in repl.toolbar()
        repl.handle("go")
        assert "next:" not in repl.toolbar()
    finally:
        client.close()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_tab_completes_a_mention_in_a_real_terminal(tmp_path: Path, emulator: Emulator) -> None:
    from tests.test_repl_tmux import Terminal

    (tmp_path / "notes-for-tab.md").write_text("hello notes\n")
    t = Terminal(tmp_path, emulator)
    try:
        t.prompt()
        t.type(f"sum up @{tmp_path}/notes-f")
        t.keys("Tab")
        t.wait_for(f"sum up @{tmp_path}/notes-for-tab.md")
        t.keys("Enter")
        t.wait_for("echo: ")
        t.prompt()
        assert users(emulator) == [
            f"{tmp_path}/notes-for-tab.md\n```markdown\nhello notes\n```\n\n"
            f"sum up @{tmp_path}/notes-for-tab.md"
        ]
        t.type(f"/file {tmp_path}/notes-for-tab.md")
        t.keys("Enter")
        assert "next: 1 file (12 bytes)" in t.wait_for("next: 1 file").splitlines()[-1]
        t.keys("C-d")
        assert t.exit_status() == 0
    finally:
        t.close()


def test_retry_resends_the_attachments_exactly(
    env: dict[str, str], emulator: Emulator, src: Path
) -> None:
    emulator.script(R.error(500, "down"))
    _, err = chat(env, [f"explain @{src}", "/retry"], "--retries", "0")
    assert "down" in err
    first, second = users(emulator)
    assert first == second == f"{src}\n```python\nprint('hi')\n```\n\nexplain @{src}"


def test_file_fetches_a_web_page_as_markdown(
    env: dict[str, str],
    emulator: Emulator,
    web: Web,  # noqa: F811 - the fixture imported above
) -> None:
    web.pages["/doc.html"] = (
        200,
        "text/html",
        b"<html><body><h1>Title</h1><p>Body</p></body></html>",
    )
    code, err = chat(env, [f"/file {web.url}/doc.html", "sum up"])
    assert code == 0, err
    [content] = users(emulator)
    assert content.startswith(f"{web.url}/doc.html\n```markdown\n")
    assert "Title" in content and "Body" in content and "<h1>" not in content
    assert content.endswith("\n```\n\nsum up")
    assert web.hits == ["/doc.html"]


def test_file_with_a_failing_url_exits_6_and_queues_nothing(
    env: dict[str, str],
    emulator: Emulator,
    web: Web,  # noqa: F811 - the fixture imported above
) -> None:
    code, err = chat(env, [f"/file {web.url}/missing", "hi"])
    assert code == 6 and "HTTP 404" in err
    assert users(emulator) == ["hi"]


def test_edit_puts_the_typed_text_back_and_requeues_what_was_not_mentioned(
    env: dict[str, str], emulator: Emulator, src: Path, tmp_path: Path
) -> None:
    (tmp_path / "shot.png").write_bytes(PNG)
    lines = [f"/file {tmp_path}/shot.png", f"explain @{src}", "/edit", f"explain again @{src}"]
    code, err = chat(env, lines)
    assert code == 0, err
    block = f"{src}\n```python\nprint('hi')\n```"
    first, second = users(emulator)
    assert first == [image_part("openai"), text(f"{block}\n\nexplain @{src}")]
    # The image was queued again, the mentioned file read again: each is sent once.
    assert second == [image_part("openai"), text(f"{block}\n\nexplain again @{src}")]
