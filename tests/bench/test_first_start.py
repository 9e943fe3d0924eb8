"""The first-start measurement the README quotes (`python -m bench.first_start`) runs, so it cannot
rot: one first start on a new data folder and one start on the same folder, each to a tool answer."""

from __future__ import annotations

import re

import pytest

from bench import first_start


def test_the_first_start_measurement_reports_both_starts(capsys: pytest.CaptureFixture[str]) -> None:
    first_start.main(["--runs", "1"])

    lines = capsys.readouterr().out.splitlines()
    figure = (
        r"initialize answered after \d+\.\d s, first tool answer after \d+\.\d s \(median of 1; each run: "
    )
    assert re.match(r"first start \(new data folder\): " + figure, lines[0]), lines
    assert re.match(r"next start \(same folder\): " + figure, lines[1]), lines
