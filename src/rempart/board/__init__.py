"""The group at a glance: each establishment's state in the lifecycle, read from every stage's records.

A read model only: it changes nothing, and every interface (console, API, CLI) shows the same states.
"""
