"""Placeholder, replaced by the real pure twin."""
def wbxml_to_xml(*a, **k):  # type: ignore
    raise NotImplementedError
def xml_to_wbxml(*a, **k):  # type: ignore
    raise NotImplementedError
