"""Every public name has a docstring, since the API reference (docs/api, Sphinx autodoc) is
built from them: each public module (no part of its path starts with ``_``), each class and
function defined in it (or listed in its ``__all__``), and each public method and property of
those classes. A dataclass's generated signature does not count as a docstring."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

import omadm_codec


def public_modules() -> list[str]:
    names = ["omadm_codec"]
    for info in pkgutil.walk_packages(omadm_codec.__path__, "omadm_codec."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            names.append(info.name)
    return names


def _documented(obj: object) -> bool:
    doc = getattr(obj, "__doc__", None) or ""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__") or ""
        if doc.startswith(obj.__name__ + "("):  # what @dataclass writes when there is none
            return False
    return bool(doc.strip())


def public_names() -> Iterator[tuple[str, object]]:
    """(dotted name, object) for every public name the reference documents."""
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        yield module_name, module
        exported = getattr(module, "__all__", None)
        for name, obj in vars(module).items():
            if name.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            home = getattr(obj, "__module__", None) or ""
            if home != module_name and (exported is None or name not in exported
                                        or not any(p.startswith("_") for p in home.split("."))):
                continue  # documented where it is defined
            yield f"{module_name}.{name}", obj
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if isinstance(value, (classmethod, staticmethod)):
                        value = value.__func__
                    if inspect.isfunction(value) or isinstance(value, property):
                        yield f"{module_name}.{name}.{attr}", value


def test_every_public_name_has_a_docstring() -> None:
    names = dict(public_names())
    assert len(names) > 300
    missing = sorted(name for name, obj in names.items() if not _documented(obj))
    assert missing == [], f"{len(missing)} of {len(names)} public names have no docstring"
