"""The shell integration snippets (`mlchat shell-integration bash|zsh|fish`): sourced in the
shell's startup file, each binds Alt-E to replace the command line being typed with the command
`mlchat cmd --print` generates from it. Nothing is run: the new line waits for Enter, like any
line the user typed, and a failure (no key, no network, no command) leaves the line as it was.

Each snippet calls `mlchat` through the shell's `command` lookup, with stdin from /dev/null (the
terminal belongs to the line editor) and the line after `--` (a line that starts with a dash is
still the prompt). Pure: the standard library only; tests/test_shell_integration.py runs each
snippet in its real shell.
"""

from __future__ import annotations

SHELLS = ("bash", "zsh", "fish")

BASH = r"""# mlchat shell integration for bash: Alt-E replaces the command line with the command
# `mlchat cmd` generates from it (nothing runs until you press Enter).
# Add to ~/.bashrc:  eval "$(mlchat shell-integration bash)"
_mlchat_cmd() {
  [[ -n "$READLINE_LINE" ]] || return 0
  local generated
  generated=$(command mlchat cmd --print -- "$READLINE_LINE" </dev/null) || return 0
  [[ -n "$generated" ]] || return 0
  READLINE_LINE=$generated
  READLINE_POINT=${#READLINE_LINE}
}
bind -x '"\ee": _mlchat_cmd'
"""

ZSH = r"""# mlchat shell integration for zsh: Alt-E replaces the command line with the command
# `mlchat cmd` generates from it (nothing runs until you press Enter).
# Add to ~/.zshrc:  eval "$(mlchat shell-integration zsh)"
_mlchat_cmd() {
  [[ -n "$BUFFER" ]] || return 0
  local generated
  generated=$(command mlchat cmd --print -- "$BUFFER" </dev/null)
  if [[ $? -eq 0 && -n "$generated" ]]; then
    BUFFER=$generated
    CURSOR=${#BUFFER}
  fi
  zle reset-prompt
}
zle -N _mlchat_cmd
bindkey '\ee' _mlchat_cmd
"""

FISH = r"""# mlchat shell integration for fish: Alt-E replaces the command line with the command
# `mlchat cmd` generates from it (nothing runs until you press Enter). It takes Alt-E from
# fish's own "edit in $EDITOR" binding, which Alt-V still has.
# Add to ~/.config/fish/config.fish:  mlchat shell-integration fish | source
function __mlchat_cmd
    set -l line (commandline | string collect)
    if test -z "$line"
        return 0
    end
    set -l lines (command mlchat cmd --print -- "$line" </dev/null)
    if test $status -eq 0; and test -n "$lines"
        set -l generated (string join \n -- $lines)
        commandline --replace -- $generated
        commandline --cursor (string length -- $generated)
    end
    commandline -f repaint
end
bind \ee __mlchat_cmd
"""

SNIPPETS = {"bash": BASH, "zsh": ZSH, "fish": FISH}
