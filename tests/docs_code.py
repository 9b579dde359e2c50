"""The code blocks of the docs, by caption, so tests can run what the docs show."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def code_blocks(path: Path) -> dict[str, str]:
    """The ``.. code-block::`` blocks of an .rst file that have a ``:caption:``, by caption.

    A block captioned "X (continued)" is appended to X.
    """
    lines = path.read_text().splitlines()
    blocks: dict[str, str] = {}
    index = 0
    while index < len(lines):
        if not lines[index].startswith(".. code-block::"):
            index += 1
            continue
        caption = None
        index += 1
        while index < len(lines) and re.match(r"   :\w+:", lines[index]):
            found = re.match(r"   :caption:\s*(.+)", lines[index])
            caption = found.group(1).strip() if found else caption
            index += 1
        body = []
        while index < len(lines) and (not lines[index].strip() or lines[index].startswith("   ")):
            body.append(lines[index])
            index += 1
        if caption:
            name = caption.removesuffix(" (continued)")
            code = textwrap.dedent("\n".join(body)).strip("\n") + "\n"
            blocks[name] = f"{blocks[name]}\n\n{code}" if name in blocks else code
    return blocks
