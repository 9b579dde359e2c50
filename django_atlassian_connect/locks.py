"""Deprecated import path: the claims now live in :mod:`.housekeeping.claims`.

``locks`` is that very module (not a copy), so ``locks.claim`` and
``monkeypatch.setattr(locks, ...)`` act on the one implementation.
"""

import sys

# A static import (not importlib): the import graph then sees this edge, which points down.
from .housekeeping import claims

sys.modules[__name__] = claims
