"""The live interview on this node: its question flow, who is connected, what it records, and the registry of
live interviews and their media sessions; also the candidate-chat FAQ and the offline replay of a recording.

Fed by media consumers (`media` → `realtime_scoring` events), it publishes to the candidate's page and HR's
dashboards (the message schemas live here until the sockets render typed events themselves) and writes
through the storage contract.
"""
