"""The model list: its cache on disk, filtering, and turning what the user typed into a model id.

Imports types, errors and config (for the cache directory); no HTTP, no terminal. The cache is
`config.cache_dir()/models.json`, written atomically, fresh for a day, and remembers which base URL
it came from so that a list from one service is never used to resolve names for another.
`cached_ids()` and `resolve_model()` never touch the network: `-m`, `/model` and shell completion
read the cache, however old it is, or go without. Next to it, `models.txt` holds the same ids, one a
line, so that the shell completion scripts can offer them without starting Python.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlchat import config
from mlchat.atomic import write_atomic
from mlchat.errors import UsageError
from mlchat.types import ModelInfo

CACHE_FILE = "models.json"
IDS_FILE = "models.txt"  # read by completions/mlchat.{bash,zsh,fish}
CACHE_VERSION = 1
FRESH_FOR = 24 * 3600.0  # seconds: model lists change slowly, and a stale id only costs a 404
MAX_CANDIDATES = 8  # ambiguous names list at most this many candidates
_COMPLETABLE = re.compile(r"[A-Za-z0-9._/:@+-]+")


def cache_path(profile: str | None = None) -> Path:
    """The cache of the top level's service, or of one profile's (`profiles/NAME/`): a LiteLLM
    proxy's list must never resolve names for ModelsLab."""
    if profile:
        return config.cache_dir() / "profiles" / profile / CACHE_FILE
    return config.cache_dir() / CACHE_FILE


def ids_path(cache: Path | None = None) -> Path:
    """The plain list of ids that lives next to the cache file `cache`."""
    return (cache or cache_path()).with_name(IDS_FILE)


@dataclass(frozen=True, slots=True)
class Cached:
    models: tuple[ModelInfo, ...]
    fetched_at: float  # seconds since the epoch
    base_url: str

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.fetched_at)

    def fresh(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        # A list stamped in the future (a clock that was wrong) is not trusted to be fresh.
        return now - FRESH_FOR < self.fetched_at <= now + 60


def load(base_url: str | None = None, path: Path | None = None) -> Cached | None:
    """The cached list, or None when there is none, it is unreadable, or (given `base_url`) it came
    from another service. A damaged cache is treated as absent: it is only ever a copy."""
    path = path or cache_path()
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("version") != CACHE_VERSION:
        return None
    fetched_at, source, items = doc.get("fetched_at"), doc.get("base_url"), doc.get("models")
    if not isinstance(fetched_at, int | float) or not isinstance(source, str):
        return None
    if not isinstance(items, list):
        return None
    if base_url is not None and source.rstrip("/") != base_url.rstrip("/"):
        return None
    return Cached(tuple(_model(i) for i in items if _valid(i)), float(fetched_at), source)


def _valid(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("id"), str) and bool(item["id"])


def _model(item: dict[str, Any]) -> ModelInfo:
    def text(key: str) -> str | None:
        value = item.get(key)
        return value if isinstance(value, str) else None

    def number(key: str) -> int | None:
        value = item.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    context = number("context")
    return ModelInfo(
        id=item["id"],
        owned_by=text("owned_by"),
        created=number("created"),
        display_name=text("display_name"),
        context=context if context is not None and context > 0 else None,
    )


def as_json(m: ModelInfo) -> dict[str, Any]:
    return {
        "id": m.id,
        "owned_by": m.owned_by,
        "created": m.created,
        "display_name": m.display_name,
        "context": m.context,
    }


def save(
    models: Sequence[ModelInfo],
    base_url: str,
    *,
    now: float | None = None,
    path: Path | None = None,
) -> Cached:
    """Write the list atomically (a temp file in the same directory, then a rename), so a reader
    or a crash never sees half a file, and its ids to `models.txt` beside it. Raises OSError when
    the cache cannot be written."""
    path = path or cache_path()
    cached = Cached(tuple(models), time.time() if now is None else now, base_url.rstrip("/"))
    doc = {
        "version": CACHE_VERSION,
        "base_url": cached.base_url,
        "fetched_at": cached.fetched_at,
        "models": [as_json(m) for m in cached.models],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
    ids = sorted(
        {m.id for m in cached.models if completable(m.id)}, key=lambda i: (i.casefold(), i)
    )
    write_atomic(ids_path(path), "".join(f"{i}\n" for i in ids))
    return cached


def completable(model_id: str) -> bool:
    """Whether a shell can offer `model_id` as typed, with no quoting: letters, digits and
    `._-/:@+` only (every id the service lists). An id from a hostile or broken service that
    holds `$`, quotes or spaces is left out of `models.txt`, so completion can never insert shell
    syntax into a command line; `-m` still accepts it."""
    return _COMPLETABLE.fullmatch(model_id) is not None


def cached_ids(base_url: str | None = None, path: Path | None = None) -> tuple[str, ...]:
    """Model ids from the cache, whatever its age; () without one. Never touches the network."""
    cached = load(base_url, path)
    return tuple(m.id for m in cached.models) if cached is not None else ()


def matches(m: ModelInfo, terms: Iterable[str]) -> bool:
    """Every term is a case-insensitive substring of the id, the owner or the display name."""
    hay = (m.id.casefold(), (m.owned_by or "").casefold(), (m.display_name or "").casefold())
    return all(any(t.casefold() in h for h in hay) for t in terms)


def select(models: Iterable[ModelInfo], terms: Sequence[str]) -> list[ModelInfo]:
    """The models matching every term, sorted by id (case-insensitively) for stable output."""
    terms = [t for t in terms if t.strip()]
    chosen = [m for m in models if matches(m, terms)]
    return sorted(chosen, key=lambda m: (m.id.casefold(), m.id))


def resolve_model(name: str, aliases: Mapping[str, str], ids: Sequence[str]) -> str:
    """The model id meant by `name`.

    In order: an exact id from the list; a config alias; the id equal to `name` ignoring case; the
    one id containing every whitespace-separated word of `name` (ignoring case). More than one
    match is a usage error listing the candidates; no match (or no list) leaves `name` as given,
    so a model the list does not know yet can still be used."""
    name = name.strip()
    if not name:
        return name
    if name in ids:
        return name
    if name in aliases:
        return aliases[name]
    folded = name.casefold()
    same = [i for i in ids if i.casefold() == folded]
    if len(same) == 1:
        return same[0]
    words = folded.split()
    found = sorted({i for i in ids if all(w in i.casefold() for w in words)}, key=str.casefold)
    if len(found) == 1:
        return found[0]
    if not found:
        return name
    shown = ", ".join(found[:MAX_CANDIDATES])
    more = len(found) - MAX_CANDIDATES
    if more > 0:
        shown += f" (and {more} more)"
    raise UsageError(
        f"'{name}' matches {len(found)} models: {shown}",
        hint=f"give more of the name, see `mlchat models {' '.join(words)}`, "
        "or add an alias under [aliases] in the config file",
    )


def age_text(seconds: float) -> str:
    """How long ago, for humans: `just now`, `5 minutes ago`, `3 hours ago`, `2 days ago`."""
    seconds = max(0.0, seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        n = int(seconds // size)
        if n >= 1:
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"
