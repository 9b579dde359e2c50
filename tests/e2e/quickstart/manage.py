#!/usr/bin/env python
"""The quick start's project (docs/quickstart.rst); see quickstart/settings.py."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quickstart.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
