"""Investigation: incident timeline, fleet-wide IOC sweep, exfiltration assessment, findings, evidence locker.

Services other stages and the interfaces call:

- ``timeline.build_timeline`` / ``timeline.write_csv`` / ``timeline.write_json`` / ``timeline.write_html``
- ``indicators.from_alerts`` / ``indicators.load_file``
- ``sweep.run_sweep`` (records a *propagation* finding)
- ``exfil.run_assessment`` (records a *data-theft* finding)
- ``findings.record_finding`` / ``findings.current`` / ``findings.history``
- ``evidence.register`` / ``evidence.handover`` / ``evidence.access`` / ``evidence.verify``
"""
