"""Command line: ``omadm-codec convert FILE`` (XML <-> WBXML, sniffing which the input is),
and ``demo``, ``serve``, ``device``, ``decode``, ``encode``, ``inspect`` (``cli_session``),
``enqueue``, ``outcomes`` (``cli_state``).

The main job grows with the project; every sub-command is a thin shell over the public API.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import BACKEND, OmaDmError, wbxml_to_xml, xml_to_wbxml


def looks_like_wbxml(data: bytes) -> bool:
    """WBXML starts with a version byte 0x00-0x03; XML with '<', a BOM or whitespace."""
    return bool(data) and data[0] <= 0x03


def _convert(args: argparse.Namespace) -> int:
    data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    try:
        if looks_like_wbxml(data):
            out = wbxml_to_xml(data, indent=args.indent)
            kind = "WBXML -> XML"
        else:
            out = xml_to_wbxml(data, wbxml_version=args.wbxml_version,
                               string_table=args.string_table,
                               keep_whitespace=args.keep_whitespace)
            kind = "XML -> WBXML"
    except OmaDmError as exc:
        print(f"omadm-codec: {args.file}: {exc}", file=sys.stderr)
        return 1
    if args.output:
        Path(args.output).write_bytes(out)
        print(f"{kind}: {len(data)} -> {len(out)} bytes, written to {args.output} "
              f"(backend: {BACKEND})", file=sys.stderr)
    elif looks_like_wbxml(data):
        sys.stdout.buffer.write(out + b"\n")
    else:
        sys.stdout.write(out.hex(" ") + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The ``omadm-codec`` command: parse ``argv`` (default ``sys.argv[1:]``), run the subcommand
    and return its exit status."""
    parser = argparse.ArgumentParser(prog="omadm-codec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="XML <-> WBXML (the input kind is sniffed)")
    conv.add_argument("file", help="input file, or - for standard input")
    conv.add_argument("-o", "--output", help="output file (default: XML text, or WBXML as hex)")
    conv.add_argument("--wbxml-version", default="1.3", choices=["1.1", "1.2", "1.3"])
    conv.add_argument("--string-table", action="store_true", help="use a WBXML string table")
    conv.add_argument("--keep-whitespace", action="store_true",
                      help="keep ignorable whitespace (libwbxml's -k)")
    conv.add_argument("--indent", type=int, default=None, help="indent XML output by N spaces")
    conv.set_defaults(func=_convert)
    from .cli_session import add_commands
    from .cli_state import add_commands as add_state_commands

    add_commands(sub)
    add_state_commands(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
