"""The ``secure-endpoint`` command line: call the API as a client, smoke-test a deployed stack,
score access logs offline, and respond to an incident (block, unblock, revoke, rotate).

Nothing here imports the CDK, so the command starts fast.
"""

from secure_endpoint.cli.commands import main

__all__ = ["main"]
