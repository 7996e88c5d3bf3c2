"""The readers; importing this package registers every one of them (see ``rempart.ingest.interface``)."""

from rempart.ingest.readers import evtx, winjson

__all__ = ["evtx", "winjson"]
