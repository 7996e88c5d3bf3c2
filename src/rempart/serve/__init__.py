"""Live mode: ``rempart serve`` receives events from the shippers a hospital runs, journals them before
acknowledging, and feeds them to the same readers, store and detection plan as ``rempart hunt``.

receivers (syslog UDP/TCP/TLS, RELP, HTTP) ─► :class:`~rempart.serve.contracts.Sink` (the segment journal)
─► the live loop (ingest, store, streaming detection, incidents, automatic steps).
"""
