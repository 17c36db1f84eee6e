"""Checks: network checks before apply, the self-test, and the doctor for a running server."""
