"""Using a role from the command line (`-r/--role`, `-p NAME VALUE`, `--save-role NAME`) in ask,
chat and tokens: the role's values sit under the command line's flags and over the environment
and the config file. Imports: typer, roles (inside the functions), errors, cli.argv.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlchat.cli.argv import PARAM_SEP
from mlchat.errors import UsageError
from mlchat.runtime import Runtime

if TYPE_CHECKING:
    from mlchat.config import Flags
    from mlchat.roles import Role
    from mlchat.types import Message

ROLE = "Model and prompt"


def complete_role(incomplete: str) -> list[str]:
    from mlchat import roles

    try:
        return [n for n in roles.names() if n.startswith(incomplete)]
    except Exception:  # completion must never fail loudly
        return []


RoleOpt = Annotated[
    str | None,
    typer.Option(
        "--role",
        "-r",
        help="Use the role NAME (`mlchat roles list`); flags given here override it.",
        rich_help_panel=ROLE,
        metavar="ROLE",
        show_default=False,
        autocompletion=complete_role,
    ),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        help="A value for {NAME} in the role's template: -p NAME VALUE (repeatable).",
        rich_help_panel=ROLE,
        metavar="NAME VALUE",
        show_default=False,
    ),
]
SaveRoleOpt = Annotated[
    str | None,
    typer.Option(
        "--save-role",
        help="Save the options given (the prompt becomes the template) as role NAME; send nothing.",
        rich_help_panel=ROLE,
        metavar="NAME",
        show_default=False,
    ),
]


class Active:
    """The role in use and the values of its placeholders; `role` None: no role. (A plain
    class: a dataclass costs every start of mlchat, `--help` included, half a millisecond.)"""

    __slots__ = ("role", "values")

    def __init__(self, role: Role | None = None, values: Mapping[str, str] | None = None) -> None:
        self.role = role
        self.values: Mapping[str, str] = values or {}

    def prompt(self, text: str) -> str:
        return self.role.prompt(text, self.values) if self.role else text

    def message(self, message: Message) -> Message:
        """The user's message in the role's template. With attachments, the template's text
        before `{input}` comes first and the text after it last, around the message's parts."""
        role = self.role
        if role is None or role.template is None:
            return message
        if not message.parts:
            return replace(message, content=self.prompt(message.content))
        from mlchat.roles import fill
        from mlchat.types import TextPart, user_message

        before, has_input, after = role.template.partition("{input}")
        if not has_input:
            before, after = role.template, ""
        head = TextPart(fill(before, self.values))
        tail = TextPart(fill(after, self.values))
        return user_message([head, *message.parts, tail])

    @property
    def needs_input(self) -> bool:
        return self.role is None or self.role.needs_input

    @property
    def name(self) -> str | None:
        return self.role.name if self.role else None


def param_values(raw: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in raw or []:
        name, sep, value = item.partition(PARAM_SEP)
        if not sep:
            raise UsageError(f"-p {name}: give a name and a value: -p NAME VALUE")
        if not (name.isidentifier() and name.isascii()):
            raise UsageError(f"-p {name}: a name is letters, digits and _ (as in {{name}})")
        out[name] = value
    return out


def use(rt: Runtime, name: str | None, raw: list[str] | None) -> Active:
    """The role named by -r (with -p's values), or no role; -p without -r is a usage error."""
    given = param_values(raw)
    if name is None:
        if given:
            raise UsageError("-p gives values for a role's placeholders: use it with -r ROLE")
        return Active()
    from mlchat import roles

    role = roles.load(roles.check_name(name))
    return Active(role, role.values(given, rt.env))


def resumed(rt: Runtime, name: str | None) -> Active:
    """The role a resumed conversation was held with, for its template only (the conversation
    keeps its own system prompt, model and parameters); one that is gone is a warning."""
    if not name:
        return Active()
    from mlchat import roles
    from mlchat.errors import MlchatError
    from mlchat.text import escape_controls

    try:
        role = roles.load(roles.check_name(name))
        return Active(role, role.values({}, rt.env))
    except MlchatError as exc:
        rt.warn(f"the conversation's role '{escape_controls(name)}' is not used: {exc.message}")
        return Active()


def flags_with(active: Active, flags: Flags) -> Flags:
    """`flags` with the role's settings where the command line gave none."""
    role = active.role
    if role is None:
        return flags
    return replace(
        flags,
        system=flags.system if flags.system is not None else role.system_prompt(active.values),
        model=flags.model if flags.model is not None else role.model,
        api=flags.api if flags.api is not None else role.api,
        params={**role.params, **flags.params},
    )


SAVED_OPTIONS = ("system", "model", "api")


def save(rt: Runtime, name: str, given: Mapping[str, Any], prompt: str | None) -> None:
    """`--save-role NAME`: the options given on the command line (over the -r role's, if one
    was given) as a new role file. An existing file is never replaced."""
    import tomllib

    from mlchat import params as P
    from mlchat import roles

    path = roles.path_of(roles.check_name(name))
    if path.exists():
        raise UsageError(
            f"role '{name}' exists ({path}); nothing was saved",
            hint=f"change it with `mlchat roles edit {name}`, or remove it with "
            f"`mlchat roles rm {name}`",
        )
    settings: dict[str, Any] = {}
    if given.get("role"):
        settings = tomllib.loads(roles.text_of(roles.check_name(given["role"])))
    for key in SAVED_OPTIONS:
        if given.get(key) is not None:
            settings[key] = given[key]
    for key in P.SPECS:
        value = given.get(key)
        if value is not None and value != []:
            settings[key] = list(value) if key == "stop" else value
    if given.get("tools_file"):
        settings["tools"] = str(given["tools_file"])
    if given.get("json_mode"):
        settings["json_mode"] = True
    if given.get("schema"):
        settings["schema"] = given["schema"]
    if prompt:
        settings["template"] = prompt
    if not settings:
        raise UsageError(
            "nothing to save: give the role's options, e.g. -s, -m, -t, and a template",
            hint=f'mlchat ask --save-role {name} -s "You are terse" "Summarise: {{input}}"',
        )
    saved = roles.save(name, roles.dump(settings))
    extra = " (it takes the place of the built-in role)" if name in roles.BUILTIN else ""
    rt.note(f"mlchat: role {name} saved to {saved}{extra}")
