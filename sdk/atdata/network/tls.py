"""One TLS context per process, shared by every HTTP client atdata makes.

httpx builds a new context (loading the system's CA bundle, about 40 ms) for each client; a
resolve makes a dozen clients, so contexts were most of a warm ``as_type``. The context is made on
first use, the way httpx makes its own (``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured).
"""

from __future__ import annotations

import ssl
import threading

import httpx

_context: ssl.SSLContext | None = None
_lock = threading.Lock()


def ssl_context() -> ssl.SSLContext:
    """The process's TLS context for verifying servers (made once)."""
    global _context
    with _lock:
        if _context is None:
            _context = httpx.create_ssl_context()
        return _context
