"""Virus scanning of uploads: ClamAV's clamd when CLAMD_URL is set, else "not scanned".

The clamd client speaks the INSTREAM command by hand (clamd's documented protocol: a
"zINSTREAM\\0" command, then chunks each prefixed by a 4-byte big-endian length, then a
zero-length chunk; the reply is "stream: OK" or "stream: <signature> FOUND"). It is a dozen
lines, and the PyPI clients are either unmaintained since 2014 (clamd) or very young.

A scanner that cannot reach clamd fails the upload (ScanUnavailable): when an operator has
configured scanning, an unscanned file must not slip in because the daemon was down.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

CHUNK_BYTES = 64 * 1024


class ScanUnavailable(Exception):
    """clamd is configured but did not answer (down, timed out, or replied nonsense)."""


@dataclass(frozen=True)
class ScanResult:
    scanned: bool
    infected: bool = False
    signature: str = ""


NOT_SCANNED = ScanResult(scanned=False)


class ClamdScanner:
    def __init__(self, url: str, *, timeout: float) -> None:
        parts = urlsplit(url)
        self.address: str | tuple[str, int]
        if parts.scheme == "unix":
            self.family, self.address = socket.AF_UNIX, parts.path
        elif parts.scheme == "tcp" and parts.hostname:
            self.family, self.address = socket.AF_INET, (parts.hostname, parts.port or 3310)
        else:
            raise ValueError(f"CLAMD_URL must be tcp://host:port or unix:///path, not {url!r}")
        self.timeout = timeout

    def scan(self, chunks: Iterable[bytes]) -> ScanResult:
        try:
            with socket.socket(self.family, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.address)
                sock.sendall(b"zINSTREAM\0")
                for chunk in chunks:
                    for start in range(0, len(chunk), CHUNK_BYTES):
                        piece = chunk[start : start + CHUNK_BYTES]
                        sock.sendall(struct.pack(">I", len(piece)) + piece)
                sock.sendall(struct.pack(">I", 0))
                reply = b""
                while not reply.endswith(b"\0"):
                    data = sock.recv(4096)
                    if not data:
                        break
                    reply += data
        except OSError as exc:
            raise ScanUnavailable(f"clamd did not answer: {exc}") from exc
        text = reply.rstrip(b"\0").decode("utf-8", "replace").strip()
        # Exactly "stream: OK": a reply cut short, or an error whose text happens to end in
        # "OK", must never pass as clean.
        if text == "stream: OK":
            return ScanResult(scanned=True)
        if text.startswith("stream: ") and text.endswith(" FOUND"):
            signature = text.removeprefix("stream: ").removesuffix(" FOUND").strip()
            return ScanResult(scanned=True, infected=True, signature=signature)
        # "INSTREAM size limit exceeded. ERROR", or anything unexpected.
        raise ScanUnavailable(f"clamd replied {text!r}")


class NoScanner:
    def scan(self, chunks: Iterable[bytes]) -> ScanResult:
        return NOT_SCANNED


def scanner() -> ClamdScanner | NoScanner:
    """The configured scanner (read from settings each time, so tests can switch it)."""
    if settings.CLAMD_URL:
        return ClamdScanner(settings.CLAMD_URL, timeout=settings.CLAMD_TIMEOUT_SECONDS)
    return NoScanner()
