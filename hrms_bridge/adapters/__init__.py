"""Adapters that speak an ATS's own protocol, mapped from the same interviews and reports."""
