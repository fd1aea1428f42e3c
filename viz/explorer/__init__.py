"""Explore backprop live: a local web page where the engine trains a small network while you watch, and
every neuron, weight and bias opens its BP1–BP4 with the numbers of the selected example filled in.

    tinygrad-nn explore [--data circle|xor|gauss|spiral|digits|FILE.csv] [--sizes 2,4,4,2] [--no-browser]
    viz.explore()        # in a notebook: the page in an IFrame; .url, .stop()

Needs the optional extra: pip install 'tinygrad_nn[explore]' (starlette and uvicorn).
"""
from __future__ import annotations

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:
    raise ImportError(f"explore needs starlette and uvicorn ({exc.name} is missing): "
                      f"pip install 'tinygrad_nn[explore]'") from exc

from .server import Explorer, ExploreError
from .session import Session

__all__ = ["Explorer", "ExploreError", "Session", "explore"]


def explore(data: str = "circle", sizes: list[int] | None = None, cost: str = "quadratic", eta: float = 3.0,
            batch_size: int = 10, noise: float = 0.1, seed: int = 0, points: int = 500,
            host: str = "127.0.0.1", port: int = 0) -> Explorer:
    """Start the explorer's server in a background thread and return it: `.url` is the page (with its token),
    `.stop()` ends it, and in Jupyter the returned object shows the page in an IFrame."""
    session = Session(data=data, sizes=sizes, cost=cost, eta=eta, batch_size=batch_size, noise=noise,
                      seed=seed, points=points)
    return Explorer(session, host=host, port=port).start()


