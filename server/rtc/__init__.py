"""WebRTC mechanics below the live interview: offer checks and answers (`peers`), ICE policy (`ice`), and the
receive-only media session that feeds a peer connection's tracks to a media consumer (`media_session`).

Knows nothing of interviews or HTTP: the live interview listens to a session through `MediaListener`.
"""
