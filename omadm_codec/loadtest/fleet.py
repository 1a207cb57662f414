"""The fleet: one ``DeviceSpec`` per simulated device, drawn from a ``FleetMix``, and the
accounts a server must know to admit them.

The one idea: shares are assigned exactly and reproducibly: for each dimension (encoding,
auth, MaxMsgSize, generic alert, large object, fault) the counts come from the largest
remainder of ``share * devices``, and a seeded shuffle (a different one per dimension) decides
which devices get them. The same mix, seed and size always make the same fleet, on every
Locust worker.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .mix import FleetMix

K = TypeVar("K")

AUTH_TYPES = {"basic": "BASIC", "md5": "DIGEST", "hmac": "HMAC", "none": "NONE"}
"""Mix kinds -> DMAcc AAuthType values."""


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """Who one simulated device is and how it behaves."""

    index: int
    dev_id: str
    user: str
    password: str
    """The password the server knows for ``user``."""
    fmt: str
    """``xml`` or ``wbxml``."""
    auth: str
    """``basic``, ``md5`` or ``hmac``."""
    max_msg_size: int
    generic_alert: bool
    large_object: bool
    fault: str | None
    """One of ``mix.FAULT_KINDS``, or None for an honest device."""

    @property
    def presented_password(self) -> str:
        """The password the device presents (wrong for a ``wrong_password`` device)."""
        return self.password + "-wrong" if self.fault == "wrong_password" else self.password


def exact_counts(weights: dict[K, float], total: int) -> dict[K, int]:
    """``weights`` (summing to 1) as whole counts summing to ``total`` (largest remainder,
    ties to the first key)."""
    raw = {key: share * total for key, share in weights.items()}
    counts = {key: int(value) for key, value in raw.items()}
    left = total - sum(counts.values())
    order = sorted(raw, key=lambda key: (-(raw[key] - counts[key]), list(raw).index(key)))
    for key in order[:left]:
        counts[key] += 1
    return counts


def _assign(weights: dict[K, float], total: int, rng: random.Random) -> list[K]:
    slots: list[K] = []
    for key, count in exact_counts(weights, total).items():
        slots.extend([key] * count)
    rng.shuffle(slots)
    return slots


class Fleet:
    """``devices`` specs drawn from ``mix`` (``fleet[i]`` is device i of the fleet)."""

    def __init__(self, mix: FleetMix, devices: int) -> None:
        if devices < 1:
            raise ValueError("a fleet needs at least one device")
        self.mix = mix
        self.size = devices
        rng = random.Random(mix.seed)
        self._fmt = _assign({"wbxml": mix.wbxml, "xml": 1 - mix.wbxml}, devices, rng)
        self._auth = _assign(dict(mix.auth), devices, rng)
        self._size = _assign(dict(mix.max_msg_size), devices, rng)
        self._alert = _assign({True: mix.generic_alert, False: 1 - mix.generic_alert},
                              devices, rng)
        self._large = _assign({True: mix.large_object, False: 1 - mix.large_object},
                              devices, rng)
        faults: dict[str | None, float] = {kind: share for kind, share in mix.faults.items()}
        faults[None] = max(0.0, 1 - sum(mix.faults.values()))
        self._fault = _assign(faults, devices, rng)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, position: int) -> DeviceSpec:
        if not 0 <= position < self.size:
            raise IndexError(position)
        mix = self.mix
        index = mix.first_index + position
        return DeviceSpec(
            index=index, dev_id=mix.dev_id.format(index=index),
            user=f"{mix.user_prefix}{index}", password=mix.password.format(index=index),
            fmt=self._fmt[position], auth=self._auth[position],
            max_msg_size=self._size[position], generic_alert=self._alert[position],
            large_object=self._large[position], fault=self._fault[position])

    def __iter__(self) -> Iterator[DeviceSpec]:
        return (self[i] for i in range(self.size))

    def census(self) -> dict[str, dict[str, int]]:
        """How many devices have each trait (what the report shows of the fleet)."""

        def count(values: Sequence[Any]) -> dict[str, int]:
            out: dict[str, int] = {}
            for value in values:
                out[str(value)] = out.get(str(value), 0) + 1
            return dict(sorted(out.items()))

        return {"format": count(self._fmt), "auth": count(self._auth),
                "max_msg_size": count(self._size), "generic_alert": count(self._alert),
                "large_object": count(self._large), "fault": count(self._fault)}

    def accounts(self) -> list[tuple[str, str, str]]:
        """(user, password, AAuthType) of every device, for the server to provision (the
        true password, also for devices that will present a wrong one)."""
        return [(spec.user, spec.password, AUTH_TYPES[spec.auth]) for spec in self]

    def write_accounts(self, path: str | Path) -> None:
        """The accounts as CSV lines ``user,password,auth`` (``--accounts-out``)."""
        lines = [f"{user},{password},{kind}" for user, password, kind in self.accounts()]
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


__all__ = ["AUTH_TYPES", "DeviceSpec", "Fleet", "exact_counts"]
