"""Prometheus metrics, on a registry of the app's own (tests build many apps per process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.feed_requests = Counter(
            "change_proxy_feed_requests",
            "Feed requests answered, by object type and HTTP status",
            ["object_type", "status"],
            registry=self.registry,
        )
        self.feed_entities = Counter(
            "change_proxy_feed_entities",
            "Entities streamed to feed clients",
            ["object_type"],
            registry=self.registry,
        )
        self.feed_seconds = Histogram(
            "change_proxy_feed_seconds",
            "Time to stream one feed response",
            ["object_type"],
            registry=self.registry,
        )
