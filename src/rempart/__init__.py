"""rempart — executes a hospital group's IT security plan, from detection to re-opening."""

__version__ = "0.1.0"
