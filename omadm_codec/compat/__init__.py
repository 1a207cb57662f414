"""The compat layer: other WBXML libraries' interfaces over this codec, for code that cannot
be rewritten. ``compat.wbxml`` is python-wbxml's module (``xml_to_wbxml``, ``wbxml_to_xml``,
``WBXMLParseError``); ``compat.libwbxml`` gives libwbxml 0.11.8's conversions with all their
options (also behind ``omadm-codec xml2wbxml`` / ``wbxml2xml``). See docs/migrating.md.

Owns: libwbxml's choices our codec does not make itself (its string table, WBXML 1.0,
anonymous documents, its XML layout). May import: ``wbxml`` and the base modules.
"""
