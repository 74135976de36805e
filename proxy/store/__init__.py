"""The SQL mirror: schema, engine, transactions, reads and writes. Nothing here imports
aiohttp.

``Store`` bundles one process's view of the database: ``db`` (transactions), ``reader``
(the feed and object state), ``changes`` (change-index writes), ``runs`` (the run log),
``leases`` (which process syncs what) and ``scans`` (full scans in progress, held
deletions)."""

from proxy.store.changes import ApplyResult, ChangeIndex
from proxy.store.database import Database
from proxy.store.engine import create_engine, to_async_url
from proxy.store.leases import Lease, Leases
from proxy.store.reads import FeedReader, ObjectStatus
from proxy.store.run_writer import RunWriter
from proxy.store.runs import RunCounts, RunLog, RunRecord
from proxy.store.scans import FullScans, ScanPosition
from proxy.store.store import Store

__all__ = [
    "ApplyResult",
    "ChangeIndex",
    "Database",
    "FeedReader",
    "FullScans",
    "Lease",
    "Leases",
    "ObjectStatus",
    "RunCounts",
    "RunLog",
    "RunRecord",
    "RunWriter",
    "ScanPosition",
    "Store",
    "create_engine",
    "to_async_url",
]
