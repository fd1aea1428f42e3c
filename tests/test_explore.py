"""The explorer's server through real HTTP: the JSON API, the token, Origin and Host checks, bad input (4xx with a
message, and the server keeps serving), the CSV reader, and the command line (URL first, SIGTERM stops it).
The page itself, in Chromium, is tested in test_explore_page.py."""
from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _explore import call, numpy_backprop

from tinygrad_nn.data import DataError
from viz.explorer import Session, explore
from viz.explorer.datasets import GENERATORS, load_csv, make_2d
from viz.explorer.server import bind, ExploreError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server() -> Iterator:
    explorer = explore(port=0)
    yield explorer
    explorer.stop()


@pytest.fixture
def url(server) -> str:
    """The server's URL, its session back at the defaults (quadratic cost, η = 3, a fresh network)."""
    status, _ = call(server.url, "POST", "/api/config",
                     {"data": "circle", "sizes": [2, 4, 4, 2], "cost": "quadratic", "eta": 3.0, "batch_size": 10})
    assert status == 200
    assert call(server.url, "POST", "/api/reset", {})[0] == 200
    return server.url


def test_the_url_is_loopback_with_a_token(server) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[\w-]{20,}", server.url)


def test_state_has_the_issue_fields_in_the_book_layout(url: str) -> None:
    status, state = call(url)
    assert status == 200
    sizes = state["sizes"]
    assert sizes == [2, 4, 4, 2]
    assert [np.shape(w) for w in state["weights"]] == [(4, 2), (4, 4), (2, 4)]   # wˡⱼₖ at [l−2][j−1][k−1]
    assert [len(b) for b in state["biases"]] == [4, 4, 2]
    assert np.shape(state["x"]) == (350, 2) and len(state["y"]) == 350 and set(state["y"]) == {0, 1}
    assert 0 <= state["selected"] < 350
    assert (state["cost"], state["eta"], state["batch_size"], state["step"]) == ("quadratic", 3.0, 10, 0)
    assert state["training_cost"] > 0


def test_the_inspector_is_the_engine_and_agrees_with_an_independent_backprop(url: str) -> None:
    for cost in ("quadratic", "cross-entropy"):
        assert call(url, "POST", "/api/config", {"cost": cost})[0] == 200
        status, frame = call(url, "GET", "/api/frame")
        assert status == 200
        ours, ins = numpy_backprop(frame), frame["inspector"]
        for key in ("z", "delta", "nabla_b", "nabla_w"):
            for got, expected in zip(ins[key], ours[key]):
                np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)
            closed = ins.get(f"closed_{key}")
            if closed:
                for got, expected in zip(closed, ours[key]):
                    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)


def test_step_trains_and_eta_keeps_the_network(url: str) -> None:
    _, before = call(url)
    status, after = call(url, "POST", "/api/step", {"steps": 20})
    assert status == 200 and after["step"] == 20 and "x" not in after        # a live frame leaves out the points
    assert after["weights"] != before["weights"] and after["training_cost"] != before["training_cost"]
    status, changed = call(url, "POST", "/api/config", {"eta": 0.5})
    assert status == 200 and changed["eta"] == 0.5
    assert changed["weights"] == after["weights"] and changed["step"] == 20    # η does not reset the network
    status, more = call(url, "POST", "/api/config", {"sizes": [2, 5, 2]})
    assert status == 200 and more["sizes"] == [2, 5, 2] and more["step"] == 0


def test_edit_select_and_add_a_point(url: str) -> None:
    status, frame = call(url, "POST", "/api/param", {"kind": "w", "l": 3, "j": 2, "k": 4, "value": 1.25})
    assert status == 200 and frame["weights"][1][1][3] == 1.25
    status, frame = call(url, "POST", "/api/param", {"kind": "b", "l": 4, "j": 1, "value": -0.5})
    assert status == 200 and frame["biases"][2][0] == -0.5
    np.testing.assert_allclose(frame["inspector"]["delta"][-1], numpy_backprop(frame)["delta"][-1], rtol=1e-9)
    status, frame = call(url, "POST", "/api/select", {"index": 7})
    assert status == 200 and frame["selected"] == 7 and frame["inspector"]["x"] == frame["x"][7]
    status, frame = call(url, "POST", "/api/point", {"x1": 0.25, "x2": -0.5, "label": 1})
    assert status == 200 and frame["x"][-1] == [0.25, -0.5] and frame["y"][-1] == 1
    assert frame["selected"] == len(frame["x"]) - 1


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_a_missing_or_wrong_token_is_403(server, token) -> None:
    for method, path, body in [("GET", "/api/state", None), ("GET", "/", None), ("POST", "/api/step", {"steps": 1}),
                               ("POST", "/api/param", {"kind": "b", "l": 2, "j": 1, "value": 9.0})]:
        status, reply = call(server.url, method, path, body, token=token)
        assert status == 403 and "token" in reply["error"]
    assert call(server.url)[1]["biases"][0][0] != 9.0


def test_other_sites_are_403(server) -> None:
    port = server.port
    for headers in [{"Origin": "http://evil.example"}, {"Origin": f"http://127.0.0.1.evil.example:{port}"},
                    {"Host": "evil.example"}, {"Host": f"rebind.example:{port}"}]:
        status, reply = call(server.url, "GET", "/api/state", headers=headers)
        assert status == 403, headers
        status, _ = call(server.url, "GET", "/static/app.js", token=None, headers=headers)
        assert status == 403, headers
    assert call(server.url, headers={"Origin": f"http://127.0.0.1:{port}"})[0] == 200
    assert call(server.url, headers={"Host": f"localhost:{port}"})[0] == 200
    status, page = call(server.url, "GET", "/")
    assert status == 200 and "<svg id=\"network\"" in page


BAD = [
    ("/api/config", {"eta": float("nan")}, "eta"), ("/api/config", {"eta": -1}, "eta"),
    ("/api/config", {"eta": "fast"}, "eta"), ("/api/config", {"batch_size": 0}, "batch_size"),
    ("/api/config", {"batch_size": 2.5}, "batch_size"), ("/api/config", {"sizes": [2] + [4] * 7 + [2]}, "layers"),
    ("/api/config", {"sizes": [2, 33, 2]}, "neurons"), ("/api/config", {"sizes": [3, 4, 2]}, "inputs"),
    ("/api/config", {"sizes": [2, 4, 1]}, "classes"), ("/api/config", {"sizes": "2,4,2"}, "sizes"),
    ("/api/config", {"points": 20000}, "points"), ("/api/config", {"cost": "hinge"}, "cost"),
    ("/api/config", {"data": "moons"}, "data set"), ("/api/config", {"noise": 2}, "noise"),
    ("/api/config", {"colour": 1}, "unknown setting"), ("/api/config", [1, 2], "JSON object"),
    ("/api/config", b"{not json", "not JSON"), ("/api/config", b"\xff\xfe", "not JSON"),
    ("/api/step", {"steps": -1}, "steps"), ("/api/step", {"steps": 10**9}, "steps"),
    ("/api/param", {"kind": "w", "l": 1, "j": 1, "k": 1, "value": 1}, "l must be between 2 and 4"),
    ("/api/param", {"kind": "w", "l": 2, "j": 5, "k": 1, "value": 1}, "j must be between 1 and 4"),
    ("/api/param", {"kind": "w", "l": 2, "j": 1, "k": 1, "value": float("inf")}, "value"),
    ("/api/param", {"kind": "z", "l": 2, "j": 1, "value": 1}, "kind"),
    ("/api/select", {"index": 10**6}, "index"), ("/api/point", {"x1": 5, "x2": 0, "label": 0}, "x1"),
    ("/api/point", {"x1": 0, "x2": 0, "label": 2}, "label"),
]


@pytest.mark.parametrize(("path", "body", "named"), BAD, ids=[f"{p}-{b!r:.30}" for p, b, _ in BAD])
def test_bad_parameters_are_400_with_a_message_and_change_nothing(url: str, path, body, named) -> None:
    _, before = call(url)
    status, reply = call(url, "POST", path, body)
    assert status == 400, reply
    assert named in reply["error"]
    _, after = call(url)
    assert after == before


def test_a_huge_body_is_refused_and_the_server_keeps_serving(url: str) -> None:
    status, reply = call(url, "POST", "/api/config", b"{" + b" " * 100_000 + b"}")
    assert status == 400 and "KiB" in reply["error"]
    assert call(url)[0] == 200


def test_generated_sets_are_in_the_plane_and_reproducible() -> None:
    for name in GENERATORS:
        x, y = make_2d(name, 300, 0.2, 3)
        assert x.shape == (300, 2) and np.all(np.abs(x) <= 1) and set(y) == {0, 1}
        np.testing.assert_array_equal(x, make_2d(name, 300, 0.2, 3)[0])
    with pytest.raises(ValueError, match="noise"):
        make_2d("circle", 10, math.nan, 0)


def test_csv_rows_and_bad_lines(tmp_path: Path) -> None:
    good = tmp_path / "mine.csv"
    good.write_text("x1,x2,label\n0.5,0.5,1\n-2,4,0\n\n1,1,2\n")
    x, y = load_csv(good)
    np.testing.assert_allclose(x, [[0.125, 0.125], [-0.5, 1.0], [0.25, 0.25]])   # scaled into [−1, 1]²
    assert y.tolist() == [1, 0, 2]
    session = Session(data=str(good))
    assert session.net.sizes == [2, 4, 4, 3] and session.state()["csv_name"] == "mine.csv"
    for text, message in [("1,2\n", "line 1: expected 3 fields"), ("0,0,1\n0,zero,1\n", "line 2: not numbers"),
                          ("0,0,1\n1,1,0.5\n", "line 2: the label"), ("0,0,1\nnan,1,0\n", "line 2: x1 and x2"),
                          ("0,0,1\n", "at least 2 rows")]:
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(DataError, match=message):
            load_csv(bad)


def test_a_port_in_use_is_one_clear_error(server) -> None:
    with pytest.raises(ExploreError, match=f"port {server.port} on 127.0.0.1 is already in use"):
        bind("127.0.0.1", server.port)


def _start(*args: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=REPO)
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=120)   # the first line, whenever it comes
    assert line and line[0], proc.stderr.read() if proc.poll() is not None else "no URL within 120 s"
    return proc, line[0].strip()


@pytest.mark.parametrize("command", [["-m", "tinygrad_nn", "explore"], ["-m", "viz", "explore"]])
def test_the_cli_prints_the_url_first_and_stops_on_sigterm(command) -> None:
    proc, url = _start(*command, "--no-browser", "--port", "0", "--data", "xor", "--cost", "cross-entropy")
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[\w-]{20,}", url)
        status, state = call(url)
        assert status == 200 and state["cost"] == "cross-entropy"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    err = proc.stderr.read()
    assert proc.returncode == 0 and "Traceback" not in err and err.strip() == "explore: stopped"


def test_the_cli_port_in_use_and_bad_options_are_one_line(server) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    for args, status, message in [(["--port", str(server.port)], 1, "already in use"),
                                  (["--lr", "-1"], 2, "--lr"), (["--data", "moons"], 2, "unknown data set"),
                                  (["--sizes", "2,40,2"], 2, "neurons"), (["--data", "missing.csv"], 1, "missing.csv")]:
        done = subprocess.run([sys.executable, "-m", "tinygrad_nn", "explore", "--no-browser", *args], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == status, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and done.stdout == "", (args, done.stderr)


def test_another_host_warns_and_is_allowed_as_host() -> None:
    """127.0.0.2 is still this machine (all of 127/8 is loopback) but not the default: a warning, one line."""
    proc, url = _start("-m", "viz", "explore", "--no-browser", "--host", "127.0.0.2")
    try:
        assert url.startswith("http://127.0.0.2:")
        assert call(url)[0] == 200
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    lines = proc.stderr.read().strip().splitlines()
    assert proc.returncode == 0 and len(lines) == 2 and "Traceback" not in "".join(lines)
    assert lines[0].startswith("explore: warning: listening on 127.0.0.2") and lines[1] == "explore: stopped"


def test_viz_explore_for_notebooks_shows_an_iframe_and_stops() -> None:
    import viz

    explorer = viz.explore(data="gauss", sizes=[2, 3, 2], eta=0.5)
    try:
        state = call(explorer.url)[1]
        assert state["sizes"] == [2, 3, 2] and state["eta"] == 0.5 and state["data"] == "gauss"
        html = explorer._repr_html_()
        assert html.startswith("<iframe") and explorer.url.replace("&", "&amp;") in html
    finally:
        explorer.stop()
    with pytest.raises(OSError):   # stopped: nothing listens there any more
        call(explorer.url)


def test_a_cost_that_is_not_a_number_is_null_not_a_broken_reply(url: str, monkeypatch) -> None:
    """JSON has no NaN: were a cost ever NaN (a diverged network), the frame says null and still arrives."""
    import viz.explorer.session as session_module

    monkeypatch.setattr(session_module.Session, "_evaluate", lambda self, x, y: (float("nan"), float("inf")))
    status, frame = call(url, "POST", "/api/step", {"steps": 1})
    assert status == 200 and frame["training_cost"] is None and frame["history"][-1]["test_accuracy"] is None
