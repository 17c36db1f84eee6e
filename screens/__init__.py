"""The terminal wizard (Textual). ``app`` walks the steps listed in ``steps``; each step is a screen
module (``welcome``, ``ca``, ...) built on ``base`` and ``forms``, talking to the app through ``context``
and ``messages``; ``widgets`` holds the controls."""

from importlib import resources
from pathlib import Path

# The stylesheet and the F1 help, shipped inside the package so a wheel or .deb install finds them.
ASSETS = Path(str(resources.files("screens") / "assets"))
