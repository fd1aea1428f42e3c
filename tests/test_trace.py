"""`tinygrad_nn.trace`: a traced program replays forward and backward bitwise like the dynamic graph.

Every comparison here is bitwise (same type, dtype, shape and bytes): the program runs the numpy expressions
the engine's ops and rules run, in the same order, so nothing less is accepted.
"""
from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from _ops import Softplus
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn import Program, Value, linear, nn, trace
from tinygrad_nn.optim import SGD
from tinygrad_nn.testing import mini_batches, networks

GRID = st.sampled_from([-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5])  # few values: max ties and relu's 0 happen


TRACE = importlib.import_module("tinygrad_nn.trace")  # the module (tinygrad_nn.trace is the function)


@pytest.fixture(autouse=True, params=["first tier", "compiled"])
def tier(request, monkeypatch):
    """Every test runs on both tiers: the first calls' replay by the engine's own ops (never compiled here),
    and the straight-line replay (compiled at once)."""
    monkeypatch.setattr(TRACE, "_COMPILE_AFTER", 10 ** 9 if request.param == "first tier" else 0)
    return request.param


def same(a, b) -> bool:
    """Bitwise equality of two values or gradients (floats or arrays)."""
    if type(a) is not type(b):
        return False
    if a is None or type(a) is float:
        return a is None and b is None or np.float64(a).tobytes() == np.float64(b).tobytes()
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def dynamic(fn, params, *args):
    """fn(*args).backward() from the parameters' current gradients: (value, [grads])."""
    c = fn(*args)
    c.backward()
    return c.item(), [p.grad for p in params]


def replayed(program, params, *args):
    return program(*args), [p.grad for p in params]


def check_same(fn, program, params, args) -> None:
    """Replay and the dynamic graph agree bitwise, from empty gradients and accumulating into earlier ones."""
    start = [None if p.grad is None else np.copy(p.grad) if type(p.grad) is np.ndarray else p.grad for p in params]
    for p in params:
        p.grad = None
    v1, g1 = dynamic(fn, params, *args)
    v1b, g1b = dynamic(fn, params, *args)  # accumulates
    for p in params:
        p.grad = None
    v2, g2 = replayed(program, params, *args)
    v2b, g2b = replayed(program, params, *args)
    assert same(v1, v2) and same(v1b, v2b)
    for a, b, c, d in zip(g1, g2, g1b, g2b):
        assert same(a, b) and same(c, d)
    for p, s in zip(params, start):
        p.grad = s


# ---- random graphs of every op -----------------------------------------------------------------------
W_LIN = Value(np.linspace(-1, 1, 12).reshape(3, 4), name="W")
B_LIN = Value(np.array([0.5, 0.0, -0.5]), name="B")


def _ops():
    def pos(a):
        return a * a + 0.5
    return {
        "add": (2, lambda a, b: a + b), "sub": (2, lambda a, b: a - b), "mul": (2, lambda a, b: a * b),
        "div": (2, lambda a, b: a / (b * b + 1.0)), "neg": (1, lambda a: -a), "exp": (1, lambda a: a.tanh().exp()),
        "log": (1, lambda a: pos(a).log()), "tanh": (1, lambda a: a.tanh()), "sigmoid": (1, lambda a: a.sigmoid()),
        "relu": (1, lambda a: a.relu()), "pow": (1, lambda a: pos(a) ** 1.5),
        "pow_value": (2, lambda a, b: pos(a) ** b.tanh()), "matmul": (2, lambda a, b: a @ b),
        "sum": (1, lambda a: a.sum(axis=0) if a.ndim else a.sum()), "mean": (1, lambda a: a.mean()),
        "max": (1, lambda a: a.max(axis=0) if a.ndim else a.max()), "max_all": (1, lambda a: a.max()),
        "reshape": (1, lambda a: a.reshape(-1)), "transpose": (1, lambda a: a.T),
        "getitem": (1, lambda a: a[[0, 0]] if a.ndim else a), "row": (1, lambda a: a[0] if a.ndim else a),
        "log_softmax": (1, lambda a: a.log_softmax() if a.ndim else a),
        "softmax": (1, lambda a: a.softmax() if a.ndim else a),
        "linear": (1, lambda a: linear(a, W_LIN, B_LIN)), "softplus": (1, lambda a: Softplus.apply(a)),
        "quadratic": (1, lambda a: nn.quadratic_cost(a.sigmoid(), np.full(a.shape, 0.25)) if a.ndim else a),
        "cross_entropy_z": (1, lambda a: nn.cross_entropy_cost(a.sigmoid(), np.full(a.shape, 0.75)) if a.ndim else a),
        "cross_entropy_a": (1, lambda a: nn.cross_entropy_cost(a.tanh() * 0.4 + 0.5, np.full(a.shape, 0.5))
                            if a.ndim else a),
        "log_likelihood_z": (1, lambda a: nn.log_likelihood_cost(a.softmax(), np.full(a.shape, 0.5))
                             if a.ndim else a),
        "log_likelihood_a": (1, lambda a: nn.log_likelihood_cost(a.sigmoid(), np.full(a.shape, 0.5))
                             if a.ndim else a),
    }


OPS = _ops()


@st.composite
def graphs(draw):
    """(fn, params, example args, new args): a random graph over two parameters, a scalar parameter, the
    linear layer's parameters and two array arguments, with broadcasting shapes."""
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    shape_a = draw(st.sampled_from([(4,), (2, 4), (3, 4)]))
    shape_b = draw(st.sampled_from([(4,), (1, 4), shape_a, (4, 2)]))

    def arr(shape):
        return np.array(draw(st.lists(GRID, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))),
                        dtype=dtype).reshape(shape)
    params = [Value(arr(shape_a), name="p"), Value(arr(shape_b), name="q"), Value(draw(GRID) + 0.25, name="s"),
              W_LIN, B_LIN]
    args = (arr(shape_a), arr(shape_b))
    new_args = (arr(shape_a), arr(shape_b))
    plan = draw(st.lists(st.tuples(st.sampled_from(sorted(OPS)), st.integers(0, 50), st.integers(0, 50)),
                         min_size=1, max_size=8))

    def run(x, y, steps=None):
        pool = [params[0], params[1], params[2], Value(x, requires_grad=False), Value(y, requires_grad=False)]
        pool[3].data, pool[4].data = x, y  # the arrays as passed (Value() copies only what requires a grad)
        done = []
        for i, (op, i1, i2) in enumerate(plan):
            if steps is not None and i not in steps:
                continue
            arity, f = OPS[op]
            operands = [pool[i1 % len(pool)], pool[i2 % len(pool)]][:arity]
            try:
                pool.append(f(*operands))
                done.append(i)
            except ValueError:
                if steps is not None:
                    raise
        total = pool[0].sum() + pool[1].sum() * pool[2] + (pool[3] * pool[2]).sum() + (pool[4] * pool[2]).sum()
        for v in pool[5:]:
            total = total + (v.sum() if v.ndim else v)
        return total, done
    _, valid = run(*args)
    valid = set(valid)
    return (lambda x, y: run(x, y, valid)[0]), params, args, new_args


@given(graphs())
def test_random_graphs_replay_bitwise(case):
    fn, params, args, new_args = case
    program = trace(fn, *args)
    check_same(fn, program, params, new_args)
    check_same(fn, program, params, args)


@given(graphs())
def test_source_reproduces_the_numbers(case):
    fn, params, args, new_args = case
    program = trace(fn, *args)
    for p in params:
        p.grad = None
    value, grads = dynamic(fn, params, *new_args)
    program(*new_args)  # `source` reads the replayed state of generic ops: refresh it on these arguments
    ns = program.namespace(*new_args)
    exec(program.source, ns)
    assert same(value, float(ns["cost"]))
    by_param = {id(p): g for _, p, g in program.parameters}
    for p, g in zip(params, grads):
        assert same(g, ns[by_param[id(p)]] if by_param.get(id(p)) else None)


# ---- the MLP step -------------------------------------------------------------------------------------
@given(st.data(), st.sampled_from(["quadratic", "cross-entropy", "log-likelihood"]))
def test_mlp_costs_replay_bitwise(data, cost):
    out = "softmax" if cost == "log-likelihood" else None
    net = data.draw(networks(output_activation=out))
    x, y = data.draw(mini_batches(net, targets=("onehot", "labels", "soft"), min_size=2))
    x2, y2 = data.draw(mini_batches(net, targets="onehot", min_size=len(x), max_size=len(x)))
    y2 = y2 if y.ndim == 2 else np.argmax(y2, axis=1)
    f = nn.cost_function(cost)

    def step(x, y):
        return f(net(x), y)
    program = trace(step, x, y)
    check_same(step, program, net.parameters(), (x2, y2))


def test_replay_reads_parameters_after_sgd_step():
    net = nn.MLP([5, 4, 3], seed=1)
    rng = np.random.default_rng(0)
    batches = [(rng.random((6, 5)), rng.integers(0, 3, 6)) for _ in range(4)]
    twin = nn.MLP([5, 4, 3], seed=1)

    def step(x, y):
        return nn.quadratic_cost(net(x), y)
    program = trace(step, *batches[0])
    opt, opt2 = SGD(net.parameters(), lr=3.0), SGD(twin.parameters(), lr=3.0)
    for x, y in batches:
        opt.zero_grad()
        v = program(x, y)
        opt.step()
        opt2.zero_grad()
        c = nn.quadratic_cost(twin(x), y)
        c.backward()
        opt2.step()
        assert same(v, c.item())
    for p, q in zip(net.parameters(), twin.parameters()):
        assert same(p.data, q.data)


def test_traced_update_equals_sgd_step():
    net, twin = nn.MLP([5, 4, 3], seed=2), nn.MLP([5, 4, 3], seed=2)
    opt, opt2 = SGD(net.parameters(), lr=0.5), SGD(twin.parameters(), lr=0.5)
    rng = np.random.default_rng(1)
    x, y = rng.random((3, 5)), rng.integers(0, 3, 3)
    program = trace(lambda x, y: nn.cross_entropy_cost(net(x), y), x, y, optimizer=opt)
    assert all(p.grad is None for p in net.parameters())  # tracing changes nothing
    for _ in range(3):
        program(x, y)
        opt2.zero_grad()
        nn.cross_entropy_cost(twin(x), y).backward()
        opt2.step()
    for p, q in zip(net.parameters(), twin.parameters()):
        assert same(p.data, q.data) and same(p.grad, q.grad)
    assert "# eq. 20–21" in program.source


@pytest.mark.parametrize("momentum, weight_decay", [(0.5, 0.0), (0.0, 0.1)])
def test_traced_update_with_momentum_or_decay_calls_the_optimizer(momentum, weight_decay):
    nets = [nn.ScalarMLP([2, 3, 1], seed=5), nn.ScalarMLP([2, 3, 1], seed=5)]
    opts = [SGD(n.parameters(), lr=0.3, momentum=momentum, weight_decay=weight_decay) for n in nets]
    program = trace(lambda: (nets[0]([0.5, -1.0])[0] - 1.0) * (nets[0]([0.5, -1.0])[0] - 1.0), optimizer=opts[0])
    for _ in range(3):
        v = program()
        opts[1].zero_grad()
        c = (nets[1]([0.5, -1.0])[0] - 1.0) * (nets[1]([0.5, -1.0])[0] - 1.0)
        c.backward()
        opts[1].step()
        assert same(v, c.item())
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        assert same(p.data, q.data)


def test_mlp_source_names_bp1_to_bp4_and_exec_reproduces():
    net = nn.MLP([4, 3, 2], seed=0)
    rng = np.random.default_rng(3)
    x, y = rng.random((5, 4)), rng.integers(0, 2, 5)
    for cost in (nn.quadratic_cost, nn.cross_entropy_cost):
        program = trace(lambda x, y: cost(net(x), y), x, y)
        src = program.source
        for tag in ("# BP1", "# BP2", "# BP3", "# BP4"):
            assert tag in src
        assert "z2 = x @ w2.T + b2" in src and "delta3" in src and "nabla_w2" in src
        net.zero_grad()
        c = cost(net(x), y)
        c.backward()
        ns = program.namespace(x, y)
        exec(src, ns)
        assert same(ns["cost"], c.item())
        for name, p in zip(["w2", "b2", "w3", "b3"], net.parameters()):
            assert same(ns[f"nabla_{name}"], p.grad)
        assert str(program) == src


def test_scalar_graph_replays_bitwise():
    net = nn.ScalarMLP([2, 3, 1], activation="relu", output_activation="identity", seed=4)
    X = [[0.5, -1.0], [1.0, 0.25], [0.0, 0.0]]

    def loss(w):  # w: one weight per example, an array argument
        scores = [net(x)[0] for x in X]
        terms = [(1 - s * float(yi)).relu() for s, yi in zip(scores, [1, -1, 1])]
        total = sum(terms) * (1.0 / len(terms))
        return total * Value(w, requires_grad=False).sum()
    params = net.parameters()
    program = trace(loss, np.array([1.0, 2.0]))
    check_same(loss, program, params, (np.array([0.5, 3.0]),))


# ---- what is refused or retraced ------------------------------------------------------------------------
def test_new_shape_traces_again():
    net = nn.MLP([3, 2], seed=0)
    program = trace(lambda x, y: nn.quadratic_cost(net(x), y), np.ones((4, 3)), np.zeros(4, dtype=int))
    check_same(lambda x, y: nn.quadratic_cost(net(x), y), program, net.parameters(),
               (np.full((2, 3), 0.5), np.ones(2, dtype=int)))
    assert "2 signature(s)" in repr(program)


def test_refusals():
    net = nn.MLP([3, 2], seed=0)
    x, y = np.ones((4, 3)), np.zeros(4, dtype=int)
    with pytest.raises(ValueError, match="argument 'x' does not reach the graph"):
        trace(lambda x, y: nn.quadratic_cost(net(x), y), x.astype(np.float32), y)  # converted: would freeze
    with pytest.raises(TypeError, match="argument 0 is a float"):
        trace(lambda s: net.layers[0].weight.sum() * s, 2.0)
    with pytest.raises(ValueError, match="one-element"):
        trace(lambda x: net(x), x)
    w = net.layers[0].weight

    def calls_backward(x):
        c = (w * w).sum()
        c.backward(create_graph=True)
        return w.grad.sum() * Value(x, requires_grad=False).sum()
    with pytest.raises(RuntimeError, match="called backward"):
        trace(calls_backward, x)
    w.grad = None

    def plain_backward(x):
        (w * w).sum().backward()
        return linear(x, w).sum()
    with pytest.raises(RuntimeError, match="called backward"):
        trace(plain_backward, x, optimizer=SGD(net.parameters(), lr=1.0))


def test_captured_value_is_read_afresh():
    """A constant Value captured by fn is read on every call, so changing it is never replayed stale."""
    w = Value(np.array([1.0, 2.0]), name="w")
    scale = Value(np.array([3.0, 3.0]), requires_grad=False)
    fn = (lambda x: (w * x * scale).sum())
    program = trace(fn, np.array([1.0, 1.0]))
    scale.data[...] = [5.0, 7.0]
    check_same(fn, program, [w], (np.array([2.0, 1.0]),))
    w.grad = None
    assert same(program(Value(np.array([2.0, 1.0]), requires_grad=False)), fn(np.array([2.0, 1.0])).item())
    assert "1 signature(s)" in repr(program)  # a Value argument replays on its data
    with pytest.raises(TypeError, match="argument 0 is a list"):
        program([2.0, 1.0])


def test_program_is_exported():
    assert isinstance(trace(lambda x: (W_LIN * 2.0).sum() + Value(x, requires_grad=False).sum(),
                            np.ones(2)), Program)


# ---- train --trace --------------------------------------------------------------------------------------
@pytest.mark.parametrize("cost, dtype, momentum", [("quadratic", np.float64, 0.0), ("cross-entropy", np.float32, 0.5),
                                                   ("log-likelihood", np.float64, 0.0)])
def test_train_trace_is_identical(digits, cost, dtype, momentum):
    """Histories (but the seconds) and final weights of `train(trace=True)` equal the untraced run's, bitwise;
    batch size 7 leaves a smaller last mini-batch, which traces a second program."""
    from tinygrad_nn.train import train
    out = "softmax" if cost == "log-likelihood" else None
    runs = []
    for traced in (False, True):
        net = nn.MLP([64, 12, 10], seed=3, dtype=dtype, output_activation=out)
        history = train(net, digits, epochs=2, batch_size=7, lr=0.5, cost=cost, momentum=momentum, seed=1,
                        trace=traced)
        runs.append(([{**vars(r), "seconds": None} for r in history], net.parameters()))
    assert runs[0][0] == runs[1][0]
    for p, q in zip(runs[0][1], runs[1][1]):
        assert same(p.data, q.data)


def test_cli_train_trace_writes_the_same_model(tmp_path, capsys):
    from tinygrad_nn.cli import main
    from tinygrad_nn.train import load_model
    states = []
    for name, extra in (("a.npz", []), ("b.npz", ["--trace"])):
        assert main(["train", "--epochs", "1", "--quiet", "--seed", "5", "--save", str(tmp_path / name), *extra]) == 0
        states.append(load_model(tmp_path / name).state_dict())
    assert all(same(states[0][k], states[1][k]) for k in states[0])


# ---- viz -----------------------------------------------------------------------------------------------------
def test_draw_graph_and_player_take_a_program():
    import viz
    net = nn.MLP([2, 3, 1], seed=0)
    x, y = np.array([[0.5, -1.0], [1.0, 0.25]]), np.array([[1.0], [0.0]])
    program = trace(lambda x, y: nn.quadratic_cost(net(x), y), x, y)
    dot = viz.draw_graph(program).source
    for line in ("z2 = x @ w2.T + b2", "nabla_w2 = delta2.T @ x", "BP1", "BP4"):
        assert line.replace(">", "&gt;") in dot
    assert dot.count("shape=box") == sum(1 for _, code, _ in program.lines if not code.endswith("= None"))
    page = viz.animate_backward(program)
    assert page.steps == 5  # the cost, σ, linear, σ, linear: the program's backward rules, one step each
    assert all(p.grad is None for p in net.parameters())


def test_readme_shows_the_real_program():
    """The README's printed program is what `print(program)` prints for its example."""
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    small = nn.MLP([2, 3, 1], seed=0)
    program = trace(lambda x, y: nn.quadratic_cost(small(x), y), np.array([[0.5, -1.0], [1.0, 0.25]]),
                    np.array([[1.0], [0.0]]), optimizer=SGD(small.parameters(), lr=3.0))
    assert "```text\n" + str(program) + "```" in readme


def test_tutorial_cells_run():
    """The tutorial's TRACE cells (examples/make_tutorial.py): every code cell runs, and the program's text
    reproduces backward() bitwise."""
    import contextlib
    import importlib.util
    import io
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "examples" / "make_tutorial.py"
    spec = importlib.util.spec_from_file_location("make_tutorial", path)
    tutorial = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tutorial)
    cells = [("code" if cell.cell_type == "code" else "md", cell.source) for cell in tutorial.TRACE]
    ns: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec("import numpy as np\nfrom tinygrad_nn import nn, optim, trace", ns)
        for kind, text in cells:
            if kind == "code":
                exec(text, ns)
    out = printed.getvalue()
    assert "cost: True" in out and out.count("bitwise equal to") == 4 and "bitwise equal to w2.grad: False" not in out
    assert "closed form BP1–BP4 agrees: True" in out and "# BP2" in out


def test_gradients_never_share_the_replay_s_reused_arrays():
    """A parameter's .grad from one call is not changed by the next (the replay reuses arrays it owns)."""
    w = Value(np.array([[0.5, -1.0], [1.0, 0.25]]), name="w")
    fn = (lambda x: (w.reshape(4).sigmoid() * x).sum())  # reshape's rule passes on a view of its gradient
    program = trace(fn, np.ones(4))
    program(np.ones(4))
    first = w.grad.copy()
    kept = w.grad
    w.grad = None
    program(np.full(4, 2.0))
    assert same(kept, first)


# ---- the replay's own checks and error state --------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_replay_refuses_labels_out_of_range_like_the_cost(dtype):
    """The replay subtracts y at the labels without a one-hot array; a label out of range still raises the
    cost's own error (every call: the labels may be changed in place), and the step changes nothing."""
    net = nn.MLP([4, 3, 3], seed=0)
    opt = SGD(net.parameters(), lr=1.0)
    rng = np.random.default_rng(0)
    x, y = rng.random((5, 4)), np.array([0, 2, 1, 1, 0], dtype=dtype)
    program = trace(lambda x, y: nn.quadratic_cost(net(x), y), x, y, optimizer=opt)
    program(x, y)
    before = [(p.data.copy(), p.grad) for p in net.parameters()]
    bad = [3, 200] + ([-1] if np.dtype(dtype).kind == "i" else [])
    for label in bad:
        y[2] = label  # in place: the same array object as the call before
        with pytest.raises(ValueError, match=f"quadratic_cost: label {label} is out of range for 3 output"):
            nn.quadratic_cost(net(x), y)
        with pytest.raises(ValueError, match=f"quadratic_cost: label {label} is out of range for 3 output"):
            program(x, y)
        assert all(same(p.data, d) and p.grad is g for p, (d, g) in zip(net.parameters(), before))
    y[2] = 2
    twin = nn.MLP([4, 3, 3], seed=0)
    for q, (d, _) in zip(twin.parameters(), before):
        q.data[...] = d
    program(x, y)
    nn.quadratic_cost(twin(x), y).backward()
    assert all(same(p.grad, q.grad) for p, q in zip(net.parameters(), twin.parameters()))


def test_one_output_integer_targets_are_values_not_labels():
    """With one output neuron, integer y are target values (0 means 0.0), as the cost reads them, even when
    every y in the batch is 0 (which a label path would take for class 0)."""
    net = nn.MLP([2, 3, 1], seed=0)
    rng = np.random.default_rng(4)
    x = rng.random((4, 2))
    program = trace(lambda x, y: nn.quadratic_cost(net(x), y), x, np.array([0, 1, 0, 1]))
    for y in (np.zeros(4, dtype=np.int64), np.array([1, 1, 0, 1])):
        check_same(lambda x, y: nn.quadratic_cost(net(x), y), program, net.parameters(), (x, y))


def test_replay_keeps_the_caller_s_error_state():
    """σ's e^(−z) overflows harmlessly for z ≪ 0 (σ → 0): silenced there, as the engine does, even under
    over='raise'; the caller's settings are the same after the call, and after a call that raised."""
    net = nn.MLP([2, 2, 2], seed=0)
    net.layers[0].weight.data[...] = 1e3  # z ≈ −1000 for x < 0: e^(1000) overflows
    x, y = np.full((3, 2), -1.0), np.array([0, 1, 0])
    program = trace(lambda x, y: nn.quadratic_cost(net(x), y), x, y)
    with np.errstate(all="raise"):
        state = np.geterr()
        check_same(lambda x, y: nn.quadratic_cost(net(x), y), program, net.parameters(), (x, y))
        assert np.geterr() == state
        with pytest.raises(ValueError, match="out of range"):
            program(x, np.array([0, 5, 0]))
        assert np.geterr() == state
        with pytest.raises(FloatingPointError):
            np.exp(np.array([1e3]))  # over='raise' still holds here


@pytest.mark.parametrize("m", [5, 40])  # the replay checks a small batch's labels as a list, a large one in numpy
def test_replay_refuses_negative_int8_labels_for_many_outputs(m):
    """int8 labels for 200 outputs: −1 seen as unsigned is 255, which is in range, so both ends are checked."""
    net = nn.MLP([3, 2, 200], seed=0)
    rng = np.random.default_rng(5)
    x, y = rng.random((m, 3)), rng.integers(0, 127, m).astype(np.int8)
    program = trace(lambda x, y: nn.quadratic_cost(net(x), y), x, y)
    check_same(lambda x, y: nn.quadratic_cost(net(x), y), program, net.parameters(), (x, y))
    for label in (-1, -128):
        y[m // 2] = label
        with pytest.raises(ValueError, match=f"label {label} is out of range for 200 output"):
            program(x, y)


def test_nodes_named_like_the_replay_s_own_names():
    """Values named like the replay's helpers (`_t`, `eta`, `_np_exp`) get other names in the program."""
    w = Value(np.array([0.5, -1.0, 2.0]), name="w")

    def fn(x):
        t = (w * x).sigmoid()
        t.name = "_t"
        e = (t * t)
        e.name = "eta"
        s = e.sum()
        s.name = "_np_exp"
        return s
    program = trace(fn, np.ones(3))
    check_same(fn, program, [w], (np.array([1.0, -2.0, 0.5]),))


# ---- keep_grad=False: the update consumes the gradients, the weights are the same ----------------------
def _sgd_step(fn, opt, *args):
    """The dynamic training step: zero_grad, forward, backward, SGD.step()."""
    opt.zero_grad()
    c = fn(*args)
    c.backward()
    opt.step()
    return c.item()


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.5, 0.0), (0.0, 0.1)])
def test_keep_grad_false_gives_the_same_weights_and_no_grad(cost, dtype, momentum, weight_decay):
    net, twin = nn.MLP([6, 5, 4, 3], seed=3, dtype=dtype), nn.MLP([6, 5, 4, 3], seed=3, dtype=dtype)
    opt, opt2 = (SGD(n.parameters(), lr=3.0, momentum=momentum, weight_decay=weight_decay) for n in (net, twin))
    f = nn.cost_function(cost)
    rng = np.random.default_rng(4)
    batches = [(rng.random((7, 6)).astype(dtype), rng.integers(0, 3, 7)) for _ in range(4)]
    program = trace(lambda x, y: f(net(x), y), *batches[0], optimizer=opt, keep_grad=False)
    for x, y in batches:
        assert same(program(x, y), _sgd_step(lambda x, y: f(twin(x), y), opt2, x, y))
        assert all(p.grad is None for p in net.parameters())
        assert all(same(p.data, q.data) for p, q in zip(net.parameters(), twin.parameters()))
    if not momentum and not weight_decay:  # the plain update scales ∇w in place: no second array for it
        assert "eta_nabla" not in program._last.replay_text


def test_keep_grad_false_with_a_parameter_used_twice():
    """A weight read by two layers gets its gradient summed (a new array): still the same weights."""
    rng = np.random.default_rng(5)
    w0, b0 = rng.normal(size=(4, 4)), rng.normal(size=4)
    w, b, w2, b2 = Value(w0.copy(), name="w"), Value(b0.copy(), name="b"), Value(w0.copy()), Value(b0.copy())

    def cost(w, b):
        return lambda x, y: nn.quadratic_cost(linear(linear(x, w, b).sigmoid(), w, b).sigmoid(), y)
    opt, opt2 = SGD([w, b], lr=2.0), SGD([w2, b2], lr=2.0)
    x, y = rng.random((5, 4)), rng.integers(0, 4, 5)
    program = trace(cost(w, b), x, y, optimizer=opt, keep_grad=False)
    for _ in range(3):
        assert same(program(x, y), _sgd_step(cost(w2, b2), opt2, x, y))
    assert same(w.data, w2.data) and same(b.data, b2.data) and w.grad is None


def test_keep_grad_false_never_scales_a_shared_gradient_twice():
    """In p + q both gradients are the sum's gradient itself (one array): it is not scaled in place."""
    p, q, p2, q2 = (Value(np.array([0.5, -1.0, 2.0])) for _ in range(4))

    def cost(p, q):
        return lambda x: ((p + q) * x).sum()
    x = np.array([1.0, 2.0, -1.0])
    program = trace(cost(p, q), x, optimizer=SGD([p, q], lr=0.5), keep_grad=False)
    opt2 = SGD([p2, q2], lr=0.5)
    for _ in range(2):
        assert same(program(x), _sgd_step(cost(p2, q2), opt2, x))
    assert same(p.data, p2.data) and same(q.data, q2.data)


def test_keep_grad_false_needs_an_optimizer_and_a_bool():
    with pytest.raises(ValueError, match="keep_grad=False needs optimizer="):
        trace(lambda x: (x * Value(np.ones(2))).sum(), np.ones(2), keep_grad=False)
    w = Value(np.ones(2))
    with pytest.raises(TypeError, match="keep_grad must be True or False, got 'no'"):
        trace(lambda x: (x * w).sum(), np.ones(2), optimizer=SGD([w], lr=0.1), keep_grad="no")


def test_arrays_overwritten_in_place_are_read_by_nothing_else():
    """The replay computes σ(z) in z's array when only σ reads z, and δ = g ⊙ σ′ in g's array when only σ's
    rule reads g. A z read twice, and a σ whose gradient is also another node's, keep their arrays."""
    rng = np.random.default_rng(6)
    w, b, c = Value(rng.normal(size=(3, 4)), name="w"), Value(rng.normal(size=3), name="b"), \
        Value(rng.normal(size=(5, 3)), name="c")

    def z_twice(x):  # z feeds σ and a square
        z = linear(x, w, b)
        return (z.sigmoid() * 2.0).sum() + (z * z).sum()

    def shared_gradient(x):  # σ's output gradient is the add's gradient, which c's is too
        s = linear(x, w, b).sigmoid() + c
        return (s * s).sum() + (c * c).sum()

    def chain(x):  # the MLP pattern: both in place
        return nn.quadratic_cost(linear(linear(x, w, b).sigmoid(), w.T, None).sigmoid(), np.zeros((5, 4)))
    for fn in (z_twice, shared_gradient, chain):
        x = rng.random((5, 4))
        program = trace(fn, x)
        check_same(fn, program, [w, b, c], (rng.random((5, 4)),))
    assert "out=d_" in program._last.replay_text  # chain: δ written into the gradient's own array


# ---- the two tiers: the first calls replayed by the engine's ops, then compiled --------------------------
def test_program_compiles_after_its_first_calls_and_stays_bitwise(monkeypatch):
    monkeypatch.setattr(TRACE, "_COMPILE_AFTER", 3)
    TRACE._CODE.clear()
    net, twin = nn.MLP([5, 4, 3], seed=7), nn.MLP([5, 4, 3], seed=7)
    opt, opt2 = SGD(net.parameters(), lr=1.5), SGD(twin.parameters(), lr=1.5)
    rng = np.random.default_rng(8)
    program = trace(lambda x, y: nn.quadratic_cost(net(x), y), rng.random((4, 5)), rng.integers(0, 3, 4),
                    optimizer=opt)
    tiers = []
    for _ in range(6):
        x, y = rng.random((4, 5)), rng.integers(0, 3, 4)
        tiers.append(program.compiled)
        assert same(program(x, y), _sgd_step(lambda x, y: nn.quadratic_cost(twin(x), y), opt2, x, y))
        assert all(same(p.data, q.data) and same(p.grad, q.grad) for p, q in zip(net.parameters(),
                                                                                   twin.parameters()))
    assert tiers == [False, False, False, False, True, True]  # the 4th call compiles, then replays compiled
    again = nn.MLP([5, 4, 3], seed=9)
    program = trace(lambda x, y: nn.quadratic_cost(again(x), y), x, y)
    assert not program.compiled and program.compile().compiled


def test_first_tier_refuses_what_the_compiled_replay_refuses(monkeypatch):
    monkeypatch.setattr(TRACE, "_COMPILE_AFTER", 10 ** 9)
    net = nn.MLP([4, 3, 3], seed=0)
    x, y = np.ones((2, 4)), np.array([0, 2])
    program = trace(lambda x, y: nn.quadratic_cost(net(x), y), x, y)
    with pytest.raises(TypeError, match=r"expected 2 argument\(s\)"):
        program(x)
    x3, y3 = np.ones((3, 4)), np.array([0, 2, 1])
    assert program(x3, y3) == nn.quadratic_cost(net(x3), y3).item()  # another shape: traced again
    assert len(program._programs) == 2 and not program.compiled
    with pytest.raises(ValueError, match="quadratic_cost: label 3 is out of range for 3 output"):
        program(x, np.array([0, 3]))


def test_a_graph_of_many_stand_ins_is_compiled_at_once(monkeypatch):
    """The first tier replays a float op by its own two lines and any other op through a stand-in (~3 µs a call):
    a graph with more than `_FIRST_TIER_MAX_STAND_INS` of those is compiled when traced."""
    monkeypatch.setattr(TRACE, "_COMPILE_AFTER", 8)
    net, scalar = nn.MLP([2, 3, 1], seed=1), nn.ScalarMLP([2, 3, 1], seed=1)
    x = np.array([[0.5, -1.0]])
    small = trace(lambda x: (net(x) ** 2).sum(), x)
    floats = trace(lambda: (scalar([0.5, -1.0])[0] - 1.0) * (scalar([0.5, -1.0])[0] - 1.0))  # no stand-in
    monkeypatch.setattr(TRACE, "_FIRST_TIER_MAX_STAND_INS", 3)
    big = trace(lambda x: (net(x) ** 2).sum(), x)
    floats_still = trace(lambda: (scalar([0.5, -1.0])[0] - 1.0) * (scalar([0.5, -1.0])[0] - 1.0))
    assert not small.compiled and big.compiled and not floats.compiled and not floats_still.compiled
    assert same(small(x), big(x))


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_while_tracing_and_left_as_it_was(enabled):
    import gc
    w = Value(np.array([0.5, -1.0]), name="w")
    seen = []

    def fn(x):
        seen.append(gc.isenabled())
        return (w * x).sum()
    (gc.enable if enabled else gc.disable)()
    try:
        trace(fn, np.ones(2)).compile()
        assert seen == [False] and gc.isenabled() is enabled
    finally:
        gc.enable()


def test_scalar_relu_of_nan_is_nan_as_in_the_engine():
    w = Value(float("nan"), name="w")
    program = trace(lambda: (w * 1.0).relu())
    w.grad = None
    value, grads = dynamic(lambda: (w * 1.0).relu(), [w])
    w.grad = None
    assert same(program(), value) and math.isnan(value) and same(w.grad, grads[0])


FLOAT_OPS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
             "neg": lambda a, b: -a, "relu": lambda a, b: a.relu(), "tanh": lambda a, b: a.tanh(),
             "sigmoid": lambda a, b: a.sigmoid(), "const": lambda a, b: a * 0.5 + 2.0,
             "exp": lambda a, b: a.tanh().exp(), "pow": lambda a, b: (a * a + 0.5) ** 1.5}  # the last two: stand-ins


@given(st.lists(st.tuples(st.sampled_from(sorted(FLOAT_OPS)), st.integers(0, 30), st.integers(0, 30)),
                min_size=1, max_size=12),
       st.lists(st.sampled_from([-800.0, -1.5, -0.5, 0.0, 0.5, 1.0, 40.0]), min_size=3, max_size=3))
def test_float_graphs_replay_bitwise(plan, start):
    """A scalar network's ops: the first tier's own float lines (and stand-ins for the rest) against the engine,
    from empty gradients and accumulating, on the traced values and on new ones."""
    params = [Value(v, name=f"p{i}") for i, v in enumerate(start)]

    def fn():
        pool = list(params)
        for op, i, j in plan:
            pool.append(FLOAT_OPS[op](pool[i % len(pool)], pool[j % len(pool)]))
        total = pool[0] * 0.0
        for v in pool:
            total = total + v
        return total
    program = trace(fn)
    check_same(fn, program, params, ())
    for p, v in zip(params, reversed(start)):
        p.data = v
    check_same(fn, program, params, ())


def test_many_objects_made_while_tracing_skip_the_young_collection(monkeypatch):
    """Past `_PROMOTE_AFTER` new objects, tracing files them with the old ones: no young collection walks them."""
    import gc
    monkeypatch.setattr(TRACE, "_PROMOTE_AFTER", 200)
    net = nn.ScalarMLP([2, 8, 8, 1], seed=0)
    gc.collect()
    young = gc.get_stats()[0]["collections"]
    program = trace(lambda: (net([0.5, -1.0])[0] - 1.0) * (net([0.5, -1.0])[0] - 1.0))
    made = [[i] for i in range(20)]  # a few new objects: no young collection is due
    assert gc.isenabled() and gc.get_stats()[0]["collections"] == young and len(made) == 20
    assert program.compile().compiled
