"""The slash commands: one function per command, and `COMMANDS`, the one table of name ->
(function, arguments, one-line help) that drives dispatch (loop.py), /help and completion
(complete.py). A command works on the `Repl` it is given; a mistake is a UsageError, which the
loop prints and the chat goes on. Imports params, models, clipboard, fences, text, errors; no
prompt_toolkit, no rich.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mlchat import params as P
from mlchat.clipboard import code_blocks, copy_to_clipboard
from mlchat.errors import MlchatError, UsageError
from mlchat.providers import get_provider
from mlchat.text import first_line

if TYPE_CHECKING:
    from mlchat.repl.loop import Repl
    from mlchat.types import Dialect


class Leave(Exception):
    """/exit and /quit."""


def cmd_help(repl: Repl, arg: str) -> None:
    if arg:
        cmd = COMMANDS.get(arg.lstrip("/").lower())
        if cmd is None:
            raise UsageError(f"no command /{arg.lstrip('/')}", hint="/help lists them")
        repl.show(f"/{arg.lstrip('/').lower()} {cmd.args}".rstrip() + f"  {cmd.help}")
        return
    width = max(len(f"/{n} {c.args}".rstrip()) for n, c in COMMANDS.items())
    lines = [f"{f'/{n} {c.args}'.rstrip():<{width}}  {c.help}" for n, c in COMMANDS.items()]
    lines.append("")
    lines.append(KEYS_HELP)
    repl.show("\n".join(lines))


def cmd_model(repl: Repl, arg: str) -> None:
    if not arg:
        repl.show(repl.convo.model)
        return
    from mlchat.models import resolve_model

    known = repl.models()
    # The same rules as -m: exact id, alias, case, then a unique fragment (else an error
    # listing the candidates).
    model = resolve_model(arg, repl.aliases, known)
    if known and model not in known:
        repl.rt.warn(f"'{arg}' is not in the model list; using it as given")
    repl.convo.model = model
    repl.rt.note(f"model: {model}")


def cmd_system(repl: Repl, arg: str) -> None:
    if not arg:
        repl.show(repl.convo.system if repl.convo.system else "(no system prompt)")
        return
    if arg == "--clear":
        repl.convo.system = None
        repl.rt.note("system prompt removed")
        return
    repl.convo.system = arg
    repl.rt.note("system prompt set")


def cmd_role(repl: Repl, arg: str) -> None:
    """`/role`: show; `/role NAME [name=value ...]`: switch; `/role none`: stop using one."""
    from mlchat import roles

    convo = repl.convo
    if not arg:
        role = repl.role
        repl.show(f"{role.name}: {role.description}".rstrip(": ") if role else "(no role)")
        return
    name, *pairs = arg.split()
    if name in ("none", "--clear"):
        old = repl.role
        if old is not None and convo.system == old.system_prompt(repl.role_values):
            convo.system = None
        repl.role, repl.role_values, convo.role = None, {}, None
        repl.rt.note("role: none")
        return
    given: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise UsageError(f"'{pair}' is not name=value", hint="/role NAME lang=French")
        given[key] = value
    role = roles.load(roles.check_name(name))
    values = role.values(given, repl.rt.env)
    dialect: Dialect = convo.dialect
    if role.api is not None:
        dialect = "anthropic" if role.api == "anthropic" else "openai"
    params = P.validate(P.merge(convo.params, dict(role.params)), dialect)
    model = convo.model
    if role.model:
        from mlchat.models import resolve_model

        model = resolve_model(role.model, repl.aliases, repl.models())
    # Every check passed: switch, for the next messages.
    convo.model, convo.dialect, convo.params = model, dialect, params
    if role.system:
        convo.system = role.system_prompt(values)
    repl.role, repl.role_values, convo.role = role, values, role.name
    if role.tools:
        repl.rt.warn("the role's tools file is used only by `mlchat chat -r ROLE`")
    repl.rt.note(f"role: {role.name}" + (f" · {role.description}" if role.description else ""))


def cmd_set(repl: Repl, arg: str) -> None:
    name, _, raw = arg.partition(" ")
    name = name.replace("-", "_").lower()
    raw = raw.strip()
    if not name or not raw:
        raise UsageError("usage: /set PARAM VALUE", hint="parameters: " + ", ".join(P.SPECS))
    value: Any
    if raw.lower() in ("none", "off", "unset"):
        if name not in P.SPECS:
            P.coerce(name, None)  # the one message for an unknown name
        value = () if name == "stop" else None
    elif name == "stop":
        try:
            value = P.coerce(name, shlex.split(raw))
        except ValueError:
            raise UsageError("stop: unbalanced quotes") from None
    else:
        value = P.coerce(name, raw)
    params = P.validate(replace(repl.convo.params, **{name: value}), repl.convo.dialect)
    repl.convo.params = params
    shown = "(not sent)" if value is None or value == () else format_param(value)
    repl.rt.note(f"{name} = {shown}")
    provider = get_provider(repl.convo.dialect)
    if name in provider.unsupported_params(params):
        repl.rt.warn(f"{name} is not part of the {repl.convo.dialect} dialect and is not sent")


def cmd_params(repl: Repl, arg: str) -> None:
    width = max(len(n) for n in P.SPECS)
    lines = []
    for name in P.SPECS:
        value = getattr(repl.convo.params, name)
        shown = "(not sent)" if value is None or value == () else format_param(value)
        lines.append(f"{name:<{width}}  {shown}")
    repl.show("\n".join(lines))


def cmd_clear(repl: Repl, arg: str) -> None:
    old = repl.convo.name or repl.convo.id
    repl.convo.clear()
    kept = f"; {old} stays saved" if old and repl.saving else ""
    repl.rt.note(f"new conversation (model, system prompt and parameters kept{kept})")


def cmd_retry(repl: Repl, arg: str) -> None:
    before = len(repl.convo.messages)
    if repl.convo.rewind_to_last_user() is None:
        raise UsageError("nothing to retry: no message has been sent")
    if len(repl.convo.messages) != before:
        repl.log.truncate(repl.convo)
    repl.send(None)


def cmd_continue(repl: Repl, arg: str) -> None:
    from mlchat.repl.continuing import continue_reply

    continue_reply(repl)


def cmd_undo(repl: Repl, arg: str) -> None:
    dropped = repl.convo.undo()
    if not dropped:
        raise UsageError("nothing to undo")
    repl.log.truncate(repl.convo)
    repl.rt.note(f"removed: {first_line(dropped[0].content, 60)}")


def cmd_edit(repl: Repl, arg: str) -> None:
    index = repl.convo.last_user_index()
    if index is None:
        raise UsageError("nothing to edit: no message has been sent")
    repl.edit_from = index
    message = repl.convo.messages[index]
    if message.parts:  # the typed text goes back in the input, the attachments in the queue
        from mlchat.repl.files import for_edit

        repl.prefill, repl.queued = for_edit(message)
    else:
        repl.prefill = message.content
    if not repl.interactive:
        repl.rt.note("the next line replaces the last message and its reply")


def cmd_copy(repl: Repl, arg: str) -> None:
    last = next(
        (m for m in reversed(repl.convo.messages) if m.role == "assistant" and m.content),
        None,
    )
    if last is None:
        raise UsageError("nothing to copy: no reply yet")
    text, what = last.content, "the last reply"
    if arg:
        blocks = code_blocks(last.content)
        if not blocks:
            raise UsageError(
                "/copy N: the last reply has no code blocks", hint="/copy copies the whole reply"
            )
        if not arg.isdigit() or not 1 <= int(arg) <= len(blocks):
            if len(blocks) == 1:
                raise UsageError("/copy N: the last reply has one code block: /copy 1")
            raise UsageError(
                f"/copy N: N must be 1 to {len(blocks)} (the reply has {len(blocks)} code blocks)"
            )
        text, what = blocks[int(arg) - 1], f"code block {arg}"
    copied = copy_to_clipboard(repl.rt, text)
    if not copied:
        raise UsageError(
            "no way to reach the clipboard",
            hint="install wl-copy, xclip or xsel, or use a terminal that supports OSC 52",
        )
    verb = "copied" if copied.places else "sent"
    repl.rt.note(f"{verb} {what} ({len(text):,} characters) {copied.summary()}")


def cmd_run(repl: Repl, arg: str) -> None:
    """`/run N`: the Nth code block of the last reply, when it is a shell block, shown in full
    and run only on a yes (then as `!` runs a command: output shown, offered to the next
    message)."""
    import unicodedata

    from mlchat.fences import SHELLS, fences

    last = next(
        (m for m in reversed(repl.convo.messages) if m.role == "assistant" and m.content),
        None,
    )
    if last is None:
        raise UsageError("nothing to run: no reply yet")
    blocks = fences(last.content)
    if not arg.isdigit() or not 1 <= int(arg) <= len(blocks):
        if not blocks:
            raise UsageError("/run N: the last reply has no code block")
        count = f"{len(blocks)} code block" + ("" if len(blocks) == 1 else "s")
        raise UsageError(f"/run N: N must be 1 to {len(blocks)} (the reply has {count})")
    block = blocks[int(arg) - 1]
    if not block.is_shell:
        what = f"a {block.language} block" if block.language else "not marked as shell"
        raise UsageError(
            f"code block {arg} is {what}: /run runs shell blocks only",
            hint=f"shell blocks are marked {', '.join(sorted(SHELLS))}; /copy {arg} copies it",
        )
    code = block.code
    hidden = [ch for ch in code if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf")]
    if hidden:
        raise UsageError(
            f"code block {arg} holds control or invisible characters: it is not run",
            hint=f"/copy {arg} copies it, to look at it first",
        )
    if not code.strip():
        raise UsageError(f"code block {arg} is empty")
    repl.rt.note(f"code block {arg} ({block.language}):")
    repl.rt.note("\n".join(f"  {line}" for line in code.split("\n")))
    if not repl.confirm("Run it? [y/N] "):
        repl.rt.note("mlchat: not run")
        return
    repl.shell(code)


def cmd_tokens(repl: Repl, arg: str) -> None:
    c = repl.convo
    used = f"{repl.tokens:,} tokens used this session"
    if not c.messages:
        repl.show(f"the conversation is empty; {used}")
        return
    count = repl.client.count_tokens(c.model, c.sent(), c.system)
    repl.show(f"{count:,} tokens in the conversation ({c.model}); {used}")


def cmd_compact(repl: Repl, arg: str) -> None:
    from mlchat.compact import DEFAULT_KEEP

    if arg and not arg.isdigit():
        raise UsageError("/compact N: N is how many of the last exchanges to keep as they are")
    from mlchat.repl.window import compact

    compact(repl, int(arg) if arg else DEFAULT_KEEP)


def cmd_save(repl: Repl, arg: str) -> None:
    if repl.store is None:
        raise UsageError("saving is unavailable: no conversation store in this session")
    if not arg:
        raise UsageError("usage: /save NAME")
    repl.store.save_as(repl.convo, arg)
    if repl.saving or repl.start_log is None:
        repl.rt.note(f"saved as {arg}")
        return
    # --no-log: /save asks for this conversation to be kept, so from now on it is.
    repl.log = repl.start_log()
    repl.log.truncate(repl.convo)  # the conversation so far
    n = len(repl.convo.messages)
    repl.rt.note(
        f"saved as {arg}: {n} message{'s' if n != 1 else ''}, and every turn from now on "
        "(this chat was started with --no-log)"
    )


def cmd_load(repl: Repl, arg: str) -> None:
    if repl.store is None:
        raise UsageError("loading is unavailable: no conversation store in this session")
    if not arg:
        _list_saved(repl)
        return
    repl.convo = repl.store.find(arg)
    n = len(repl.convo.messages)
    repl.rt.note(f"loaded {arg}: {n} message{'s' if n != 1 else ''}, {repl.convo.model}")
    repl.warn_unsupported()


LOAD_LIST = 15  # conversations /load lists


def _list_saved(repl: Repl) -> None:
    """/load alone: the most recent saved conversations, to pick one from."""
    from mlchat.text import escape_controls

    listing = getattr(repl.store, "conversations", None)
    if listing is None:
        raise UsageError("usage: /load ID_OR_NAME")
    saved = [s for s in listing(LOAD_LIST + 1) if s.id != repl.convo.id][:LOAD_LIST]
    if not saved:
        repl.show("no other saved conversations")
        return
    width = max(len(s.name or "") for s in saved)
    lines = ["saved conversations, most recent first (/load ID or NAME):"]
    for s in saved:
        when = s.updated[:16].replace("T", " ")
        title = escape_controls(s.title, keep="")[:50]
        name = escape_controls(s.name or "", keep="")
        lines.append(f"  {s.id[:8]}  {name:<{width}}  {when}  {s.messages:>3} msgs  {title}")
    repl.show("\n".join(lines))


def cmd_history(repl: Repl, arg: str) -> None:
    c = repl.convo
    lines = []
    if c.system:
        lines.append(f"system  {first_line(c.system, 70)}")
    names = {"user": "you", "assistant": "model", "tool": "tool", "system": "system"}
    for index, m in enumerate(c.messages, 1):
        text = m.content or ", ".join(f"{t.name}()" for t in m.tool_calls)
        mark = " (interrupted)" if m.interrupted else ""
        lines.append(f"{index:>3} {names[m.role]:<5} {first_line(text, 64)}{mark}")
    repl.show("\n".join(lines) if lines else "(the conversation is empty)")


def cmd_tools(repl: Repl, arg: str) -> None:
    if repl.tools is None or not repl.tools.tools:
        mcp = " (/mcp shows the MCP servers' tools)" if repl.tools and repl.tools.sources else ""
        repl.show(f"no tools: start the chat with --tools FILE{mcp}")
        return
    lines = []
    for name, tool in repl.tools.tools.items():
        always = " (approved for this session)" if name in repl.tools.always else ""
        lines.append(f"{name}{always}: {first_line(tool.spec.description or '-', 60)}")
        lines.append(f"    runs: {first_line(' '.join(tool.argv), 66)}")
    repl.show("\n".join(lines))


def cmd_mcp(repl: Repl, arg: str) -> None:
    """The MCP servers of this chat, as `mlchat mcp list` shows them, with what failed."""
    from mlchat.mcp_tools import McpTools, status_lines

    sources = [s for s in (repl.tools.sources if repl.tools else ()) if isinstance(s, McpTools)]
    if not sources:
        repl.show("no MCP servers: start the chat with --mcp NAME (or --mcp all)")
        return
    lines: list[str] = []
    for source in sources:
        lines += status_lines(list(source.status.values()))
        if not source.started:
            lines.append("(the servers start with the first message)")
        for route_name, route in source.routes.items():
            if source.status[route.server].state == "running":
                lines.append(f"    {route_name}: {first_line(route.spec.description or '-', 60)}")
    repl.show("\n".join(lines))


def cmd_key(repl: Repl, arg: str) -> None:
    """A new API key, typed at a hidden prompt: used from the next request on and saved in the
    config file as `mlchat key set` saves it, so a rejected key is fixed without leaving."""
    from mlchat import config

    if arg:
        raise UsageError(
            "/key takes no argument: it asks for the key with hidden input",
            hint="nothing was changed; type /key alone",
        )
    if not repl.interactive:
        raise UsageError("/key needs a terminal (hidden input)", hint="use `mlchat key set`")
    try:
        raw = repl.rt.read_secret("new API key (input hidden): ")
    except EOFError:
        raw = ""
    if not raw.strip():
        repl.rt.note("no key entered; the key in use stays")
        return
    key = config.check_key(raw)
    repl.rt.secrets.add(key)
    repl.client.use_key(key)
    path = config.config_path()
    try:
        config.save_key(path, key)
    except MlchatError as exc:
        repl.rt.warn(f"{exc.message}; the key is used for this chat only")
        return
    repl.rt.note(f"key {config.mask(key)} in use from now on, and saved to {path}")
    if repl.rt.env.get(config.KEY_ENV):
        repl.rt.note(f"{config.KEY_ENV} is set, and still wins over the file in new runs")


def cmd_exit(repl: Repl, arg: str) -> None:
    raise Leave


def format_param(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(repr(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True, slots=True)
class Command:
    run: Callable[[Repl, str], None]
    args: str
    help: str


from mlchat.repl.files import cmd_file, cmd_files  # noqa: E402 - they need Command's module

# The one table of slash commands: it drives dispatch, /help and completion.
COMMANDS: dict[str, Command] = {
    "help": Command(cmd_help, "[COMMAND]", "list the commands and keys"),
    "model": Command(cmd_model, "[ID]", "show the model, or switch to ID (Tab completes)"),
    "system": Command(cmd_system, "[TEXT|--clear]", "show, set or remove the system prompt"),
    "role": Command(cmd_role, "[ROLE|none]", "show the role, or switch to ROLE (Tab completes)"),
    "set": Command(cmd_set, "PARAM VALUE", "set a sampling parameter (VALUE none: not sent)"),
    "params": Command(cmd_params, "", "show the sampling parameters"),
    "clear": Command(cmd_clear, "", "start a new conversation (settings stay)"),
    "retry": Command(cmd_retry, "", "regenerate the last reply"),
    "continue": Command(cmd_continue, "", "ask for the rest of a reply that was cut off"),
    "undo": Command(cmd_undo, "", "drop the last exchange"),
    "edit": Command(cmd_edit, "", "edit the last message; sending it replaces the exchange"),
    "copy": Command(cmd_copy, "[N]", "copy the last reply, or its Nth code block"),
    "run": Command(cmd_run, "N", "run the last reply's Nth code block (a shell one), if you say y"),
    "tokens": Command(cmd_tokens, "", "count the conversation's tokens exactly"),
    "compact": Command(
        cmd_compact, "[N]", "summarise all but the last N exchanges (2) to free the window"
    ),
    "file": Command(
        cmd_file, "[SOURCE...|none]", "attach files, folders, images, URLs to the next message"
    ),
    "files": Command(cmd_files, "", "list the conversation's attachments, with sizes and tokens"),
    "save": Command(cmd_save, "NAME", "save the conversation as NAME"),
    "load": Command(cmd_load, "[NAME]", "load a saved conversation (alone: list them)"),
    "history": Command(cmd_history, "", "show the conversation so far, briefly"),
    "key": Command(cmd_key, "", "replace the API key (hidden input; saved as `mlchat key set`)"),
    "tools": Command(cmd_tools, "", "list the tools the model may call (--tools FILE)"),
    "mcp": Command(cmd_mcp, "", "show the MCP servers: state, tools, what failed (--mcp)"),
    "exit": Command(cmd_exit, "", "leave the chat (Ctrl-D does too)"),
    "quit": Command(cmd_exit, "", "leave the chat"),
}

KEYS_HELP = """\
Keys: Enter sends · Alt-Enter or Ctrl-J: new line · Ctrl-X Ctrl-E: edit in $EDITOR
      Tab: complete · Ctrl-R: search the history · Right: accept the suggestion
      Ctrl-C: stop the reply, or clear the line · Ctrl-D: leave
      !COMMAND: run COMMAND in your shell (!! sends a message that starts with !)"""
