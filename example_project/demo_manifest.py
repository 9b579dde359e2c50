"""The Forge manifest step of ``make demo``: see ``demo.py``.

Runs ``manage.py forge_manifest`` as a user would, writes ``manifest.yml``
into the demo's directory, checks it with ``--check`` and shows its first lines.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

HERE = Path(__file__).resolve().parent


def manifest_step(
    workdir: Path, env: Mapping[str, str], expect: Callable[[bool, str], None]
) -> str:
    """Write the manifest and check it; what the step prints."""
    path = workdir / "manifest.yml"
    manage = [sys.executable, str(HERE / "manage.py"), "forge_manifest"]
    for extra in (["--output", str(path)], ["--check", str(path)]):
        done = subprocess.run(
            [*manage, "--product", "jira", *extra],
            env=dict(env),
            capture_output=True,
            text=True,
        )
        expect(done.returncode == 0, f"forge_manifest {extra[0]}: {done.stdout + done.stderr}")
    head = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return f"manage.py forge_manifest --output {path} (--check passes)\n" + "\n".join(
        [*head[:6], "..."]
    )
