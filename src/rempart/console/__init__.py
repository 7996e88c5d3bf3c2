"""The crisis console: the lifecycle in French in the browser, and the same actions as JSON under /api.

Thin like the CLI: each handler authenticates the person (a server-side session behind a ``__Host-``
cookie, or a personal API token), checks the same scopes as the CLI (``identities.authorize``) and calls
the stages' services. Nothing here decides what a plan does or who may approve it.
"""
