"""`python -m viz graph ...`: see `viz.cli`."""
from .cli import main

raise SystemExit(main())
