"""The one way a document leaves the server: an attachment streamed from `document_open`.

Pages and the API both answer a download with `document_response`: the verified, decrypted
chunks as an attachment (RFC 6266 name), never cached (`no-store`), never sniffed into
something a browser would run (`nosniff`), sandboxed should a browser render it anyway.
Under ASGI the chunks are pulled one at a time in a worker thread: Django would otherwise
read a synchronous iterator wholly into memory before sending it, and the event loop would
wait on storage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse

from records.models import Document


def attachment_header(filename: str) -> str:
    """`Content-Disposition` for a download (RFC 6266): a plain ASCII `filename`, and the real
    name in `filename*` when it is not ASCII. The name was cleaned at upload (no quotes,
    slashes or control characters); cleaned again here all the same."""
    safe = "".join(char for char in filename if char.isprintable() and char not in '"\\/;')
    fallback = safe.encode("ascii", "replace").decode("ascii").replace("?", "_") or "document"
    header = f'attachment; filename="{fallback}"'
    if fallback != safe:
        header += f"; filename*=UTF-8''{quote(safe, safe='')}"
    return header


async def _pulled_in_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    done = object()
    pull = sync_to_async(next, thread_sensitive=False)
    try:
        while (chunk := await pull(chunks, done)) is not done:
            yield chunk  # type: ignore[misc]
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=False)()


def document_response(request: HttpRequest, document: Document, chunks: Iterator[bytes]) -> StreamingHttpResponse:
    """The download response for `chunks` (from `document_open`, which has checked and audited)."""
    body = _pulled_in_thread(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(body, content_type=document.content_type)
    response["Content-Length"] = str(document.size_bytes)
    response["Content-Disposition"] = attachment_header(document.filename)
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
