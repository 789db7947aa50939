"""What nodes share through Redis: the event bus for live events, the node registry (which node runs which
interview, draining), and rate-limit buckets shared across nodes. Without Redis each has an in-process form.
"""
