"""Runs datasketch's own tests of MinHash and MinHashLSH against neardup.

    python python/compat/run_datasketch_tests.py PATH/TO/datasketch

PATH is a checkout of ekzhu/datasketch (or its bare git directory). Its test files for
the two classes are copied into a temporary directory with their imports rewritten
(``from datasketch.minhash import MinHash`` becomes ``from neardup import MinHash``, and so
on); classes neardup does not have (bBitMinHash, WeightedMinHashGenerator, the Redis
mock) become stand-ins that raise NotImplementedError when used. pytest runs them with
the current interpreter, which must have neardup and pytest installed. Prints one line
per test and a tally. Nothing of datasketch is kept.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

TEST_FILES = ["test/test_minhash.py", "test/test_lsh.py", "test/utils.py"]

REWRITES = [
    (r"^from datasketch import minhash$", "import neardup as minhash"),
    (r"^from datasketch\.minhash import MinHash$", "from neardup import MinHash"),
    (r"^from datasketch\.lsh import MinHashLSH$", "from neardup import MinHashLSH"),
    (r"^from datasketch import MinHash, MinHashLSH$", "from neardup import MinHash, MinHashLSH"),
    (r"^from datasketch\.[\w.]+ import (\w+)$", r"from _unsupported import \1"),
    (r"^import (mockredis)$", r"from _unsupported import \1"),
]

UNSUPPORTED = '''
"""Stand-ins for what neardup does not provide."""


class _Unsupported:
    def __init__(self, name):
        self._name = name

    def __call__(self, *args, **kwargs):
        raise NotImplementedError(f"{self._name} is not part of neardup")

    def __getattr__(self, attr):
        raise NotImplementedError(f"{self._name}.{attr} is not part of neardup")


def __getattr__(name):
    return _Unsupported(name)
'''


def read(source: Path, path: str) -> str:
    if (source / path).exists():
        return (source / path).read_text(encoding="utf-8")
    git_dir = source / ".git" if (source / ".git").exists() else source
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"HEAD:{path}"],
        check=True, capture_output=True, text=True,
    ).stdout


def rewrite(text: str) -> str:
    lines = []
    for line in text.splitlines():
        for pattern, replacement in REWRITES:
            new = re.sub(pattern, replacement, line)
            if new != line:
                line = new
                break
        if "datasketch" in line and line.lstrip().startswith(("import", "from")):
            raise SystemExit(f"an import the runner does not know: {line!r}")
        lines.append(line)
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("datasketch", type=Path, help="a datasketch checkout or git directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="neardup-datasketch-") as tmp:
        root = Path(tmp)
        (root / "test").mkdir()
        (root / "test" / "__init__.py").write_text("")
        (root / "_unsupported.py").write_text(UNSUPPORTED)
        for path in TEST_FILES:
            (root / path).write_text(rewrite(read(args.datasketch, path)), encoding="utf-8")
        report = root / "report.xml"
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             f"--junitxml={report}", "test/test_minhash.py", "test/test_lsh.py"],
            cwd=root, capture_output=True, text=True,
        )
        passed = failed = 0
        for case in ET.parse(report).getroot().iter("testcase"):
            name = f"{case.get('classname', '').split('.')[-1]}.{case.get('name')}"
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            if problem is None:
                passed += 1
                print(f"pass  {name}")
            else:
                failed += 1
                message = (problem.get("message") or "").splitlines()
                print(f"FAIL  {name}: {message[0][:150] if message else problem.tag}")
        print(f"{passed} passed, {failed} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
