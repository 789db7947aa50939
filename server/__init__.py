"""ASGI server: WHIP signalling, candidate websockets, live sessions and the CLI."""
