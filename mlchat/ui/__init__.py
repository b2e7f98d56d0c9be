"""Everything that draws on a terminal, and the only home of rich (and of pygments, which rich
brings for its Syntax): the console factory (console.py), tables (table.py), the reply renderers
(render.py, with markdown.py, blocks.py, code.py, lines.py, screen.py, thoughts.py), tool-call
display (toolcalls.py) and the error printer (errors.py). rich is imported inside functions, so a
command that draws nothing never loads it. The sanitising and clipping rules are mlchat.text.
"""
