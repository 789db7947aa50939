"""A node of several server processes: a supervisor that owns the port and hands each connection to the worker
that runs its interview, the workers' shared bus and load reports, and the worker's side of the hand-off."""
