"""Running ``manage.py connect_doctor`` in process: its exit status, output and report."""

from __future__ import annotations


def run_doctor_streams(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run ``connect_doctor``: (exit status, stdout, stderr). A finding or a usage error
    raises CommandError (returncode 1 or 2): its message, which the shell shows on stderr,
    is added to stderr. ``stdin`` is what a ``-`` argument reads."""
    import contextlib
    import io
    from unittest import mock

    from django.core.management import CommandError, call_command

    out, err = io.StringIO(), io.StringIO()
    given = (
        contextlib.nullcontext() if stdin is None else mock.patch("sys.stdin", io.StringIO(stdin))
    )
    with given:
        try:
            call_command("connect_doctor", *args, stdout=out, stderr=err)
            status = 0
        except CommandError as exc:
            status = exc.returncode
            err.write(str(exc))
    return status, out.getvalue(), err.getvalue()


def run_doctor(*args: str) -> tuple[int, str]:
    """Run ``connect_doctor``: (exit status, output). A finding raises CommandError(returncode=1)."""
    status, out, _ = run_doctor_streams(*args)
    return status, out


def run_doctor_json(*args: str) -> tuple[int, dict]:
    """``run_doctor`` with ``--json``: (exit status, report)."""
    import json

    status, text = run_doctor(*args, "--json")
    return status, json.loads(text)
