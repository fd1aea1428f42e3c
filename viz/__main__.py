"""`python -m viz graph ...` (see `viz.cli`) or `python -m viz explore ...` (see `viz.explorer.cli`)."""
import sys

if sys.argv[1:2] == ["explore"]:
    try:
        from .explorer.cli import main
    except ImportError as exc:  # the [explore] extra is missing: one line, exit status 1
        raise SystemExit(f"explore: error: {exc}") from None
else:
    from .cli import main

raise SystemExit(main())
