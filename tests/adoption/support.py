"""Helpers of the adoption tests: run the command, read its manifest."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command


@dataclass
class Run:
    out: str
    err: str
    error: CommandError | None = None

    @property
    def manifest(self) -> dict[str, Any]:
        data = yaml.safe_load(self.out)
        assert isinstance(data, dict), self.out
        return data


def forge_manifest(*args: str, **options: Any) -> Run:
    """``manage.py forge_manifest *args``; a CommandError is returned, not raised."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("forge_manifest", *args, stdout=out, stderr=err, **options)
    except CommandError as exc:
        return Run(out.getvalue(), err.getvalue(), exc)
    return Run(out.getvalue(), err.getvalue())


def generate(*args: str) -> Run:
    run = forge_manifest(*args)
    if run.error is not None:
        pytest.fail(f"forge_manifest failed: {run.error}\n{run.err}")
    return run


def failing(*args: str) -> str:
    """The CommandError message of a run that must fail."""
    run = forge_manifest(*args)
    assert run.error is not None, f"expected a failure, got:\n{run.out}"
    assert run.error.returncode != 0
    return str(run.error)


def save(tmp_path: Path, text: str, name: str = "manifest.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
