"""Recovery: re-opening gates per external access, staged re-opening, closing tasks, final report.

Services the interfaces call:

- ``policy.load_policy``
- ``gates.evaluate`` / ``gates.evaluate_all`` / ``gates.attest`` / ``gates.approve``
- ``staging.reopen`` (passes the gate, then rolls back that access's containment through respond)
- ``closing.closing_status`` / ``closing.close``
- ``report.write_final_report``
"""
