"""Delta tables on two backends behind one interface (see store.TableStore)."""
from __future__ import annotations

from recsys_spark.tables.model import CommitInfo, HistoryEntry, PartitionFilter, TxnId, WriteResult
from recsys_spark.tables.store import TableInfo, TableStore, choose_backend

__all__ = ["CommitInfo", "HistoryEntry", "PartitionFilter", "TableInfo", "TableStore", "TxnId", "WriteResult",
           "choose_backend"]
