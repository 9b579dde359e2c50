"""Public import path of :mod:`django_atlassian_connect.connect.tenant_cache`.

``tenant_cache`` is that very module (not a copy), so ``tenant_cache.X`` and
``mock.patch("django_atlassian_connect.tenant_cache.X")`` act on the one implementation.
"""

import sys

# A static import (not importlib): the import graph then sees this edge, which points down.
from .connect import tenant_cache

sys.modules[__name__] = tenant_cache
