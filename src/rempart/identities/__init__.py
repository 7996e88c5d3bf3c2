"""Identities: local accounts bound to the plan's people, second factors, sessions, API tokens.

Every interface authenticates here and hands the services a :class:`rempart.domain.actors.Actor`.
"""
