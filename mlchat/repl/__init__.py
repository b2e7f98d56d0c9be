"""The interactive chat (`mlchat chat`), a package by job: reader.py (the `LineReader` seam and
the plain reader), prompt.py (the prompt_toolkit editor: the only home of prompt_toolkit),
complete.py (completion), commands.py (the slash-command table and one function per command) and
loop.py (the `Repl`: the loop, dispatch, one turn per message). cli/chat.py imports loop.py inside
the command body, so `--help` and completion never load any of it.
"""
