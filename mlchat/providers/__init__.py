"""Wire dialects. Pure: request building and response decoding, no I/O.

Each dialect is one module with the same shape: `build_request`, a `StreamDecoder` with `event`
and `end`, and `decode_response`. A third dialect would be one new file and one line here.
"""

from __future__ import annotations

from typing import Any, Protocol

from mlchat.sse import SSEEvent
from mlchat.types import ChatRequest, Dialect, HttpRequest, Params, StreamEvent


class StreamDecoder(Protocol):
    def event(self, ev: SSEEvent) -> list[StreamEvent]:
        """Decode one SSE event; raise an ApiError for an error event."""
        ...

    def end(self) -> list[StreamEvent]:
        """The body ended: return the final events or raise IncompleteReply."""
        ...

    @property
    def done(self) -> bool:
        """The end marker was seen; later bytes are ignored."""
        ...


class Provider(Protocol):
    @property
    def name(self) -> Dialect: ...

    def build_request(self, req: ChatRequest, api_key: str) -> HttpRequest: ...

    def new_decoder(self) -> StreamDecoder: ...

    def decode_response(self, payload: Any) -> list[StreamEvent]:
        """Decode a whole (non-streamed) JSON reply; raise an ApiError for an error body."""
        ...

    def unsupported_params(self, params: Params) -> list[str]:
        """Names of parameters that are set but that this dialect cannot send."""
        ...


def get_provider(dialect: Dialect) -> Provider:
    if dialect == "anthropic":
        from mlchat.providers import anthropic

        return anthropic.PROVIDER
    from mlchat.providers import openai

    return openai.PROVIDER
