"""Swan Wizard's headless core: answers model, PKI, rendering, plan and apply.

Nothing in this package imports Textual; the terminal UI in ``screens`` is a front end over it.
"""

__version__ = "0.1.0"
