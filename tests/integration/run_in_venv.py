"""Runs a test module under a pinned virtualenv's python (tests that need
packages from PyPI, e.g. grpcio): run_in_venv.py NAME REQUIREMENTS MODULE."""
import os
import sys
import unittest

from harness import venv

name, requirements, module = sys.argv[1:4]
try:
    python = venv(name, requirements)
except unittest.SkipTest as e:
    print("skipped=1:", e)
    sys.exit(0)
os.execv(python, [python, "-m", "unittest", "-v", module])
