"""The OS packages some tests use (tests/os-packages.txt): where each is, and a skip that names it.

tests/run.sh installs the missing ones when it may (as root, with apt-get), so a test only skips
for a package that really could not be installed; the skip says how to get it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_LIST = Path(__file__).with_name("os-packages.txt")


@dataclass(frozen=True)
class OSPackage:
    name: str
    probes: tuple[Path, ...]  # files that are there once the package is installed

    @property
    def installed(self) -> bool:
        return all(probe.exists() for probe in self.probes)


def os_packages() -> dict[str, OSPackage]:
    probes: dict[str, list[Path]] = {}
    for line in PACKAGE_LIST.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            probes.setdefault(fields[0], []).append(Path(fields[1]))
    return {name: OSPackage(name, tuple(paths)) for name, paths in probes.items()}


def require(name: str) -> OSPackage:
    """The package, or skip the test, naming the package and how to install it."""
    package = os_packages()[name]
    if not package.installed:
        pytest.skip(
            f"the OS package {name} is not installed: `apt-get install {name}` (tests/run.sh does it "
            "when run as root)"
        )
    return package
