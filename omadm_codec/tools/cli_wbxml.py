"""``omadm-codec xml2wbxml`` and ``omadm-codec wbxml2xml``: libwbxml's two tools, option for
option, over ``omadm_codec.compat.libwbxml`` (libwbxml 0.11.8's output for the same options).

The one idea: a script that calls ``xml2wbxml -n -o out.wbxml in.xml`` or ``wbxml2xml -m 0 -o
out.xml in.wbxml`` runs unchanged with ``omadm-codec`` in front and writes the same file. What
differs, on purpose: without ``-o`` the result goes to standard output (libwbxml's tools write
nothing; WBXML is shown as hex on a terminal); a failure is one line and exit status 1 (the
tools print a word and return libwbxml's error number, or 0 when a file cannot be opened);
``-m`` takes 0, 1 or 2 only.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..compat import libwbxml
from .cli_errors import about
from .cli_options import (
    add_limit_options,
    bounded_int,
    display,
    limits_from,
    read_input,
    write_output,
)

_MODES = {"0": "compact", "1": "indent", "2": "canonical"}


def _mode(text: str) -> str:
    if text not in _MODES:
        raise argparse.ArgumentTypeError(
            f"{text} is not a generation mode: 0 compact, 1 indent, 2 canonical")
    return _MODES[text]


def _upper(choices: tuple[str, ...] | list[str]) -> Any:
    """An option value one of ``choices`` (given in any case, as libwbxml compares them)."""

    def parse(text: str) -> str:
        if text.upper() not in choices:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(choices)}")
        return text.upper()

    return parse


def cmd_xml2wbxml(args: argparse.Namespace) -> int:
    """``omadm-codec xml2wbxml``: libwbxml's ``xml2wbxml`` tool, same options and bytes."""
    limits = limits_from(args)
    with about(display(args.file)):
        data = read_input(args.file, args.max_size)
    with about(display(args.file), data):
        out = libwbxml.xml_to_wbxml(data, version=args.version,
                                    keep_whitespace=args.keep_whitespace,
                                    string_table=not args.no_string_table,
                                    anonymous=args.anonymous, limits=limits)
    if args.output is None and sys.stdout.isatty():
        out = out.hex(" ").encode("ascii") + b"\n"
    with about(args.output if args.output not in (None, "-") else "standard output"):
        write_output(args.output, out)
    return 0


def cmd_wbxml2xml(args: argparse.Namespace) -> int:
    """``omadm-codec wbxml2xml``: libwbxml's ``wbxml2xml`` tool, same options and bytes."""
    limits = limits_from(args)
    with about(display(args.file)):
        data = read_input(args.file, args.max_size)
    with about(display(args.file)):
        out = libwbxml.wbxml_to_xml(data, generation=args.mode, indent=args.indent,
                                    keep_whitespace=args.keep_whitespace,
                                    language=args.language, charset=args.charset,
                                    limits=limits)
    with about(args.output if args.output not in (None, "-") else "standard output"):
        write_output(args.output, out)
    return 0


def add_wbxml_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``xml2wbxml`` and ``wbxml2xml`` to the CLI's parser."""
    x2w = sub.add_parser(
        "xml2wbxml", help="libwbxml's xml2wbxml: XML to WBXML, same options, same bytes",
        description="Convert an XML document to WBXML exactly as libwbxml's xml2wbxml tool "
                    "does, with its options: the same output file for the same options "
                    "(string table on unless -n, WBXML 1.3 unless -v). A drop-in for scripts "
                    "written against libwbxml; see docs/migrating.md.",
        epilog="example: omadm-codec xml2wbxml -n -v 1.2 -o out.wbxml in.xml")
    x2w.add_argument("file", help="input XML file, or - for standard input")
    x2w.add_argument("-o", metavar="FILE", dest="output",
                     help="output file, or - for standard output (default: standard output; "
                          "hex on a terminal)")
    x2w.add_argument("-k", dest="keep_whitespace", action="store_true",
                     help="keep ignorable whitespace (default: ignore)")
    x2w.add_argument("-n", dest="no_string_table", action="store_true",
                     help="do NOT generate a string table (default: generate, as libwbxml)")
    x2w.add_argument("-v", dest="version", metavar="X", default="1.3",
                     type=_upper(list(libwbxml.VERSIONS)),
                     help="WBXML version of the output: 1.0, 1.1, 1.2 or 1.3")
    x2w.add_argument("-a", dest="anonymous", action="store_true",
                     help="anonymous format: no public id (for languages without a number)")
    add_limit_options(x2w)
    x2w.set_defaults(func=cmd_xml2wbxml)

    w2x = sub.add_parser(
        "wbxml2xml", help="libwbxml's wbxml2xml: WBXML to XML, same options, same text",
        description="Convert a WBXML document to XML exactly as libwbxml's wbxml2xml tool "
                    "does, with its options: compact, indent or canonical generation, the "
                    "indent width, kept whitespace, a forced language or charset. A drop-in "
                    "for scripts written against libwbxml; see docs/migrating.md.",
        epilog="example: omadm-codec wbxml2xml -m 0 -o out.xml in.wbxml")
    w2x.add_argument("file", help="input WBXML file, or - for standard input")
    w2x.add_argument("-o", metavar="FILE", dest="output",
                     help="output file, or - for standard output (default: standard output)")
    w2x.add_argument("-m", dest="mode", metavar="X", type=_mode, default="1",
                     help="generation mode: 0 compact, 1 indent, 2 canonical (default: 1)")
    w2x.add_argument("-i", dest="indent", metavar="X", type=bounded_int(0, 255), default=0,
                     help="indent width in indent mode (libwbxml's help says 1; its tool uses 0)")
    w2x.add_argument("-k", dest="keep_whitespace", action="store_true",
                     help="keep ignorable whitespace (default: strip text, as libwbxml)")
    w2x.add_argument("-l", dest="language", metavar="X", default=None,
                     type=_upper(libwbxml.LANGUAGES),
                     help="force the document's language, e.g. SYNCML12, DEVINF12, DMDDF12, "
                          "PROV10 (default: from its public id)")
    w2x.add_argument("-c", dest="charset", metavar="X", default=None,
                     type=_upper(list(libwbxml.CHARSETS)),
                     help="charset of a WBXML 1.0 document, which does not name one, e.g. "
                          "UTF-8, ISO-8859-1 (default: UTF-8)")
    add_limit_options(w2x)
    w2x.set_defaults(func=cmd_wbxml2xml)


__all__ = ["add_wbxml_commands"]
