"""One line per failure: whatever a sub-command lets out becomes ``omadm-codec: <what>: <why>``
on stderr and an exit status: 2 for a usage error, 1 for a failure, 130 for Ctrl-C.

The one idea: sub-commands raise what they raise (``OSError``, an httpx error, ``OmaDmError``,
``sqlite3.Error``...) and ``run`` puts it into words, so every sub-command, present and future,
gets the same messages without code of its own. A sub-command may name the subject of a
failure with ``about(what)`` (an input file, a URL) and may raise ``CliFailure`` for a failure
it has already put into words. The hidden ``--debug`` option adds the traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sqlite3
import ssl
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from ..errors import (
    AuthenticationError,
    DecodeError,
    EncodeError,
    LocalProtocolError,
    OmaDmError,
    RemoteProtocolError,
    SnapshotError,
    TreeError,
)

PROG = "omadm-codec"
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

LIMIT_OPTIONS = {"too_large": "--max-size", "too_deep": "--max-depth",
                 "too_many_elements": "--max-elements"}
"""Reason code -> the option that raises that limit (on commands that read input)."""


class CliFailure(Exception):
    """A failure already put into words; ``run`` prints it. Raised by sub-commands, it never
    leaves ``run`` (so it is no part of the library's error classes)."""

    def __init__(self, what: str, why: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(f"{what}: {why}")
        self.what = what
        self.why = why
        self.status = status


_WHAT = "_omadm_cli_what"
_DATA = "_omadm_cli_data"


@contextlib.contextmanager
def about(what: str, data: bytes | None = None) -> Iterator[None]:
    """Name ``what`` (a file, a URL) as the subject of any failure raised inside, unless an
    inner ``about`` named one already. With the input's ``data``, a codec error's byte
    offset is also given as a line and column (for XML)."""
    try:
        yield
    except Exception as exc:
        if not hasattr(exc, _WHAT):
            with contextlib.suppress(AttributeError):
                setattr(exc, _WHAT, what)
                if data is not None:
                    setattr(exc, _DATA, data)
        raise


def line(what: str, why: str) -> str:
    """The one line: ``omadm-codec: <what>: <why>`` (no newline inside, whatever it quotes)."""
    text = f"{PROG}: {what}: {why}" if what else f"{PROG}: {why}"
    return " ".join(text.split())


def run(func: Callable[[Any], int], args: Any, *, command: str, debug: bool = False,
        err: TextIO | None = None) -> int:
    """``func(args)``'s exit status; any exception becomes one line on ``err`` (stderr) and
    an exit status. Output is flushed inside, so a reader that went away (``| head``) is
    seen here and ends the command quietly."""
    err = sys.stderr if err is None else err
    try:
        status = int(func(args))
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(line("", "interrupted"), file=err)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - this is the one place every failure is worded
        what, why, status = explain(exc, default_what=command,
                                    hints=getattr(args, "limit_hints", None))
        if debug:
            traceback.print_exception(exc, file=err)
        print(line(what, why), file=err)
        return status


def _silence_stdout() -> None:
    """The reader of stdout is gone: point stdout at /dev/null so the interpreter's last
    flush does not raise again (the recipe in Python's ``signal`` documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def explain(exc: BaseException, *, default_what: str = "",
            hints: dict[str, str] | None = None) -> tuple[str, str, int]:
    """``(what, why, exit status)`` for any exception."""
    what = getattr(exc, _WHAT, None) or default_what
    if isinstance(exc, CliFailure):
        return exc.what, exc.why, exc.status
    if isinstance(exc, OmaDmError):
        return what, _omadm_why(exc, hints, getattr(exc, _DATA, None)), EXIT_FAILURE
    http = _http_why(exc)
    if http is not None:
        return http[0] or what, http[1], http[2]
    if isinstance(exc, sqlite3.Error):
        return what, f"not a usable device database ({exc})", EXIT_FAILURE
    if isinstance(exc, OSError):
        return _os_why(exc, what)
    if isinstance(exc, MemoryError):
        return what, "out of memory (lower --max-size, or give the process more memory)", 1
    return what, (f"internal error: {type(exc).__name__}: {exc} (run with --debug for the "
                  "traceback, and please report it)"), EXIT_FAILURE


REASONS = {
    "malformed_xml": "not well-formed XML",
    "invalid_utf8": "bytes that are not UTF-8",
    "forbidden_dtd": "a DOCTYPE internal subset or ENTITY declaration (refused: entity attacks)",
    "undefined_entity": "an entity reference that is not one of XML's five",
    "truncated": "the input ends inside a token or length",
    "unknown_language": "not a document of a known WBXML language (SyncML, DevInf, DDF, PROV)",
    "unsupported_version": "the first byte is not a WBXML version (0x00-0x03): XML, perhaps?",
    "unknown_public_id": "a public id of no known WBXML language",
    "unknown_token": "a token the document's code pages do not define",
}
"""Plain words for the codec's commonest reason codes, said when the error has no detail."""


def _omadm_why(exc: OmaDmError, hints: dict[str, str] | None, data: bytes | None) -> str:
    if isinstance(exc, RemoteProtocolError) and exc.reason == "http_status":
        return f"the server answered HTTP {exc.detail}, not a DM message"
    if isinstance(exc, (DecodeError, EncodeError)):
        why = str(exc)
        if not exc.detail and exc.reason in REASONS:
            why += f": {REASONS[exc.reason]}"
        if data is not None and 0 <= exc.offset <= len(data) and data[:1] not in (
                b"\x00", b"\x01", b"\x02", b"\x03"):
            line_no = data.count(b"\n", 0, exc.offset) + 1
            column = exc.offset - (data.rfind(b"\n", 0, exc.offset) + 1) + 1
            why += f" (line {line_no}, column {column})"
        option = (hints or {}).get(exc.reason)
        if option is not None:
            why += f"; raise the limit with {option}"
        return why
    if isinstance(exc, (AuthenticationError, LocalProtocolError, RemoteProtocolError,
                        SnapshotError, TreeError)):
        return f"{type(exc).__name__}: {exc}"
    return str(exc)


_OS_WHY = {
    errno.ENOENT: "no such file or directory",
    errno.EISDIR: "is a directory, not a file",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device",
    errno.EADDRINUSE: "address already in use (is another server running on that port?)",
    errno.EADDRNOTAVAIL: "cannot listen on that address (not an address of this machine)",
}


def _os_why(exc: OSError, what: str) -> tuple[str, str, int]:
    subject = exc.filename if exc.filename is not None else what
    if isinstance(exc, ssl.SSLError):
        return str(subject), f"TLS: {_ssl_text(exc)}", EXIT_FAILURE
    why = _OS_WHY.get(exc.errno or 0) or (exc.strerror or str(exc) or type(exc).__name__)
    return str(subject), why[:1].lower() + why[1:], EXIT_FAILURE


def _ssl_text(exc: BaseException) -> str:
    """OpenSSL's words without the ``(_ssl.c:1000)`` suffix."""
    text = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
    text = str(text).split(" (_ssl.c:")[0]
    return text.replace("_", " ").lower() if text.isupper() else text


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _http_why(exc: BaseException) -> tuple[str, str, int] | None:
    """httpx's transport errors in a user's words (httpx is imported only if installed)."""
    try:
        import httpx
    except ImportError:
        return None
    if not isinstance(exc, (httpx.HTTPError, httpx.InvalidURL)):
        return None
    url = ""
    with contextlib.suppress(RuntimeError, AttributeError):
        url = str(exc.request.url)  # type: ignore[union-attr]
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return url, f"not a usable URL ({exc}); use http://HOST:PORT/PATH or https://...", 2
    if isinstance(exc, httpx.TimeoutException):
        return url, "no answer in time (raise --timeout, or check the server)", EXIT_FAILURE
    for cause in _chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return url, (f"TLS: the server's certificate is not trusted "
                         f"({_ssl_text(cause)}); pass its CA with --ca FILE"), EXIT_FAILURE
        if isinstance(cause, ssl.SSLError):
            text = _ssl_text(cause)
            if any(s in text.lower() for s in ("wrong version number", "record layer",
                                               "packet length too long", "http request")):
                return url, ("TLS handshake failed: the server does not speak TLS "
                             "(use http:// for a plain-HTTP server)"), EXIT_FAILURE
            return url, f"TLS handshake failed: {text}", EXIT_FAILURE
        if isinstance(cause, ConnectionRefusedError):
            return url, "connection refused (is the DM server running, on that port?)", 1
        if isinstance(cause, socket.gaierror):
            return url, f"unknown host ({cause.strerror or cause})", EXIT_FAILURE
    if isinstance(exc, httpx.RemoteProtocolError):
        return url, ("the server closed the connection without an HTTP answer (an https:// "
                     "server asked with http://?)"), EXIT_FAILURE
    if isinstance(exc, httpx.ConnectError):
        return url, f"cannot connect: {exc}", EXIT_FAILURE
    return url, f"HTTP failure: {type(exc).__name__}: {exc}", EXIT_FAILURE


__all__ = ["CliFailure", "EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_USAGE", "LIMIT_OPTIONS",
           "PROG", "about", "explain", "line", "run"]
