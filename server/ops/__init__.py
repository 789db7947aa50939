"""Running a node: Prometheus metrics, logs (plain or JSON, with the interview id and no secrets), CPU by
thread role, and the uvicorn server that drains live interviews before it stops.
"""
