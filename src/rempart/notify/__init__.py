"""Notify: the obligations catalogue, the legal clocks per establishment, French drafts, out-of-band sending.

Entry points: :mod:`rempart.notify.service` (used by the CLI, the demo and the recover stage),
:func:`rempart.notify.catalogue.load_catalogue`, :mod:`rempart.notify.clocks` (deadline semantics).
"""
