"""Shared fixtures: the repository, the `neardup` CLI to compare with, test data."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest

REPO = Path(__file__).resolve().parents[2]


def _cli_command() -> List[str]:
    explicit = os.environ.get("NEARDUP_BIN")
    if explicit:
        return [explicit]
    for profile in ("debug", "release"):
        candidate = REPO / "target" / profile / "neardup"
        if candidate.exists():
            return [str(candidate)]
    if shutil.which("cargo") is None:
        pytest.skip("no neardup binary (set NEARDUP_BIN) and no cargo to build one")
    return ["cargo", "run", "--quiet", "--locked", "--bin", "neardup", "--"]


@pytest.fixture(scope="session")
def neardup_cli():
    """Runs the `neardup` command line (NEARDUP_BIN, else target/*/neardup, else cargo run)."""
    command = _cli_command()

    def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [*command, *map(str, args)],
            cwd=cwd,
            capture_output=True,
            text=True,
            env={**os.environ, "NEARDUP_LOG": "warn"},
        )
        if done.returncode != 0:
            raise AssertionError(f"neardup {' '.join(map(str, args))} failed:\n{done.stderr}")
        return done

    return run


@pytest.fixture(scope="session")
def magazine() -> Path:
    """The Chinese magazine sample: NEARDUP_MAGAZINE, else tests/data/magazine-zh/."""
    explicit = os.environ.get("NEARDUP_MAGAZINE")
    path = Path(explicit) if explicit else REPO / "tests" / "data" / "magazine-zh" / "magazine.txt"
    if not path.exists():
        pytest.skip(f"no magazine sample at {path} (set NEARDUP_MAGAZINE)")
    return path
