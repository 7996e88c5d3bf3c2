"""Loading and checking the group description (`group.yaml`)."""

from rempart.inventory.loader import load_group
from rempart.inventory.resolver import Attribution, Resolver

__all__ = ["Attribution", "Resolver", "load_group"]
