"""Everything a node keeps: the storage contract (`contract.Store`), its SQLite and Redis backends, the outbox
of events written with the change they announce, webhook deliveries, Greenhouse callbacks, Redis key names,
and the SQLite → Redis migration. File and key names come from settings only.
"""
