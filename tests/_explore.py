"""Helpers of the explorer tests: a server in a thread, JSON calls, and an independent numpy BP1–BP4."""
from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import Any

import numpy as np


def call(url: str, method: str = "GET", path: str = "/api/state", body: Any = None, token: str | None = "same",
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One request to the explorer at `url` (its printed URL); token "same" uses the URL's token."""
    parts = urllib.parse.urlsplit(url)
    given = urllib.parse.parse_qs(parts.query)["token"][0] if token == "same" else token
    query = "" if given is None else "?" + urllib.parse.urlencode({"token": given})
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
    conn.request(method, path + query, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    try:
        return response.status, json.loads(raw)
    except json.JSONDecodeError:
        return response.status, raw.decode(errors="replace")


def numpy_backprop(state: dict[str, Any]) -> dict[str, list[np.ndarray]]:
    """BP1–BP4 for the selected example of `state` (from /api/state), written here from the book, in numpy:
    the page's numbers are compared with these."""
    ws = [np.array(w, dtype=np.float64) for w in state["weights"]]
    bs = [np.array(b, dtype=np.float64) for b in state["biases"]]
    x = np.array(state["x"][state["selected"]], dtype=np.float64)
    y = np.zeros(state["sizes"][-1])
    y[state["y"][state["selected"]]] = 1.0
    activations, zs = [x], []
    for w, b in zip(ws, bs):
        zs.append(w @ activations[-1] + b)                      # eq. 25
        activations.append(1.0 / (1.0 + np.exp(-zs[-1])))
    sp = [a * (1 - a) for a in activations[1:]]
    deltas = [np.empty(0)] * len(ws)
    deltas[-1] = activations[-1] - y                             # BP1, cross-entropy: δᴸ = aᴸ − y
    if state["cost"] == "quadratic":
        deltas[-1] = deltas[-1] * sp[-1]                         # BP1: (aᴸ − y) ⊙ σ′(zᴸ)
    for i in range(len(ws) - 2, -1, -1):
        deltas[i] = (ws[i + 1].T @ deltas[i + 1]) * sp[i]        # BP2
    return {"z": zs, "a": activations, "delta": deltas, "nabla_b": deltas,                       # BP3
            "nabla_w": [np.outer(d, a) for d, a in zip(deltas, activations[:-1])], "y": [y]}   # BP4
