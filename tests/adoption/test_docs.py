"""The guide's tables are the code's tables, and its samples are generated ones."""

from __future__ import annotations

import re

import pytest

from django_atlassian_connect.adoption.events import WEBHOOK_EVENTS
from django_atlassian_connect.adoption.scopes import CONNECT_SCOPES
from django_atlassian_connect.codes.adoption import ADOPTION
from tests.adoption.conftest import REPO

GUIDE = REPO / "docs" / "guides" / "forge-manifest.rst"


def section(title: str) -> str:
    """The body of the guide's section ``title`` (up to the next section)."""
    parts = re.split(r"\n([^\n]+)\n-+\n", GUIDE.read_text())
    return dict(zip(parts[1::2], parts[2::2], strict=True))[title]


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the simple tables in ``text`` (between the 2nd and 3rd rule)."""
    rows, rules = [], 0
    for line in text.splitlines():
        if re.fullmatch(r"=+( +=+)+", line):
            rules = rules % 3 + 1
        elif rules == 2 and line.strip():
            rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


def test_the_webhook_tables_are_the_code():
    text = section("Webhooks and Forge events")
    jira, confluence = text.split("\nConfluence:\n")
    for product, part in (("jira", jira), ("confluence", confluence)):
        documented = {
            row[0].strip("`"): (row[1].strip("`"), tuple(s.strip("`") for s in row[2].split(", ")))
            for row in table_rows(part)
        }
        assert documented == dict(WEBHOOK_EVENTS[product]), product


def test_the_scope_table_is_the_code():
    rows = table_rows(section("Scopes"))
    for row in rows:
        connect = row[0].strip("`")
        for product, cell in zip(("jira", "confluence"), row[1:], strict=True):
            expected = CONNECT_SCOPES[product].get(connect)
            assert cell == (f"``{expected}``" if expected else "(unknown: an error)")
    documented = {row[0].strip("`") for row in rows}
    assert documented == set(CONNECT_SCOPES["jira"]) | set(CONNECT_SCOPES["confluence"])


@pytest.mark.parametrize("code", sorted(ADOPTION))
def test_every_code_is_in_the_guide(code):
    assert f"``{code}``" in GUIDE.read_text()


@pytest.mark.parametrize("page", ["guides/forge-manifest.rst", "guides/forge.rst"])
def test_the_guides_include_the_generated_sample(page):
    text = (REPO / "docs" / page).read_text()
    assert ".. literalinclude:: ../_generated/example-manifest.yml" in text


@pytest.mark.parametrize(
    "setting",
    [
        "FORGE_PRODUCT",
        "FORGE_RUNTIME",
        "FORGE_REMOTE_KEY",
        "FORGE_STORAGE_IN_SCOPE_EUD",
        "FORGE_REGIONS",
        "FORGE_USER_TOKENS",
        "FORGE_OFFLINE_IMPERSONATION",
    ],
)
def test_the_settings_are_in_the_reference(setting):
    reference = (REPO / "docs" / "reference" / "settings.rst").read_text()
    assert f"\n``{setting}``\n" in reference


def test_the_command_is_in_the_reference():
    reference = (REPO / "docs" / "reference" / "commands.rst").read_text()
    assert "\n``forge_manifest``\n------------------\n" in reference
