"""The readers; importing this package registers every one of them (see ``rempart.ingest.interface``)."""

from rempart.ingest.readers import auditd, evtx, fortigate, journald, syslog, winjson, winxml, zeek

__all__ = ["auditd", "evtx", "fortigate", "journald", "syslog", "winjson", "winxml", "zeek"]
