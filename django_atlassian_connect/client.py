"""Public import path of :mod:`django_atlassian_connect.connect.client`.

``client`` is that very module (not a copy), so ``client.X`` and
``mock.patch("django_atlassian_connect.client.X")`` act on the one implementation.
"""

import sys

# A static import (not importlib): the import graph then sees this edge, which points down.
from .connect import client

sys.modules[__name__] = client
