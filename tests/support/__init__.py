"""What tests in every folder share: paths and constants, the daemon harness, a test rule.

Fixtures live in conftest.py files; everything else a test imports from another folder comes from here.
"""
