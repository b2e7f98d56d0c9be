"""Attachments in the conversation store: saved with their message, content-addressed, sent again
exactly by `ask -c`, named by `sessions show`, carried whole by `sessions export`."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest

from mlchat.session import Conversation
from mlchat.store import Store
from mlchat.types import ImagePart, Message, TextPart, user_message
from tests.conftest import invoke
from tests.emulator import Emulator, Reply
from tests.test_cli_attach import PNG, image_part, text


def db_path() -> Path:
    from mlchat.cli.common import db_path as path

    return path()


def count(table: str) -> int:
    con = sqlite3.connect(db_path())
    try:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        con.close()


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_a_resumed_conversation_sends_its_attachments_again(
    env: dict[str, str], emulator: Emulator, tmp_path: Path, api: str
) -> None:
    (tmp_path / "notes.md").write_text("# plan\n")
    (tmp_path / "pic.png").write_bytes(PNG)
    args = ["ask", "--api", api, "-f", str(tmp_path / "notes.md"), "-f", str(tmp_path / "pic.png")]
    assert invoke([*args, "look"], env=env).code == 0
    first = emulator.requests[-1].json["messages"]
    # The files change on disk: what was sent is what is sent again.
    (tmp_path / "notes.md").write_text("changed\n")
    (tmp_path / "pic.png").unlink()
    r = invoke(["ask", "--api", api, "-c", "and now?"], env=env)
    assert r.code == 0, r.err
    again = emulator.requests[-1].json["messages"]
    assert again[: len(first)] == first
    assert first[-1]["content"] == [
        text(f"{tmp_path / 'notes.md'}\n```markdown\n# plan\n```"),
        image_part(api, "image/png", PNG),
        text("look"),
    ]


def test_the_same_file_sent_twice_is_stored_once(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    big = tmp_path / "big.txt"
    big.write_text("lorem ipsum " * 1000)
    (tmp_path / "pic.png").write_bytes(PNG)
    for question in ("one", "two"):
        args = ["ask", "-f", str(big), "-f", str(tmp_path / "pic.png"), question]
        assert invoke(args, env=env).code == 0
    assert count("blobs") == 2  # the text and the image, once each
    assert count("message_parts") == 6  # file, image, text in each of two messages
    con = sqlite3.connect(db_path())
    contents = [r[0] for r in con.execute("SELECT content FROM messages WHERE role = 'user'")]
    con.close()
    assert contents == ["one", "two"]  # the file's text lives only in its blob


def test_deleting_a_conversation_deletes_attachments_no_other_one_uses(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "shared.txt").write_text("shared")
    (tmp_path / "own.txt").write_text("own")
    invoke(
        ["ask", "-f", str(tmp_path / "shared.txt"), "-f", str(tmp_path / "own.txt"), "a"], env=env
    )
    invoke(["ask", "-f", str(tmp_path / "shared.txt"), "b"], env=env)
    with Store.open(db_path()) as store:
        first = store.conversations()[-1].id
        store.delete(first)
    assert count("blobs") == 1
    with Store.open(db_path()) as store:
        convo = store.latest()
        assert convo is not None
        assert convo.messages[0].parts == (
            TextPart("shared", str(tmp_path / "shared.txt")),
            TextPart("b"),
        )


def test_sessions_show_names_attachments_instead_of_dumping_them(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "long.txt").write_text("secret body " * 100)
    (tmp_path / "pic.png").write_bytes(PNG)
    args = ["ask", "-f", str(tmp_path / "long.txt"), "-f", str(tmp_path / "pic.png"), "what?"]
    emulator.script(Reply.chat("a picture"))
    assert invoke(args, env=env).code == 0
    r = invoke(["sessions", "show"], env=env)
    assert r.code == 0, r.err
    assert f"[file: {tmp_path / 'long.txt'}, 1.2 KB]\n" in r.out
    assert f"[image: {tmp_path / 'pic.png'}, image/png, {len(PNG)} bytes]\n" in r.out
    assert "what?\n" in r.out
    assert "secret body" not in r.out


def test_export_json_carries_every_part(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "pic.png").write_bytes(PNG)
    args = ["ask", "-f", str(tmp_path / "a.py"), "-f", str(tmp_path / "pic.png"), "q"]
    assert invoke(args, env=env).code == 0
    r = invoke(["sessions", "export", "-f", "json"], env=env)
    doc = json.loads(r.out)
    user = doc["messages"][0]
    assert user["content"] == f"{tmp_path / 'a.py'}\n```python\nx = 1\n```\n\nq"
    assert user["parts"] == [
        {"type": "file", "source": str(tmp_path / "a.py"), "text": "x = 1\n"},
        {
            "type": "image",
            "source": str(tmp_path / "pic.png"),
            "url": None,
            "media_type": "image/png",
            "data": base64.b64encode(PNG).decode(),
        },
        {"type": "text", "text": "q"},
    ]
    md = invoke(["sessions", "export"], env=env).out
    assert f"{tmp_path / 'a.py'}\n```python\nx = 1\n```\n\nq\n" in md
    assert f"*(image: `{tmp_path / 'pic.png'}`, image/png, {len(PNG)} bytes)*" in md


def test_store_round_trip_keeps_parts_equal(tmp_path: Path) -> None:
    from mlchat.turnlog import StoreLog

    message = user_message(
        [
            TextPart("piped"),
            TextPart("body", "f.txt"),
            ImagePart("image/gif", b"GIF89a", "u", "http://x/u"),
        ]
    )
    with Store.open(tmp_path / "db") as store:
        log = StoreLog(store, lambda _w: None)
        convo = Conversation(model="m")
        convo.add_user(message)
        log.user(convo, convo.messages[-1])
        assert convo.id is not None
        loaded = store.load_conversation(convo.id)
    assert loaded.messages == [message]
    assert isinstance(loaded.messages[0], Message)
