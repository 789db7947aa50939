"""The product's shared vocabulary: an interview, its spec, status and questions, and signed invites.
Every other part of the server speaks in these types; this package imports nothing else of the server.
"""
