"""Public import path of :mod:`django_atlassian_connect.connect.impersonation`.

``oauth`` is that very module (not a copy), so ``oauth.X`` and
``mock.patch("django_atlassian_connect.oauth.X")`` act on the one implementation.
"""

import sys

# A static import (not importlib): the import graph then sees this edge, which points down.
from .connect import impersonation

sys.modules[__name__] = impersonation
