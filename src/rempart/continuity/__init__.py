"""Degraded mode (mode dégradé): encrypted clinical snapshots, French downtime kits, the register of
serial-numbered paper forms, back-entry, reconciliation and export back to FHIR."""
