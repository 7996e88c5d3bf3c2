"""Adapters: the only code that touches external systems (firewalls, servers, mail relays, HTTP APIs).

Each module implements the :class:`rempart.respond.interface.Adapter` protocol for one kind of system.
``registry`` builds the mapping the respond stage receives; stage code never imports these modules.
"""
