"""The README's test command is what CI runs, and it brings the OS packages the suite needs: it
installs the missing ones when it may, and otherwise says in one line what to install."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.os_packages import PACKAGE_LIST, os_packages

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "tests" / "install_os_packages.sh"


def readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in first_block.splitlines() if line.strip()]
    return commands[1]


def install(package_list: Path, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(INSTALLER), str(package_list)],
        env={"PATH": path, "HOME": os.environ.get("HOME", "/")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    assert readme_test_command() == "bash tests/run.sh"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line for line in ci if line.strip() and not line.startswith("#")]
    assert commands[-1] == readme_test_command()
    assert "apt-get" not in "\n".join(commands)  # the installing is tests/run.sh's, for everyone
    assert "bash tests/install_os_packages.sh" in (ROOT / "tests" / "run.sh").read_text()


def test_with_every_package_present_the_installer_says_nothing(tmp_path: Path) -> None:
    listing = tmp_path / "packages.txt"
    listing.write_text(f"# comment\npython3 {sys.executable}\n\nbash /bin/bash\n")

    result = install(listing, os.environ["PATH"])

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_a_missing_package_it_may_not_install_is_named_in_one_line_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    listing = tmp_path / "packages.txt"
    listing.write_text(
        f"pgbouncer {tmp_path}/no-pgbouncer\npython3 {sys.executable}\n"
        f"postgresql-15 {tmp_path}/no-initdb\npostgresql-15 {tmp_path}/no-pg_trgm\n"
    )
    bin_dir = tmp_path / "bin"  # a PATH with no apt-get on it (as on a machine without apt)
    bin_dir.mkdir()
    (bin_dir / "id").symlink_to(shutil.which("id") or "/usr/bin/id")

    result = install(listing, str(bin_dir))

    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "tests: the tests that need pgbouncer postgresql-15 will be skipped; install them "
        "(Debian: sudo apt-get install pgbouncer postgresql-15) or run tests/run.sh as root"
    ]


def test_every_listed_package_is_a_real_debian_package() -> None:
    if shutil.which("dpkg-query") is None or shutil.which("apt-cache") is None:
        pytest.skip("not a Debian system (no dpkg-query/apt-cache): the list names Debian packages")
    names = sorted(os_packages())
    assert names and all(re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", name) for name in names), PACKAGE_LIST
    for name in names:
        installed = subprocess.run(["dpkg-query", "-W", name], capture_output=True, check=False)
        known = subprocess.run(["apt-cache", "show", name], capture_output=True, check=False)
        assert installed.returncode == 0 or known.returncode == 0, (
            f"{name} is neither installed nor known to apt"
        )
