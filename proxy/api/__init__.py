"""Thin HTTP handlers: the feed, admin routes, health and metrics. No SQL here."""
