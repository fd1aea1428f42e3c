"""``python -m tinygrad_nn``: see `tinygrad_nn.cli`."""
import sys

from .cli import main

sys.exit(main())
