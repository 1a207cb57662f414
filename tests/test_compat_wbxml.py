"""The drop-in for python-wbxml (``omadm_codec.compat.wbxml``) and libwbxml's tools
(``omadm-codec xml2wbxml`` / ``wbxml2xml``): python-wbxml's signatures, defaults, return type
and exception; libwbxml's bytes and text for the same options, against libwbxml in-process
(``libwbxml_peer``) and against its tools as installed (Debian ``libwbxml2-utils``)."""

from __future__ import annotations

import inspect
import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import CORPUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_message_hypothesis import messages

import omadm_codec
from omadm_codec.compat import libwbxml as engine
from omadm_codec.compat import wbxml
from omadm_codec.errors import OmaDmError
from omadm_codec.messages import model as m
from omadm_codec.messages._writer import write_xml

ROOT = str(Path(omadm_codec.__file__).resolve().parent.parent)
DATA = Path(__file__).resolve().parent / "corpus"
HAVE_CORPUS = CORPUS.is_dir()
NO_CORPUS = f"the reference corpus is absent ({CORPUS})"


def corpus(suffix: str) -> list[Path]:
    if not HAVE_CORPUS:
        return []
    return sorted(p for p in CORPUS.glob(f"*{suffix}") if not p.name.startswith("results_large")
                  and (suffix != ".wbxml" or ".strtbl." not in p.name))


def documents(suffix: str) -> list[Path]:
    """Corpus documents, or the project's own fixture when the corpus is absent."""
    found = corpus(suffix)
    if found:
        return found
    return [DATA / "pkg1_client_init.xml"] if suffix == ".xml" else []


# -- python-wbxml's interface ----------------------------------------------------------------

def test_signatures_defaults_and_exception_are_python_wbxml_s() -> None:
    def shape(func: object) -> list[tuple[str, object]]:
        return [(p.name, p.default) for p in inspect.signature(func).parameters.values()]  # type: ignore[arg-type]

    empty = inspect.Parameter.empty
    assert shape(wbxml.xml_to_wbxml) == [("xml", empty), ("version", "1.3"),
                                         ("preserve_whitespaces", 0), ("string_table", 0),
                                         ("publicid", 1)]
    assert shape(wbxml.wbxml_to_xml) == [("wbxml", empty), ("charset", None),
                                         ("language", None), ("generation_type", "indent"),
                                         ("preserve_whitespaces", 0), ("indent", 4)]
    assert issubclass(wbxml.WBXMLParseError, Exception)
    assert issubclass(wbxml.WBXMLParseError, OmaDmError)
    assert wbxml.__all__ == ["WBXMLParseError", "wbxml_to_xml", "xml_to_wbxml"]


def test_returns_bytes_and_takes_positional_arguments() -> None:
    xml = (DATA / "pkg1_client_init.xml").read_bytes()
    out = wbxml.xml_to_wbxml(xml, "1.2", 0, 0, 1)
    assert type(out) is bytes and out[0] == 0x02
    assert type(wbxml.wbxml_to_xml(out, None, None, "compact", 0, 4)) is bytes
    assert wbxml.xml_to_wbxml(xml.decode("utf-8")) == wbxml.xml_to_wbxml(xml)  # str: UTF-8
    with pytest.raises(TypeError):
        wbxml.xml_to_wbxml(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        wbxml.wbxml_to_xml(out, indent="4")  # type: ignore[arg-type]


def test_errors_are_wbxmlparseerror_with_python_wbxml_s_message(libwbxml: ModuleType) -> None:
    truncated = bytes.fromhex("03a4016a006d6c")
    with pytest.raises(wbxml.WBXMLParseError) as info:
        wbxml.wbxml_to_xml(truncated)
    code = _libwbxml_code(libwbxml, lambda: libwbxml.wbxml_to_xml(truncated))
    assert info.value.code == code == 45
    assert str(info.value) == (f"{libwbxml.error_string(code)} (execution of "
                               "`wbxml_conv_wbxml2xml_run` failed with wbxml_len=7)")
    assert info.value.reason == "truncated" and info.value.offset == 7
    for bad, expected in ((b"<SyncML><oops", 104), (b"<nothing-we-know/>", 101),
                          (b'<SyncML xmlns="SYNCML:SYNCML1.2"><Foo/></SyncML>', 100)):
        with pytest.raises(wbxml.WBXMLParseError) as info:
            wbxml.xml_to_wbxml(bad)
        assert info.value.code == expected == _libwbxml_code(
            libwbxml, lambda bad=bad: libwbxml.xml_to_wbxml(bad))  # type: ignore[misc]
        assert str(info.value).startswith(libwbxml.error_string(expected) + " (execution")
    with pytest.raises(wbxml.WBXMLParseError) as info:
        wbxml.wbxml_to_xml(b"")
    assert info.value.code == 12 and str(info.value).startswith("Bad Parameter (")


def _libwbxml_code(libwbxml: ModuleType, call: object) -> int:
    with pytest.raises(libwbxml.LibwbxmlError) as info:
        call()  # type: ignore[operator]
    return int(info.value.code)


# -- libwbxml's output, in-process -----------------------------------------------------------

@pytest.mark.parametrize("path", documents(".xml"), ids=lambda p: p.stem)
def test_xml_to_wbxml_every_option_as_libwbxml(libwbxml: ModuleType, path: Path) -> None:
    xml = path.read_bytes()
    for version, table, keep, public in itertools.product(
            ["1.0", "1.1", "1.2", "1.3", "7.7"], [0, 1], [0, 1], [0, 1]):
        expected = libwbxml.xml_to_wbxml(xml, version=version, string_table=bool(table),
                                         keep_whitespace=bool(keep), public_id=bool(public))
        got = wbxml.xml_to_wbxml(xml, version, keep, table, public)
        assert got == expected, (version, table, keep, public)


@pytest.mark.parametrize("path", documents(".xml"), ids=lambda p: p.stem)
def test_wbxml_to_xml_every_generation_as_libwbxml(libwbxml: ModuleType, path: Path) -> None:
    for keep_encode in (False, True):
        data = libwbxml.xml_to_wbxml(path.read_bytes(), keep_whitespace=keep_encode)
        for generation, indent, keep in itertools.product(
                ["compact", "indent", "canonical", "other"], [0, 1, 4, 260], [0, 1]):
            expected = libwbxml.wbxml_to_xml(data, gen_type=generation, indent=indent % 256,
                                             keep_whitespace=bool(keep))
            got = wbxml.wbxml_to_xml(data, generation_type=generation, indent=indent,
                                     preserve_whitespaces=keep)
            assert got == expected, (keep_encode, generation, indent, keep)


@pytest.mark.skipif(not HAVE_CORPUS, reason=NO_CORPUS)
def test_libwbxml_string_table_files_of_the_corpus(libwbxml: ModuleType) -> None:
    """The corpus's ``*.strtbl.wbxml`` are libwbxml's own string-table output."""
    for path in sorted(CORPUS.glob("*.strtbl.wbxml")):
        xml = path.with_name(path.name.replace(".strtbl.wbxml", ".xml")).read_bytes()
        assert wbxml.xml_to_wbxml(xml, string_table=1) == path.read_bytes(), path.name


def test_forced_language_and_charset_as_libwbxml(libwbxml: ModuleType) -> None:
    data = libwbxml.xml_to_wbxml((DATA / "pkg1_client_init.xml").read_bytes())
    for language in ("SYNCML12", "SYNCML11", "SYNCML10", "BOGUS", None):
        assert wbxml.wbxml_to_xml(data, language=language) == libwbxml.wbxml_to_xml(
            data, gen_type="indent", indent=4, language=language)
    unknown_id = data[:1] + b"\x01" + data[3:]  # public id 0x1201 -> 0x01 (unknown)
    with pytest.raises(wbxml.WBXMLParseError) as info:
        wbxml.wbxml_to_xml(unknown_id)
    assert info.value.code == 64
    assert wbxml.wbxml_to_xml(unknown_id, language="SYNCML12") == libwbxml.wbxml_to_xml(
        unknown_id, gen_type="indent", indent=4, language="SYNCML12")
    with pytest.raises(wbxml.WBXMLParseError, match="^Unknown Public ID"):
        wbxml.wbxml_to_xml(data, language="WML13")  # libwbxml's, not a DM language of ours
    # WBXML 1.0 has no charset field: UTF-8 unless told; a charset of a 1.1+ document stays.
    v10 = b"\x00" + data[1:3] + data[4:]
    for charset in (None, "UTF-8", "ASCII", "BOGUS"):
        assert wbxml.wbxml_to_xml(v10, charset=charset) == libwbxml.wbxml_to_xml(
            v10, gen_type="indent", indent=4, charset=charset)
        assert wbxml.wbxml_to_xml(data, charset=charset) == wbxml.wbxml_to_xml(data)
    with pytest.raises(wbxml.WBXMLParseError) as info:
        wbxml.wbxml_to_xml(v10, charset="ISO-8859-2")  # as Debian's build (no iconv): 30
    assert info.value.code == 30


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(msg=messages(embedded=True, versions=("1.1", "1.2")),
       version=st.sampled_from(["1.0", "1.2", "1.3"]), table=st.booleans(), keep=st.booleans(),
       public=st.booleans(), pad=st.booleans())
def test_generated_documents_encode_as_libwbxml(libwbxml: ModuleType, msg: m.Message,
                                                version: str, table: bool, keep: bool,
                                                public: bool, pad: bool) -> None:
    """Every generated message (whitespace, repeated text, embedded documents, unknown
    elements). Where libwbxml's own table is unsound (its length and offsets count text before
    stripping: a repeated text with edge whitespace), its output does not decode back and
    ours must."""
    xml = write_xml(msg)
    if b"wbxml:opaque" in xml:
        return  # our base64 marker: libwbxml keeps the text (a deliberate difference)
    if pad:
        xml = xml.replace(b"<Data>", b"<Data>  word repeated ").replace(b"<LocURI>",
                                                                        b"<LocURI>repeated ")
    if keep:
        xml = xml.replace(b"><", b">\n  <")
    try:
        expected = libwbxml.xml_to_wbxml(xml, version=version, string_table=table,
                                         keep_whitespace=keep, public_id=public)
    except libwbxml.LibwbxmlError:
        return
    got = wbxml.xml_to_wbxml(xml, version, int(keep), int(table), int(public))
    if got == expected:
        return
    assert table  # without the string table, only libwbxml's table can be unsound

    def text(data: bytes) -> bytes | None:  # libwbxml reads no WBXML 1.0 it writes: as 1.3
        try:
            return bytes(libwbxml.wbxml_to_xml(b"\x03" + data[1:]))
        except libwbxml.LibwbxmlError:
            return None

    ours = text(got)
    if b"\x04" in got and ours is not None and ours == text(expected):
        # Deliberate (docs/migrating.md): the namespace declaration of a LITERAL element is
        # written as a LITERAL attribute, which libwbxml drops and we keep.
        return
    assert not keep
    assert ours is not None and text(expected) != ours  # theirs is unsound, ours is not
    try:
        plain = libwbxml.xml_to_wbxml(xml, string_table=False, public_id=public)
    except libwbxml.LibwbxmlError:
        return  # unknown elements: only a string table can carry them
    assert ours == text(plain)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(msg=messages(embedded=True, versions=("1.1", "1.2")), keep_encode=st.booleans(),
       keep=st.booleans(), generation=st.sampled_from(["compact", "indent", "canonical"]),
       indent=st.integers(0, 9), pad=st.booleans())
def test_generated_documents_decode_as_libwbxml(libwbxml: ModuleType, msg: m.Message,
                                                keep_encode: bool, keep: bool,
                                                generation: str, indent: int,
                                                pad: bool) -> None:
    xml = write_xml(msg)
    if pad:
        xml = xml.replace(b"<Data>", b"<Data>  word\t").replace(b"<LocURI>", b"<LocURI> x ")
    if keep_encode:
        xml = xml.replace(b"><", b">\n  <")
    try:
        data = libwbxml.xml_to_wbxml(xml, keep_whitespace=keep_encode)
        expected = libwbxml.wbxml_to_xml(data, gen_type=generation, indent=indent,
                                         keep_whitespace=keep)
    except libwbxml.LibwbxmlError:
        return
    if any(byte < 0x09 for byte in expected) or b"]]>" in expected.replace(b"]]><", b""):
        return  # libwbxml wrote XML that is not well-formed: ours differs on purpose
    assert wbxml.wbxml_to_xml(data, None, None, generation, int(keep), indent) == expected


def test_binary_opaque_stays_base64_on_purpose(libwbxml: ModuleType) -> None:
    """A deliberate difference: libwbxml writes binary OPAQUE raw (not XML); we keep it."""
    msg = m.Message(m.SyncHdr("1", "1", m.Target("t"), m.Source("s")), [m.Replace("2", [m.Item(
        target=m.Target("./x"), meta=m.Meta(format="bin"), data=b"\x00\x01\xff")])], True)
    data = omadm_codec.encode(msg, "wbxml")
    assert b"\x00\x01\xff" in libwbxml.wbxml_to_xml(data)
    text = wbxml.wbxml_to_xml(data)
    assert b'wbxml:opaque="base64">AAH/</Data>' in text
    assert wbxml.xml_to_wbxml(text, preserve_whitespaces=0)[-12:] == data[-12:]


# -- the command line against libwbxml's tools ------------------------------------------------

TOOLS = shutil.which("xml2wbxml") and shutil.which("wbxml2xml")
NO_TOOLS = "libwbxml's tools are not installed (Debian: apt-get install libwbxml2-utils)"


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def _ours(args: list[str]) -> int:
    """``omadm-codec ARGS`` in this process (its subprocess form is tested in test_cli)."""
    from omadm_codec.tools.cli import main

    return main(args)


@pytest.mark.skipif(not TOOLS, reason=NO_TOOLS)
@pytest.mark.parametrize("options", [[], ["-n"], ["-k"], ["-a"], ["-n", "-v", "1.1"],
                                     ["-v", "1.0", "-k"], ["-n", "-a", "-v", "1.2"]],
                         ids=lambda o: " ".join(o) or "defaults")
def test_xml2wbxml_same_file_as_the_tool(options: list[str], tmp_path: Path) -> None:
    for path in documents(".xml"):
        theirs, ours = tmp_path / "theirs.wbxml", tmp_path / "ours.wbxml"
        assert _run(["xml2wbxml", *options, "-o", str(theirs), str(path)]).returncode == 0
        assert _ours(["xml2wbxml", *options, "-o", str(ours), str(path)]) == 0
        assert ours.read_bytes() == theirs.read_bytes(), (path.name, options)


@pytest.mark.skipif(not TOOLS, reason=NO_TOOLS)
@pytest.mark.parametrize("options", [[], ["-m", "0"], ["-m", "2"], ["-i", "4"], ["-k"],
                                     ["-m", "1", "-i", "2", "-k"], ["-m", "2", "-k"],
                                     ["-l", "SYNCML12"]],
                         ids=lambda o: " ".join(o) or "defaults")
def test_wbxml2xml_same_file_as_the_tool(options: list[str], tmp_path: Path) -> None:
    inputs = documents(".wbxml") or []
    if not inputs:  # no corpus: the tool's own encoding of our fixture
        inputs = [tmp_path / "fixture.wbxml"]
        _run(["xml2wbxml", "-n", "-o", str(inputs[0]), str(DATA / "pkg1_client_init.xml")])
    for path in inputs:
        theirs, ours = tmp_path / "theirs.xml", tmp_path / "ours.xml"
        assert _run(["wbxml2xml", *options, "-o", str(theirs), str(path)]).returncode == 0
        assert _ours(["wbxml2xml", *options, "-o", str(ours), str(path)]) == 0
        assert ours.read_bytes() == theirs.read_bytes(), (path.name, options)


def test_tools_read_stdin_and_write_stdout(tmp_path: Path) -> None:
    xml = (DATA / "pkg1_client_init.xml").read_bytes()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    to = subprocess.run([sys.executable, "-m", "omadm_codec", "xml2wbxml", "-n", "-"],
                        input=xml, capture_output=True, timeout=60, env=env)
    assert to.returncode == 0 and to.stdout == engine.xml_to_wbxml(xml, string_table=False)
    back = subprocess.run([sys.executable, "-m", "omadm_codec", "wbxml2xml", "-m", "0", "-o",
                           "-", "-"], input=to.stdout, capture_output=True, timeout=60,
                          env=env)
    assert back.returncode == 0
    assert back.stdout == engine.wbxml_to_xml(to.stdout, generation="compact")
