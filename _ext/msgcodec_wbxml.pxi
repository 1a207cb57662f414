# The compiled twin's model -> WBXML writer (included by msgcodec_c.pyx after the XML writer).
# Contract: the bytes of xml_to_wbxml(encode_xml-for-WBXML(msg), keep_whitespace=True), the same
# as omadm_codec/_wbxml_writer_py.py.


def encode_wbxml(msg):
    """WBXML of ``msg``: the intermediate XML (``for_wbxml``) through this twin's
    ``xml_to_wbxml``, whitespace kept."""
    cdef _Writer writer = _Writer.__new__(_Writer)
    writer.for_wbxml = True
    return bytes(_xml_to_wbxml(writer.message(msg), keep_whitespace=True))
