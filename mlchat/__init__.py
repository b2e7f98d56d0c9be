"""mlchat: a terminal chat client for the ModelsLab LLM API.

Importing the package must stay cheap: it is what `mlchat --version` pays for.
"""

__version__ = "0.1.0"
