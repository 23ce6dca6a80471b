"""The HTTP JSON API on twisted.web: bearer tokens, one role policy, request limits.

Kept import-light (no twisted.web here) so the ``telediag tokens`` command starts fast.
"""
