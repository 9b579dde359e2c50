"""Public import path of :mod:`django_atlassian_connect.connect.inbound`.

``inbound`` is that very module (not a copy), so ``inbound.X`` and
``mock.patch("django_atlassian_connect.inbound.X")`` act on the one implementation.
"""

import sys

# A static import (not importlib): the import graph then sees this edge, which points down.
from .connect import inbound

sys.modules[__name__] = inbound
