"""The bridge to HR management systems: outbound events by signed, retried webhooks."""
