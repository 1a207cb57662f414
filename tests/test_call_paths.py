"""The per-call fast paths of issue 17 give exactly what the general paths give.

* The compiled codec reuses one decoder and one encoder (with its scanner) across calls and
  caches the last language: an error, another language or other limits in one call must not
  show in the next. Every case runs on both twins and the twins must agree.
* The compiled encoder reads the usual XML syntax itself (``next_fast``) and leaves the rest to
  the scanner: the boundaries of that split (limits reached exactly, end tags that only start
  like the open one, text that runs into a comment or the end) must give the scanner's own
  results and errors.
* ``DMTree.get`` finishes the common Get in the URI twin (``get_leaf``): same answers and
  errors as the full path, on both twins.
"""

from __future__ import annotations

from typing import Any

import pytest

from omadm_codec.errors import DecodeError, EncodeError, OmaDmError
from omadm_codec.limits import Limits

SYNCML = b'<SyncML xmlns="SYNCML:SYNCML1.2">'


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args, **kwargs)
    except OmaDmError as exc:
        return type(exc).__name__, (exc.reason, exc.offset)


def _doc(body: bytes) -> bytes:
    return SYNCML + body + b"</SyncML>"


ENCODE_CASES = [
    _doc(b"<SyncHdr/>"),
    _doc(b"<SyncHdr><VerDTD>1.2</VerDTD></SyncHdr>"),
    _doc(b"\n  <SyncHdr>\n\t<VerDTD> 1.2 </VerDTD>\n  </SyncHdr>\n"),
    _doc(b"<SyncHdr><VerDTD>1.2</VerDTDx></SyncHdr>"),          # end tag longer than open
    _doc(b"<SyncHdr><VerDTD>1.2</VerDT></SyncHdr>"),            # shorter
    _doc(b"<SyncHdr><VerDTD>1.2</VerDTD ></SyncHdr>"),          # space before '>'
    _doc(b"<SyncHdr>  <!-- c -->  <VerDTD>1</VerDTD></SyncHdr>"),  # ws runs into a comment
    _doc(b"<SyncHdr><VerDTD>1<!--c-->2</VerDTD></SyncHdr>"),    # text merged over a comment
    _doc(b"<SyncHdr><VerDTD>1<?pi x?>2</VerDTD></SyncHdr>"),
    _doc(b"<SyncHdr><VerDTD><![CDATA[1]]>2</VerDTD></SyncHdr>"),
    _doc(b"<SyncBody><Status><Meta><Type xmlns='syncml:metinf'>text/plain</Type>"
         b"<Format xmlns=\"syncml:metinf\">chr</Format></Meta></Status></SyncBody>"),
    _doc(b"<SyncBody><Status><Meta><Type xmlns='syncml:metinf'>a</Type x></Meta>"
         b"</Status></SyncBody>"),
    _doc(b"<SyncBody><Status><Meta><Type xmlns='syncml:metinf' >a</Type></Meta>"
         b"</Status></SyncBody>"),
    _doc(b"<SyncBody><Status><Meta><Type xmlns='syncml:metinf'/></Meta></Status></SyncBody>"),
    _doc(b"<SyncBody><Status><Meta><Type xmlns='syncml:me<tinf'>a</Type></Meta>"
         b"</Status></SyncBody>"),
    _doc(b"<SyncBody><Add><Item><Data>a&amp;b</Data></Item></Add></SyncBody>"),
    _doc(b"<SyncBody><Add><Item><Data>  \n </Data></Item></Add></SyncBody>"),
    _doc(b"<SyncBody><Add><Meta><Type xmlns='syncml:metinf'>  </Type></Meta>"
         b"<Item><Data>x\ny</Data></Item></Add></SyncBody>"),
    _doc(b"<SyncBody><Add><Item><Data>r\r\nn</Data></Item></Add></SyncBody>"),
    _doc(b"<SyncBody><Final/></SyncBody>") + b"\n  ",
    _doc(b"<SyncBody><Final/></SyncBody>") + b"<Extra/>",
    SYNCML + b"<SyncHdr>",                                       # ends inside an element
    SYNCML + b"<SyncHdr></SyncHdr>  ",
    _doc(b"<SyncHdr><Foo>1</Foo></SyncHdr>"),                   # unknown element
    _doc(b"<SyncHdr><a:VerDTD xmlns:a='SYNCML:SYNCML1.2'>1</a:VerDTD></SyncHdr>"),
    _doc(b"<SyncHdr><V\xc3\xa9rDTD>1</V\xc3\xa9rDTD></SyncHdr>"),
    _doc(b"<SyncHdr><VerDTD>caf\xc3\xa9</VerDTD></SyncHdr>"),
    _doc(b"<SyncHdr><VerDTD>1</VerDTD><VerProto>DM/1.2</VerProto></SyncHdr>"),
]


@pytest.mark.parametrize("index", range(len(ENCODE_CASES)))
@pytest.mark.parametrize("string_table", [False, True])
def test_encode_paths_agree(both_backends: Any, index: int, string_table: bool) -> None:
    compiled, pure = both_backends
    xml = ENCODE_CASES[index]
    expected = _outcome(pure.xml_to_wbxml, xml, string_table=string_table)
    # Twice, and after a failing call: the reused encoder carries nothing over.
    assert _outcome(compiled.xml_to_wbxml, xml, string_table=string_table) == expected
    _outcome(compiled.xml_to_wbxml, SYNCML + b"<SyncHdr><VerDTD>")
    assert _outcome(compiled.xml_to_wbxml, xml, string_table=string_table) == expected


@pytest.mark.parametrize("limit", ["max_elements", "max_depth", "max_opaque"])
@pytest.mark.parametrize("value", [1, 2, 3, 4, 5])
def test_encode_limits_at_the_boundary(both_backends: Any, limit: str, value: int) -> None:
    compiled, pure = both_backends
    xml = _doc(b"<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto></SyncHdr>")
    limits = Limits(**{limit: value})
    expected = _outcome(pure.xml_to_wbxml, xml, limits=limits)
    assert _outcome(compiled.xml_to_wbxml, xml, limits=limits) == expected
    # The next call with the default limits is not affected.
    assert compiled.xml_to_wbxml(xml) == pure.xml_to_wbxml(xml)


def test_encode_languages_alternate(both_backends: Any) -> None:
    compiled, pure = both_backends
    devinf = (b'<DevInf xmlns="syncml:devinf"><VerDTD>1.2</VerDTD><Man>Acme</Man>'
              b"</DevInf>")
    syncml = _doc(b"<SyncHdr><VerDTD>1.2</VerDTD></SyncHdr>")
    for xml in (syncml, devinf, syncml, devinf, syncml):
        assert compiled.xml_to_wbxml(xml) == pure.xml_to_wbxml(xml)


def test_encode_many_namespaces_stay_linear(both_backends: Any) -> None:
    """Distinct default namespaces on every element: each start tag does constant work to keep
    its namespace alive (the scanner compares with the last few only)."""
    compiled, pure = both_backends
    body = b"".join(b'<Foo xmlns="urn:x:%d"/>' % i for i in range(3000))
    xml = _doc(b"<SyncBody>" + body + b"</SyncBody>")
    assert _outcome(compiled.xml_to_wbxml, xml, string_table=True) == _outcome(
        pure.xml_to_wbxml, xml, string_table=True)


DECODE_CASES = [
    bytes.fromhex("03a4016a006d6c7103312e3200010101"),          # the 16-byte document
    bytes.fromhex("03a4016a006d6c7103312e3200010101") + b"\x01",  # trailing END
    bytes.fromhex("03a4016a006d6c7103312e32"),                    # truncated string
    bytes.fromhex("03a4016a006d6c7103312e3226270001010101"),    # text with & and '
    bytes.fromhex("03a4016a006d6c7103c3a90001010101"),          # UTF-8 text
    bytes.fromhex("03a4016a006d6c7103c30001010101"),            # invalid UTF-8
    bytes.fromhex("03a4016a006d6c71030d0a0001010101"),          # CR in text
    bytes.fromhex("03a4016a006d6c710300010101"),                # empty string
    bytes.fromhex("03a4016a006d6c71c3033132330101"),            # OPAQUE text
    bytes.fromhex("039f536a006d6c7103312e3200010101"),          # another public id (DM 1.1)
    bytes.fromhex("03a4016a006d6c7103312e3200010101"),          # and back
]


@pytest.mark.parametrize("index", range(len(DECODE_CASES)))
@pytest.mark.parametrize("indent", [None, 1])
def test_decode_paths_agree(both_backends: Any, index: int, indent: Any) -> None:
    compiled, pure = both_backends
    data = DECODE_CASES[index]
    expected = _outcome(pure.wbxml_to_xml, data, indent=indent)
    assert _outcome(compiled.wbxml_to_xml, data, indent=indent) == expected
    _outcome(compiled.wbxml_to_xml, DECODE_CASES[2])  # a failing call in between
    assert _outcome(compiled.wbxml_to_xml, data, indent=indent) == expected
    assert _outcome(compiled.wbxml_to_xml, bytearray(data), indent=indent) == expected


@pytest.mark.parametrize("limit", ["max_elements", "max_depth", "max_opaque",
                                   "max_input_size", "max_string_table"])
@pytest.mark.parametrize("value", [0, 1, 2, 3, 16])
def test_decode_limits_at_the_boundary(both_backends: Any, limit: str, value: int) -> None:
    compiled, pure = both_backends
    data = DECODE_CASES[0]
    limits = Limits(**{limit: value})
    expected = _outcome(pure.wbxml_to_xml, data, limits=limits)
    assert _outcome(compiled.wbxml_to_xml, data, limits=limits) == expected
    assert compiled.wbxml_to_xml(data) == pure.wbxml_to_xml(data)


def test_decode_errors_are_typed(both_backends: Any) -> None:
    compiled, _ = both_backends
    with pytest.raises(DecodeError):
        compiled.wbxml_to_xml(DECODE_CASES[2])
    with pytest.raises(EncodeError):
        compiled.xml_to_wbxml(SYNCML)


# -- DMTree.get through get_leaf -------------------------------------------------------------

SRV = "srv1.example"


def _tree(uri_module: Any) -> Any:
    from omadm_codec.tree import DMTree

    tree = DMTree.with_standard_objects(dev_id="IMEI:1", man="Acme", mod="X1", server_id=SRV,
                                        uri_backend=uri_module)
    tree.device_add("./Vendor", format="node", acl=f"Get={SRV}")
    tree.device_add("./Vendor/Leaf", "v", format="chr")
    tree.device_add("./Vendor/Bin", b"\x00\x01", format="bin")
    tree.device_add("./Vendor/NoGet", "x", access=("Replace",))
    tree.device_add("./Vendor/Hidden", "h", acl="Get=other.example")
    tree.device_add("./Vendor/Esc%20ape", "e")
    tree.device_add("./Inbox", format="node", acl=f"Get={SRV}&Add={SRV}")
    tree.device_add("./Inbox/Item", "i")
    return tree


GET_URIS = ["./Vendor/Leaf", "Vendor/Leaf", "./Vendor/Bin", "./Vendor", "./Vendor/NoGet",
            "./Vendor/Hidden", "./Vendor/Missing", "./Vendor/Esc%20ape", "./Inbox",
            "./Inbox/Item", "./DevInfo/Man", "./DevInfo/Man?prop=Format", "./Vendor/Leaf/",
            ".", "./Vendor/Leaf?list=Struct", "./DevDetail/URI/MaxDepth"]


def _get(tree: Any, uri: str, server: str) -> tuple[str, Any]:
    try:
        return "ok", tree.get(uri, server)
    except OmaDmError as exc:
        return type(exc).__name__, str(exc)


def _full_get(tree: Any, uri: str, server: str) -> tuple[str, Any]:
    """DMTree.get with the URI twin's get_leaf answering "take the full path" every time."""
    uri_module = tree._uri

    class FullPath:
        def __getattr__(self, name: str) -> Any:
            return getattr(uri_module, name)

        @staticmethod
        def get_leaf(root: Any, uri: str, server_id: str, *limits: Any) -> Any:
            return uri_module.resolve(root, uri, "Get", server_id, *limits[:3])

    tree._uri = FullPath()
    try:
        return _get(tree, uri, server)
    finally:
        tree._uri = uri_module


@pytest.mark.parametrize("server", [SRV, "other.example"])
def test_get_leaf_answers_as_the_full_get(both_backends: Any, server: str) -> None:
    compiled, pure = both_backends
    trees = [_tree(compiled.modules["tree._uri"]), _tree(pure.modules["tree._uri"])]
    for uri in GET_URIS:
        expected = _full_get(trees[1], uri, server)
        for tree in trees:
            assert _get(tree, uri, server) == expected, uri
            assert _full_get(tree, uri, server) == expected, uri


def test_get_leaf_follows_changes(both_backends: Any) -> None:
    for backend in both_backends:
        tree = _tree(backend.modules["tree._uri"])
        assert tree.get("./Vendor/Leaf", SRV).value == "v"
        tree.device_replace("./Vendor/Leaf", "w")
        assert tree.get("./Vendor/Leaf", SRV).value == "w"
        tree.device_add("./Vendor/Later", "n")
        assert tree.get("./Vendor/Later", SRV).value == "n"
