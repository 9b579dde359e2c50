#!/usr/bin/env python
"""A project other than the example one, for the plugin's and the demo's tests."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "otherproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
