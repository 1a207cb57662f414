"""Sphinx configuration: the guide pages (Markdown, read by MyST) and the API reference, which
autodoc builds from the docstrings. CI builds it with ``-W``: a warning is an error.

    pip install '.[docs]' && python -m sphinx -W -b html docs docs/_build/html
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # a checkout documents itself, installed or not

import omadm_codec  # noqa: E402

project = "omadm_codec"
author = "The omadm_codec authors"
copyright = "2026, The omadm_codec authors"  # noqa: A001
release = version = omadm_codec.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_heading_anchors = 3

autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autoclass_content = "class"

html_theme = "alabaster"
html_title = f"omadm_codec {release}"

# Annotations that use the builtin ``type`` (``type[DMTree]``) match the many fields named
# ``type`` (``NodeValue.type``...) as well: an ambiguity, not a broken link.
suppress_warnings = ["ref.python"]
