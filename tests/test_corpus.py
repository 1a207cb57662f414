"""The test corpora: the project's own is what ``tests/corpus/make_corpus.py`` writes, and the
reference corpus beside the workplace is used where it is present."""

from __future__ import annotations

import sys
from types import ModuleType

import pytest
from conftest import (
    CORPUS,
    CORPUS_XML,
    HAVE_SHARED_CORPUS,
    SHARED_CORPUS,
    SHARED_CORPUS_REASON,
)

sys.path.insert(0, str(CORPUS))
import make_corpus  # noqa: E402


def test_own_xml_is_what_the_script_writes() -> None:
    wanted = make_corpus.xml_files()
    assert sorted(wanted) == sorted(p.name for p in CORPUS.glob("*.xml"))
    for name, data in wanted.items():
        assert (CORPUS / name).read_bytes() == data, name


def test_own_wbxml_is_what_libwbxml_writes(libwbxml: ModuleType) -> None:
    wanted = make_corpus.wbxml_files(make_corpus.xml_files())
    assert sorted(wanted) == sorted(p.name for p in CORPUS.glob("*.wbxml"))
    for name, data in wanted.items():
        assert (CORPUS / name).read_bytes() == data, name


def test_every_message_has_its_libwbxml_bytes() -> None:
    for xml in CORPUS.glob("*.xml"):
        assert xml.with_suffix(".wbxml").is_file(), xml.name
        if xml.stem not in make_corpus.NO_STRING_TABLE:
            assert xml.with_suffix(".strtbl.wbxml").is_file(), xml.name


def test_reference_corpus_is_used_where_present() -> None:
    if not HAVE_SHARED_CORPUS:
        pytest.skip(SHARED_CORPUS_REASON)
    shared = [p for p in CORPUS_XML if p.parent == SHARED_CORPUS]
    assert shared and len(shared) == len(list(SHARED_CORPUS.glob("*.xml")))
