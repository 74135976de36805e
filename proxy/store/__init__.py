"""The SQL mirror: schema, engine, reads and writes. Nothing here imports aiohttp."""

from proxy.store.engine import create_engine, to_async_url
from proxy.store.reads import FeedReader, ObjectStatus, RunRecord
from proxy.store.writes import ApplyResult, ScanWriter, Store

__all__ = [
    "ApplyResult",
    "FeedReader",
    "ObjectStatus",
    "RunRecord",
    "ScanWriter",
    "Store",
    "create_engine",
    "to_async_url",
]
