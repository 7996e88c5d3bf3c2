"""`rempart demo`: the whole lifecycle on the example group, on embedded defaults.

The demo sits above every stage (like the CLI): it may import any of them. Each stage contributes one
module here (``detect_step``, ``respond_step``, ``continuity_step``, ``notify_step``, ``investigate_step``,
``recover_step``) with a ``run(ctx)`` function; ``scenario`` calls them in lifecycle order.
"""
