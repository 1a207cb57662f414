"""The fleet mix a user sets (``--mix FILE``): encodings, authentication, MaxMsgSize, the share
of devices sending a generic alert or a large object, think time, and faults.

The one idea: every share is a fraction of the fleet, assigned exactly (largest remainder) by
``fleet.Fleet``, so a mix of 10% wrong passwords over 50 devices is exactly 5 devices, and a
test can expect exact counts. A mix file is JSON (or TOML on Python 3.11+); unknown keys and
shares outside [0, 1] are refused with a ``MixError`` that names the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

AUTH_KINDS = ("basic", "md5", "hmac")
"""Client authentication kinds (DMAcc AAuthType BASIC, DIGEST, HMAC)."""
FAULT_KINDS = ("retransmit", "abandon", "corrupt", "wrong_password")
"""Faults a device can be given: its answer is lost and it retransmits (same MsgID); it
abandons the session halfway (never sends package 3); it sends a corrupt package 3; it
presents a wrong password."""
SERVER_AUTH_KINDS = ("none", "basic", "md5", "hmac")


class MixError(ValueError):
    """A mix file or value the harness cannot use; the message names the key."""


@dataclass(slots=True)
class FleetMix:
    """What the fleet is made of. Shares are fractions of the fleet (0..1)."""

    wbxml: float = 0.5
    """Share of devices speaking WBXML (the rest speak XML)."""
    auth: dict[str, float] = field(
        default_factory=lambda: {"basic": 0.2, "md5": 0.5, "hmac": 0.3})
    """Client authentication kinds by weight (normalised to shares summing to 1)."""
    max_msg_size: dict[int, float] = field(
        default_factory=lambda: {16384: 0.3, 65536: 0.7})
    """The device's MaxMsgSize by weight (normalised to shares summing to 1)."""
    generic_alert: float = 0.1
    """Share of devices that send a generic alert (1226) in every session."""
    large_object: float = 0.0
    """Share of devices that announce a large object (1226 naming ``LARGE_OBJECT_URI``) in
    every session; a server that Gets it receives it in chunks (MoreData)."""
    large_object_size: int = 100_000
    think_time: tuple[float, float] = (1.0, 5.0)
    """Seconds a device waits between two sessions (uniform in [low, high])."""
    faults: dict[str, float] = field(default_factory=dict)
    """Share of devices per fault kind (``FAULT_KINDS``); a device has at most one."""
    server_id: str = "omadm-demo-server"
    """The server's ServerID (the device's DMAcc ServerID)."""
    server_auth: str = "none"
    """How the device checks the server's credentials: none, basic, md5 or hmac."""
    server_password: str = "server-secret-0001"
    user_prefix: str = "lt-"
    """Device user names are ``user_prefix + index``."""
    password: str = "pw-{index}"
    """Device passwords (``{index}`` is replaced); a server must know them."""
    dev_id: str = "IMEI:{index:015d}"
    """DevInfo DevId pattern."""
    first_index: int = 0
    """Index of the first device (so two fleets can share a server without clashing)."""
    seed: int = 1
    """Seeds the assignment of shares to devices and the think times."""
    request_timeout: float = 10.0
    """Seconds one HTTP request may take before the device gives up on it."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every value (``MixError`` naming the key); normalise the weights."""
        for name in ("wbxml", "generic_alert", "large_object"):
            _share(name, getattr(self, name))
        self.auth = _weights("auth", self.auth, AUTH_KINDS)
        self.max_msg_size = {_int("max_msg_size", k, 512): v for k, v in
                             _weights("max_msg_size", self.max_msg_size, None).items()}
        for kind, share in self.faults.items():
            if kind not in FAULT_KINDS:
                raise MixError(f"faults: unknown fault {kind!r} (known: {', '.join(FAULT_KINDS)})")
            _share(f"faults.{kind}", share)
        if sum(self.faults.values()) > 1.0 + 1e-9:
            raise MixError("faults: the shares add up to more than 1")
        low, high = self.think_time
        if not 0 <= low <= high:
            raise MixError(f"think_time: need 0 <= low <= high, got {self.think_time}")
        if self.server_auth not in SERVER_AUTH_KINDS:
            raise MixError(f"server_auth: one of {', '.join(SERVER_AUTH_KINDS)}")
        if self.large_object_size < 1 or self.request_timeout <= 0:
            raise MixError("large_object_size and request_timeout must be positive")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FleetMix:
        """A mix from plain values (a parsed mix file); ``MixError`` names a bad key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MixError(f"unknown key(s) {', '.join(unknown)} "
                           f"(known: {', '.join(sorted(known))})")
        values = dict(data)
        if "max_msg_size" in values and isinstance(values["max_msg_size"], dict):
            values["max_msg_size"] = {_int("max_msg_size", k, 512): v
                                      for k, v in values["max_msg_size"].items()}
        if "think_time" in values:
            think = values["think_time"]
            if isinstance(think, int | float):
                think = (think, think)
            if not (isinstance(think, list | tuple) and len(think) == 2):
                raise MixError("think_time: a number or [low, high] seconds")
            values["think_time"] = (float(think[0]), float(think[1]))
        try:
            return cls(**values)
        except TypeError as exc:
            raise MixError(str(exc)) from None

    @classmethod
    def load(cls, path: str | Path) -> FleetMix:
        """A mix from a JSON file (``.toml``: TOML, Python 3.11+)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MixError(f"{path}: {exc.strerror or exc}") from None
        try:
            if path.suffix.lower() == ".toml":
                import tomllib

                data = tomllib.loads(text)
            else:
                data = json.loads(text)
        except (ValueError, ImportError) as exc:
            kind = path.suffix.lstrip(".") or "JSON"
            raise MixError(f"{path}: not valid {kind}: {exc}") from None
        if not isinstance(data, dict):
            raise MixError(f"{path}: the mix must be an object of keys")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The mix as plain values (what a mix file holds)."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["max_msg_size"] = {str(k): v for k, v in self.max_msg_size.items()}
        out["think_time"] = list(self.think_time)
        return out


def _share(name: str, value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise MixError(f"{name}: a share between 0 and 1, got {value!r}")
    return float(value)


def _int(name: str, value: object, minimum: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise MixError(f"{name}: {value!r} is not an integer") from None
    if number < minimum:
        raise MixError(f"{name}: {number} is below {minimum}")
    return number


def _weights(name: str, values: object, allowed: tuple[str, ...] | None) -> dict[Any, float]:
    if not isinstance(values, dict) or not values:
        raise MixError(f"{name}: an object of weights, e.g. {{\"a\": 1, \"b\": 3}}")
    for key, share in values.items():
        if allowed is not None and key not in allowed:
            raise MixError(f"{name}: unknown kind {key!r} (known: {', '.join(allowed)})")
        if not isinstance(share, int | float) or isinstance(share, bool) or share < 0:
            raise MixError(f"{name}.{key}: a weight >= 0, got {share!r}")
    total = sum(values.values())
    if total <= 0:
        raise MixError(f"{name}: the shares add up to 0")
    return {key: share / total for key, share in values.items()}


__all__ = ["AUTH_KINDS", "FAULT_KINDS", "SERVER_AUTH_KINDS", "FleetMix", "MixError"]
