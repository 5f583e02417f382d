"""Helpers shared by the test files (fixtures and simulated data), importable as ``_support``.

``tests/conftest.py`` puts ``tests/`` on ``sys.path``: with ``--import-mode=importlib`` test files
cannot import each other, so shared helpers live here instead of in a test file.
"""
