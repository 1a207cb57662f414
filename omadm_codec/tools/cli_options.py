"""What every sub-command's options share: the parser whose usage errors are one line
(``omadm-codec: <what>: <why>``, exit 2), help that states each default, the checked value
types (a port, a URL, a size such as ``64M``), the input limits (``--max-size`` ...) and the
reading and writing of the files a command names (``-`` is stdin / stdout).

The one idea: a bad value is refused while parsing, with the option's name, before any work.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from ..limits import DEFAULT_LIMITS, Limits
from .cli_errors import EXIT_USAGE, LIMIT_OPTIONS, PROG, CliFailure, line


class Parser(argparse.ArgumentParser):
    """``argparse`` with one-line usage errors (exit 2) and defaults in the help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """argparse's usage errors as one line naming the option, exit status 2."""
        what, why = self.prog.removeprefix(PROG).strip(), message
        found = re.match(r"argument ([^:]+): (.*)", message, re.S)
        if found is not None:
            what, why = found.group(1).split("/")[-1], found.group(2)
        print(line(what, f"{why} (see '{self.prog} --help')"), file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Adds ``(default: X)`` to every option whose default says something (not None, False
    or the empty list) and whose help does not already state it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or "default" in text.lower() or default is None
                or default is False or default == [] or default is argparse.SUPPRESS
                or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


# -- value types (argparse ``type=``): a ValueError-like refusal names the value ---------------

def port(text: str) -> int:
    """A TCP port, 0 (any free port) to 65535."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (0-65535)")
    return value


def http_url(text: str) -> str:
    """An ``http://`` or ``https://`` URL with a host."""
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:8080/dm)")
    try:
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} has no valid port (0-65535)") from None
    return text


_SIZE = re.compile(r"\s*([0-9]+)\s*([kKmMgG]?)(i?[bB])?\s*")
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def size(text: str) -> int:
    """A byte count: ``16777216``, ``512k``, ``64M``, ``1G`` (binary units, ``MiB`` too)."""
    found = _SIZE.fullmatch(text)
    if found is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 16777216, 512k, 64M)")
    return int(found.group(1)) * _UNITS[found.group(2).lower()]


def positive_float(text: str) -> float:
    """An argparse type: a number of seconds above 0 (the error says so)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def bounded_int(low: int, high: int) -> Any:
    """An int in ``low..high``."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not in {low}..{high}")
        return value

    parse.__name__ = f"int {low}..{high}"
    return parse


def human_size(count: int) -> str:
    """``count`` bytes in the largest whole unit (``16 MiB``), else in bytes."""
    for unit, scale in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if count >= scale and count % scale == 0:
            return f"{count // scale} {unit}"
    return f"{count:,} bytes"


# -- input limits --------------------------------------------------------------------------

def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """``--max-size``, ``--max-depth``, ``--max-elements``: the input limits
    (``omadm_codec.Limits``, see docs/limits.md), for commands that read a document."""
    group = parser.add_argument_group("input limits (docs/limits.md)")
    group.add_argument("--max-size", type=size, default=DEFAULT_LIMITS.max_input_size,
                       metavar="BYTES",
                       help="largest input accepted, and largest single OPAQUE/text run in "
                            f"it; 512k, 64M, 1G also work (default: "
                            f"{human_size(DEFAULT_LIMITS.max_input_size)})")
    group.add_argument("--max-depth", type=bounded_int(1, 100_000),
                       default=DEFAULT_LIMITS.max_depth, metavar="N",
                       help="deepest element nesting accepted")
    group.add_argument("--max-elements", type=bounded_int(1, 1 << 40),
                       default=DEFAULT_LIMITS.max_elements, metavar="N",
                       help="most elements accepted in one document")
    parser.set_defaults(limit_hints=LIMIT_OPTIONS)


def limits_from(args: argparse.Namespace) -> Limits:
    """The decoder ``Limits`` from ``--max-size``, ``--max-depth`` and ``--max-elements``."""
    return Limits(max_input_size=args.max_size, max_depth=args.max_depth,
                  max_elements=args.max_elements,
                  max_opaque=max(args.max_size, DEFAULT_LIMITS.max_opaque))


# -- files -------------------------------------------------------------------------------------

def display(path: str | None) -> str:
    """How a file argument is named in messages (``-`` is a standard stream)."""
    return "standard input" if path in (None, "-") else str(path)


def read_input(path: str, max_size: int | None = None) -> bytes:
    """The bytes of ``path`` (``-``: stdin). A file over ``max_size`` is refused before it is
    read (the message names the limit and the option that raises it)."""
    if path == "-":
        limit = -1 if max_size is None else max_size + 1
        data = sys.stdin.buffer.read(limit)
        name = "standard input"
    else:
        target = Path(path)
        if target.is_dir():
            raise IsADirectoryError(21, "Is a directory", path)
        if max_size is not None and target.is_file() and target.stat().st_size > max_size:
            _too_large(path, target.stat().st_size, max_size)
        data = target.read_bytes()
        name = path
    if max_size is not None and len(data) > max_size:
        _too_large(name, len(data), max_size)
    return data


def _too_large(what: str, count: int, limit: int) -> NoReturn:
    raise CliFailure(what, f"too_large: {count:,} bytes is over the {human_size(limit)} input "
                           "limit (raise it with --max-size, e.g. --max-size 64M)")


def write_output(path: str | None, data: bytes) -> None:
    """``data`` to ``path``, or to stdout when ``path`` is None or ``-``."""
    if path is None or path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(21, "Is a directory", path)
    target.write_bytes(data)


__all__ = ["HelpFormatter", "Parser", "add_limit_options", "bounded_int", "display", "http_url",
           "human_size", "limits_from", "port", "positive_float", "read_input", "size",
           "write_output"]
