"""Run a simulated site: ``python -m django_atlassian_connect.testing.host --help``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
