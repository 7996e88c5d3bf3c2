"""Adapters: the only code that touches external systems (firewalls, servers, mail relays, HTTP APIs).

Each containment module implements the :class:`rempart.respond.interface.Adapter` protocol for one kind of
system; ``smtp`` implements notify's :class:`rempart.notify.transport.Transport` (the out-of-band relay) and
``smtp_sink`` is the loopback SMTP server the demo and the tests send to.
``registry`` builds the mapping the respond stage receives; stage code never imports these modules.
"""
