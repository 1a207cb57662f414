"""The ``omadm-codec`` command: the parser, ``convert``, and the one place every sub-command
runs through (``cli_errors.run``: one-line errors, exit 2 for usage, 1 for failures).

Sub-commands live where their work is: ``convert`` here; ``demo``, ``serve``, ``device``,
``decode``, ``encode``, ``inspect`` in ``cli_session``; the operator's ``enqueue`` and
``outcomes`` on a shared state store in ``cli_state``; libwbxml's ``xml2wbxml`` and
``wbxml2xml`` in ``cli_wbxml``. Each is a thin shell over the public API.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .. import BACKEND, __version__, wbxml_to_xml, xml_to_wbxml
from .cli_errors import EXIT_USAGE, PROG, about, line, run
from .cli_options import (
    Parser,
    add_limit_options,
    bounded_int,
    display,
    limits_from,
    read_input,
    write_output,
)

DESCRIPTION = """\
OMA Device Management (SyncML DM 1.1/1.2/1.3) from the command line: convert, decode, encode
and inspect DM messages in XML and WBXML; run a DM server and a simulated device over
HTTP(S); watch a full, checked session with 'omadm-codec demo'.

Each command has its own help: omadm-codec COMMAND --help."""

EPILOG = """\
Errors are one line on standard error: 'omadm-codec: <what>: <why>'.
Exit status: 0 success, 1 failure, 2 usage error (a bad option or value)."""


def looks_like_wbxml(data: bytes) -> bool:
    """WBXML starts with a version byte 0x00-0x03; XML with '<', a BOM or whitespace
    (``00 3C`` is UTF-16BE '<', not WBXML)."""
    return bool(data) and data[0] <= 0x03 and data[:2] != b"\x00<"


def _convert(args: argparse.Namespace) -> int:
    limits = limits_from(args)
    with about(display(args.file)):
        data = read_input(args.file, args.max_size)
    with about(display(args.file), data):
        if looks_like_wbxml(data):
            out = wbxml_to_xml(data, indent=args.indent, limits=limits)
            kind = "WBXML -> XML"
        else:
            out = xml_to_wbxml(data, wbxml_version=args.wbxml_version,
                               string_table=args.string_table,
                               keep_whitespace=args.keep_whitespace, limits=limits)
            kind = "XML -> WBXML"
    if args.output:
        with about(args.output):
            write_output(args.output, out)
        if args.output != "-":
            print(f"{kind}: {len(data)} -> {len(out)} bytes, written to {args.output} "
                  f"(backend: {BACKEND})", file=sys.stderr)
    elif looks_like_wbxml(data):
        write_output(None, out + b"\n")
    else:
        write_output(None, out.hex(" ").encode("ascii") + b"\n")
    return 0


AddCommand = Callable[["argparse._SubParsersAction[Any]"], None]
"""Adds a sub-command to the parser (a layer above ``tools`` brings its own: ``loadtest``)."""


def build_parser(extra_commands: Sequence[AddCommand] = ()) -> argparse.ArgumentParser:
    """The whole command line (every sub-command, and those ``extra_commands`` add)."""
    parser = Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version",
                        version=f"{PROG} {__version__} (codec backend: {BACKEND}, Python "
                                f"{sys.version.split()[0]})")
    parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    conv = sub.add_parser(
        "convert", help="convert a document between XML and WBXML",
        description="Convert one document between XML and WBXML; which one the input is, "
                    "its first byte says. XML comes out as UTF-8 text; WBXML goes to -o FILE "
                    "(or, without -o, is printed as hex). For libwbxml's own options and "
                    "output, see 'omadm-codec xml2wbxml' and 'omadm-codec wbxml2xml'.",
        epilog="example: omadm-codec convert msg.xml -o msg.wbxml")
    conv.add_argument("file", help="input file, or - for standard input")
    conv.add_argument("-o", "--output", metavar="FILE",
                      help="output file, or - for raw bytes on standard output (default: XML "
                           "as text, WBXML as hex, on standard output)")
    conv.add_argument("--wbxml-version", default="1.3", choices=["1.1", "1.2", "1.3"],
                      help="WBXML version to write (XML -> WBXML)")
    conv.add_argument("--string-table", action="store_true",
                      help="move repeated strings into a WBXML string table (XML -> WBXML)")
    conv.add_argument("--keep-whitespace", action="store_true",
                      help="keep whitespace-only text between elements (libwbxml's -k)")
    conv.add_argument("--indent", type=bounded_int(0, 255), default=None, metavar="N",
                      help="indent the XML output by N spaces per level (default: compact, "
                           "no added whitespace)")
    add_limit_options(conv)
    conv.set_defaults(func=_convert)
    from .cli_session import add_commands
    from .cli_state import add_state_commands
    from .cli_wbxml import add_wbxml_commands

    add_commands(sub)
    add_state_commands(sub)
    add_wbxml_commands(sub)
    for add in extra_commands:
        add(sub)
    for command in sub.choices.values():  # --debug after the command name works too
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None, *, extra_commands: Sequence[AddCommand] = ()) -> int:
    """Run one command line (default ``sys.argv[1:]``); returns the exit status (never raises
    for a user's mistake). ``extra_commands`` add the sub-commands of layers above this one
    (the entry point, ``omadm_codec.__main__``, passes ``loadtest``)."""
    parser = build_parser(extra_commands)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors end here
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if getattr(args, "func", None) is None:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        names = ", ".join(sorted(commands.choices or {}))
        print(line("", f"no command given: choose one of {names} (see '{PROG} --help')"),
              file=sys.stderr)
        return EXIT_USAGE
    return run(args.func, args, command=args.command, debug=args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
