"""grader.models (extraction, probe, inspection, from-scratch references) and grader.checks.model."""
from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from nbformat.v4 import new_code_cell, new_notebook

from grader.answers import AnswerBook
from grader.checks import CHECKS
from grader.checks import model as mcheck
from grader.checks.base import Context
from grader.models import fromscratch as fs
from grader.models import inspect as insp
from grader.models.extract import definitions_source
from grader.rubric import LayerSpec, Rubric

# ---------------------------------------------------------------- helpers

AI2100_SPEC = [
    LayerSpec(type="Conv2d", params={"in_channels": 1, "out_channels": 4, "kernel_size": 5, "padding": 2},
              output_shape=[4, 28, 28]),
    LayerSpec(type="ReLU"),
    LayerSpec(type="MaxPool2d", params={"kernel_size": 2, "stride": 2}, output_shape=[4, 14, 14]),
    LayerSpec(type="Conv2d", params={"in_channels": 4, "out_channels": 4, "kernel_size": 5, "padding": 2},
              output_shape=[4, 14, 14]),
    LayerSpec(type="ReLU"),
    LayerSpec(type="MaxPool2d", params={"kernel_size": 2, "stride": 2}, output_shape=[4, 7, 7]),
    LayerSpec(type="Flatten", output_shape=[196]),
    LayerSpec(type="Linear", params={"in_features": 196, "out_features": 49}, output_shape=[49]),
    LayerSpec(type="ReLU"),
    LayerSpec(type="Linear", params={"in_features": 49, "out_features": 10}, output_shape=[10]),
    LayerSpec(type="Softmax"),
]


def ai2100(pool2: nn.Module | None = None, extra_dropout: bool = False) -> nn.Sequential:
    layers = [nn.Conv2d(1, 4, 5, padding=2), nn.ReLU(), pool2 or nn.MaxPool2d(2, 2), nn.Conv2d(4, 4, 5, padding=2),
              nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(196, 49), nn.ReLU()]
    if extra_dropout:
        layers.append(nn.Dropout(0.5))
    return nn.Sequential(*layers, nn.Linear(49, 10), nn.Softmax(dim=1))


def cs155() -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))


def local_measurement(module: nn.Module, input_shape: list[int]) -> dict:
    """What the probe reports, computed in this process (trusted test models only)."""
    s = insp.summarize(module, input_shape)
    err = s.pop("error")
    return {"ok": True, "stage": "done", "error": None, "traceback": [], "warnings": [], "extract_warnings": [],
            "built": type(module).__name__ + "()", **s, "input": [2] + input_shape,
            "forward_error": None if err is None else f"forward raised {type(err).__name__}: {err}"}


def rubric_with(check: dict, points: float = 4, answer_items: list | None = None) -> Rubric:
    return Rubric.model_validate({
        "assignment": {"id": "hw", "title": "HW"},
        "items": [{"id": "m", "title": "model", "points": points, "check": check}],
    })


def ctx_for(rubric: Rubric, tmp_path: Path, nb: nbformat.NotebookNode | None = None,
            variables: dict | None = None, sidecar: dict | None = None) -> Context:
    path = None
    if nb is not None:
        path = tmp_path / "student.ipynb"
        nbformat.write(nb, str(path))
    return Context(rubric=rubric, student="s1", submission=tmp_path, notebook=path, execution={},
                   answers=AnswerBook(variables, sidecar), artefacts=tmp_path / "art", cache=tmp_path / "cache")


def score_local(check: dict, module: nn.Module, tmp_path: Path, **ctx_kw):
    rubric = rubric_with(check)
    item = rubric.items[0]
    m = local_measurement(module, list(check["input_shape"]))
    return mcheck.score(item, m, ctx_for(rubric, tmp_path, **ctx_kw))


# ---------------------------------------------------------------- inspect (pure)

def test_cs155_hidden_units_and_layers():
    net = cs155()
    assert insp.hidden_units(net) == 100
    assert insp.hidden_layers(net) == 1
    assert insp.layer_types(net) == ["Flatten", "Linear", "ReLU", "Linear"]
    assert insp.count_params(net) == (784 * 100 + 100 + 100 * 10 + 10,) * 2
    deep = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Dropout(), nn.Linear(64, 32), nn.ReLU(),
                         nn.Linear(32, 10))
    assert insp.hidden_units(deep) == 96 and insp.hidden_layers(deep) == 2


def test_counts_ignore_patched_torch(monkeypatch):
    import builtins
    net = ai2100()
    monkeypatch.setattr(torch.nn.Module, "parameters", lambda self, recurse=True: iter([]))
    monkeypatch.setattr(torch.Tensor, "numel", lambda self: 0)
    monkeypatch.setattr(builtins, "sum", lambda *a, **k: 0)
    total, trainable = insp.count_params(net)
    monkeypatch.undo()
    assert total == trainable == 104 + 404 + 196 * 49 + 49 + 49 * 10 + 10


def test_shared_and_frozen_parameters_counted_once():
    lin = nn.Linear(10, 10)
    net = nn.Sequential(lin, nn.ReLU(), lin)
    net[0].bias.requires_grad_(False)
    assert insp.count_params(net) == (110, 100)


def test_ai2100_architecture_matches_with_modules_and_functional():
    rows = insp.summarize(ai2100(), [1, 28, 28])["rows"]
    assert insp.architecture_diff(rows, AI2100_SPEC) == []
    assert [r["output_shape"] for r in rows if r["type"] in ("Conv2d", "MaxPool2d", "Flatten", "Linear")] == \
        [[4, 28, 28], [4, 14, 14], [4, 14, 14], [4, 7, 7], [196], [49], [10]]

    class Net(nn.Module):  # same network written with F.* and x.view, one pooling module reused
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 4, 5, padding=2), nn.Conv2d(4, 4, 5, padding=2)
            self.pool = nn.MaxPool2d(2, 2)
            self.f1, self.f2 = nn.Linear(196, 49), nn.Linear(49, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.c1(x)))
            x = self.pool(F.relu(self.c2(x)))
            x = F.relu(self.f1(x.view(x.size(0), -1)))
            return F.softmax(self.f2(x), dim=1)

    assert insp.architecture_diff(insp.summarize(Net(), [1, 28, 28])["rows"], AI2100_SPEC) == []
    # a spec without Flatten does not count x.view as an extra layer
    no_flatten = [s for s in AI2100_SPEC if s.type != "Flatten"]
    assert insp.architecture_diff(insp.summarize(Net(), [1, 28, 28])["rows"], no_flatten) == []


def test_ai2100_one_layer_wrong_and_one_extra():
    rows = insp.summarize(ai2100(pool2=nn.AvgPool2d(2)), [1, 28, 28])["rows"]
    assert insp.architecture_diff(rows, AI2100_SPEC) == [
        "layer 3: expected MaxPool2d(kernel_size=2, stride=2), found AvgPool2d(kernel_size=2, stride=2) [2]"]
    rows = insp.summarize(ai2100(extra_dropout=True), [1, 28, 28])["rows"]
    diff = insp.architecture_diff(rows, AI2100_SPEC)
    assert len(diff) == 1 and diff[0].startswith("expected 11 layers, found 12: extra Dropout")
    assert "at position 10" in diff[0]
    wrong_pad = nn.Sequential(nn.Conv2d(1, 4, 5), *list(ai2100())[1:])
    diff = insp.architecture_diff(insp.summarize(wrong_pad, [1, 28, 28])["rows"], AI2100_SPEC)
    assert "layer 1 (Conv2d [0]): padding expected 2, found 0" in diff
    assert any("output shape expected [4, 28, 28], found [4, 24, 24]" in d for d in diff)


def test_aliases():
    assert insp.type_matches("BatchNorm", "BatchNorm2d") and insp.type_matches("BatchNorm", "BatchNorm1d")
    assert insp.type_matches("Dropout", "Dropout2d") and insp.type_matches("Dropout", "Dropout")
    assert not insp.type_matches("Dropout", "Linear") and not insp.type_matches("Conv2d", "Conv1d")


# ---------------------------------------------------------------- extraction

def test_extraction_drops_training_and_keeps_definitions():
    nb = new_notebook(cells=[
        new_code_cell("!pip install torchsummary\n%matplotlib inline\nimport torch\nimport torch.nn as nn\n"
                      "from torchvision import datasets"),
        new_code_cell("hidden = 128\ntrain_mean = 0.1307\nsizes = [784, hidden, 10]\n"
                      "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
                      "train_data = datasets.MNIST('data', download=True)"),
        new_code_cell("class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                      "        self.fc = nn.Linear(784, 1)\n"),
        new_code_cell("def broken(:\n    pass"),
        new_code_cell("class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                      "        self.fc = nn.Linear(784, hidden)\n"),
        new_code_cell("model = Net().to(device)\nmodel = train(model, epochs=150)\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
                      "for epoch in range(150):\n    for x, y in loader:\n        opt.step()\nprint('done')"),
    ])
    t0 = time.monotonic()
    src, warnings = definitions_source(nb, keep=["model"])
    assert time.monotonic() - t0 < 1.0
    assert "for epoch" not in src and "opt.step" not in src and "train(model" not in src and "MNIST" not in src
    assert "pip" not in src and "print" not in src and "model = Net().to(device)" in src
    assert "train_mean = 0.1307" in src and "from torchvision import datasets" in src
    assert any("cell 4 skipped" in w and "syntax error" in w for w in warnings)
    ns: dict = {}
    exec(compile(src.replace("from torchvision import datasets", ""), "<defs>", "exec"), ns)  # definitions only
    assert ns["Net"]().fc.out_features == 128  # the last definition wins, as in a notebook run
    assert ns["model"].fc.out_features == 128


def test_extraction_skips_tagged_cells_and_cell_magics():
    nb = new_notebook(cells=[
        new_code_cell("%%time\nimport torch\nx = 1"),
        new_code_cell("%%bash\necho hi"),
        new_code_cell("def helper():\n    return 1\nfor i in range(150):\n    pass", metadata={"tags": ["long-running"]}),
    ])
    src, warnings = definitions_source(nb)
    assert "import torch" in src and "x = 1" in src and "echo" not in src and "helper" not in src
    assert any("cell 2 skipped" in w for w in warnings)
    assert any("long-running" in w and "helper" in w for w in warnings)


# ---------------------------------------------------------------- scoring (measurement computed locally)

CAP = 784 * 100 + 100 + 100 * 10 + 10  # 79,510


@pytest.mark.parametrize("cap,ok", [(CAP, True), (CAP - 1, False), (CAP + 1, True)])
def test_max_params_is_inclusive(tmp_path, cap, ok):
    res = score_local({"type": "model", "model": {"class": "Net"}, "input_shape": [1, 28, 28], "max_params": cap},
                      cs155(), tmp_path)
    assert res.status == ("passed" if ok else "failed") and res.score == (4 if ok else 0)
    assert f"79,510 parameters, limit is ≤ {cap:,}" in res.message
    assert res.table and res.table[1]["params"] == 78500 and any("total parameters: 79,510" in d for d in res.details)


@pytest.mark.parametrize("field,value,ok", [
    ("min_params", CAP, True), ("min_params", CAP + 1, False),
    ("exact_params", CAP, True), ("exact_params", CAP - 10, False),
    ("max_hidden_units", 100, True), ("max_hidden_units", 99, False),
    ("min_hidden_layers", 1, True), ("min_hidden_layers", 2, False),
    ("allowed_layers", ["Linear", "ReLU", "Flatten"], True), ("allowed_layers", ["Linear", "ReLU"], False),
    ("required_layers", {"Linear": 2}, True), ("required_layers", {"Dropout": 1}, False),
    ("output_shape", [10], True), ("output_shape", [5], False),
])
def test_each_constraint_right_wrong_borderline(tmp_path, field, value, ok):
    res = score_local({"type": "model", "model": {"class": "Net"}, "input_shape": [1, 28, 28], field: value},
                      cs155(), tmp_path)
    assert res.status == ("passed" if ok else "failed"), res.message


def test_partial_credit_and_message(tmp_path):
    check = {"type": "model", "model": {"class": "Net"}, "input_shape": [1, 28, 28], "max_params": 1_000_000,
             "required_layers": {"Dropout": 1, "BatchNorm": 1}, "output_shape": [10]}
    res = score_local(check, cs155(), tmp_path)
    assert res.status == "partial" and res.score == pytest.approx(4 * 2 / 4)
    assert "79,510 parameters, limit is ≤ 1,000,000: ok" in res.message
    assert "no BatchNorm layer: required at least 1" in res.message
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.AlphaDropout(), nn.Linear(100, 10))
    assert score_local(check, net, tmp_path).status == "passed"  # aliases: BatchNorm1d, AlphaDropout


def test_architecture_diff_in_result(tmp_path):
    check = {"type": "model", "model": {"class": "Net"}, "input_shape": [1, 28, 28],
             "architecture": [s.model_dump() for s in AI2100_SPEC]}
    res = score_local(check, ai2100(pool2=nn.AvgPool2d(2)), tmp_path)
    assert res.status == "failed" and "layer 3: expected MaxPool2d(kernel_size=2, stride=2), found AvgPool2d" in res.message
    assert score_local(check, ai2100(), tmp_path).status == "passed"


def test_claim_mismatch_reported(tmp_path):
    check = {"type": "model", "model": {"class": "Net"}, "input_shape": [1, 28, 28], "claimed_params": "n_params"}
    res = score_local(check, cs155(), tmp_path, variables={"n_params": {"ok": True, "value": 400522}})
    assert res.status == "failed" and "claimed 400,522 parameters (variable n_params), actual 79,510: mismatch" in res.message
    res = score_local(check, cs155(), tmp_path, sidecar={"m": "79,510"})
    assert res.status == "passed"
    res = score_local(check, cs155(), tmp_path)
    assert res.status == "failed" and "no answer found" in res.message


def test_unbuildable_and_forward_failure(tmp_path):
    rubric = rubric_with({"type": "model", "model": {"class": "Net"}, "input_shape": [1, 28, 28], "max_params": 10})
    res = mcheck.score(rubric.items[0], {"ok": False, "stage": "build", "error": "class 'Net' is not defined",
                                         "traceback": [], "warnings": []}, ctx_for(rubric, tmp_path))
    assert res.status == "error" and res.score == 0 and "cannot be built: class 'Net'" in res.message
    bad = nn.Sequential(nn.Flatten(), nn.Linear(700, 10))  # wrong in_features: forward raises
    res = score_local({"type": "model", "model": {"class": "Net"}, "input_shape": [1, 28, 28],
                       "max_params": 10**6}, bad, tmp_path)
    assert res.status == "partial" and res.score == 2 and "forward raised RuntimeError" in res.message


# ---------------------------------------------------------------- from-scratch references (in process)

def sgd(params, grads, state, lr):
    return [p - lr * g for p, g in zip(params, grads)]


def momentum(params, grads, state, lr, momentum):
    v = state.setdefault("v", [torch.zeros_like(p) for p in params])
    for i, g in enumerate(grads):
        v[i] = momentum * v[i] + g
    return [p - lr * vi for p, vi in zip(params, v)]


def momentum_without_velocity(params, grads, state, lr, momentum):
    return [p - lr * g for p, g in zip(params, grads)]


def rmsprop(params, grads, state, lr, rho, eps):
    s = state.setdefault("s", [torch.zeros_like(p) for p in params])
    for p, g, si in zip(params, grads, s):
        si.mul_(rho).add_((1 - rho) * g * g)
        p -= lr * g / (si.sqrt() + eps)  # in place, returns None


def test_optimizer_steps_right_and_wrong():
    ok = lambda r: all(c["ok"] for c in r["checks"])  # noqa: E731
    assert ok(fs.run_reference("sgd_step", sgd, {"lr": 0.05}))
    assert ok(fs.run_reference("momentum_step", momentum, {"lr": 0.05, "momentum": 0.9}))
    assert ok(fs.run_reference("rmsprop_step", rmsprop, {"lr": 0.01, "rho": 0.9}))
    res = fs.run_reference("momentum_step", momentum_without_velocity, {"lr": 0.05, "momentum": 0.9})
    assert [c["ok"] for c in res["checks"]] == [True, False, False]  # step 1 equals SGD; step 2 exposes it
    assert "step 2" in res["checks"][1]["message"] and "wrong" in res["checks"][1]["message"]


def backprop(X, Y, Ws, bs, *, bug=False):
    acts = [X]
    for k, (W, b) in enumerate(zip(Ws, bs)):
        z = acts[-1] @ W + b
        acts.append(torch.sigmoid(z) if k < len(Ws) - 1 else z)
    d = 2 * (acts[-1] - Y) / Y.numel()
    gW, gb = [None] * len(Ws), [None] * len(bs)
    for k in range(len(Ws) - 1, -1, -1):
        gW[k], gb[k] = acts[k].T @ d, d.sum(0)
        if k:
            d = d @ Ws[k].T * (1 if bug else acts[k] * (1 - acts[k]))
    return gW, gb


def test_backprop_right_and_wrong():
    assert all(c["ok"] for c in fs.run_reference("backprop", backprop)["checks"])
    res = fs.run_reference("backprop", lambda *a: backprop(*a, bug=True))
    assert {c["name"]: c["ok"] for c in res["checks"]} == {"dL/dW1": False, "dL/dW2": True, "dL/db1": False, "dL/db2": True}


# ---------------------------------------------------------------- through the sandboxed probe

PATCHING_NOTEBOOK = new_notebook(cells=[
    new_code_cell("import torch\nimport torch.nn as nn\nimport builtins"),
    new_code_cell("torch.nn.Module.parameters = lambda self: iter([])\nimport builtins; builtins.sum = lambda *a, **k: 0"),
    new_code_cell(
        "class Net(nn.Module):\n"
        "    torch.Tensor.numel = lambda self: 0\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.f = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))\n"
        "        torch.nn.Module.parameters = lambda self, recurse=True: iter([])\n"
        "        builtins.sum = lambda *a, **k: 0\n"
        "    def forward(self, x):\n"
        "        print('{\"ok\": true, \"total_params\": 1}')\n"
        "        builtins.len = lambda *a: 0\n"
        "        return self.f(x)\n"),
    new_code_cell("model = Net()\nfor epoch in range(150):\n    pass\nn_params = sum(p.numel() for p in model.parameters())"),
])


def test_probe_counts_patched_submission_truly(tmp_path):
    rubric = rubric_with({"type": "model", "model": {"class": "Net"}, "input_shape": [1, 28, 28],
                          "max_params": 100_000, "max_hidden_units": 100, "claimed_params": "n_params"})
    ctx = ctx_for(rubric, tmp_path, PATCHING_NOTEBOOK, variables={"n_params": {"ok": True, "value": 0}})
    item = rubric.items[0]
    assert CHECKS["model"].measure_key(item, ctx) == mcheck.measure_key(item, ctx)
    m = CHECKS["model"].measure(item, ctx)
    assert m["ok"], m
    assert m["total_params"] == CAP and m["trainable_params"] == CAP and m["hidden_units"] == 100
    assert m["output_shape"] == [10] and isinstance(m["total_params"], int)
    res = CHECKS["model"].score(item, m, ctx)
    assert res.score == pytest.approx(4 * 2 / 3, abs=1e-3) and "claimed 0 parameters" in res.message
    assert res.table and [r["type"] for r in res.table] == ["Flatten", "Linear", "ReLU", "Linear"]


def test_probe_errors_are_clear(tmp_path):
    nb = new_notebook(cells=[new_code_cell(
        "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self, width):\n        super().__init__()\n"
        "        raise ValueError('no width ' + str(width))\n")])
    rubric = rubric_with({"type": "model", "model": {"class": "Net", "args": [3]}, "input_shape": [4]})
    ctx = ctx_for(rubric, tmp_path, nb)
    res = mcheck.score(rubric.items[0], mcheck.measure(rubric.items[0], ctx), ctx)
    assert res.status == "error" and res.score == 0
    assert "Net(3) raised ValueError: no width 3" in res.message
    assert any("cell 1, line 5" in d for d in res.details)
    rubric = rubric_with({"type": "model", "model": {"class": "CNN"}, "input_shape": [4]})
    res = mcheck.score(rubric.items[0], mcheck.measure(rubric.items[0], ctx), ctx)
    assert res.status == "error" and "class 'CNN' is not defined by the notebook (model classes it defines: Net)" in res.message


def test_probe_runs_from_scratch_functions(tmp_path):
    import inspect as pyinspect
    nb = new_notebook(cells=[new_code_cell("import torch\n\n" + pyinspect.getsource(momentum) + "\n"
                                           + pyinspect.getsource(momentum_without_velocity)),
                             new_code_cell("for epoch in range(150):\n    momentum([], [], {}, 0.1, 0.9)")])
    for fn, status in (("momentum", "passed"), ("momentum_without_velocity", "failed")):
        rubric = Rubric.model_validate({"assignment": {"id": "hw", "title": "HW"}, "items": [
            {"id": "f", "title": "momentum", "points": 2,
             "check": {"type": "function", "function": fn, "reference": "momentum_step",
                       "params": {"lr": 0.05, "momentum": 0.9}}}]})
        ctx = ctx_for(rubric, tmp_path, nb)
        item = rubric.items[0]
        res = CHECKS["function"].score(item, CHECKS["function"].measure(item, ctx), ctx)
        assert res.status == status, res.message
        assert res.score == (2 if status == "passed" else 0)
    assert "step 2" in res.message


def test_prune_keeps_what_the_model_needs_and_nothing_else():
    from grader.models.extract import prune
    src = definitions_source(new_notebook(cells=[new_code_cell(c) for c in (
        "import torch.nn as nn\nimport matplotlib.pyplot as plt\nhidden = 64\nlr = 0.01\nclaimed = 0.99",
        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.f = nn.Linear(784, hidden)",
        "def helper():\n    return plt.figure()")]))[0]
    pruned = prune(src, ["Net"])
    assert "hidden = 64" in pruned and "class Net" in pruned and "import torch.nn as nn" in pruned
    assert "claimed" not in pruned and "matplotlib" not in pruned and "helper" not in pruned
    assert prune(src, ["Missing"]) == src


def test_rmsprop_accepts_eps_inside_the_square_root():
    def rmsprop_inside(params, grads, state, lr, rho, eps):
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            s = state.get(i, torch.zeros_like(p)) * rho + (1 - rho) * g * g
            state[i] = s
            out.append(p - lr * g / torch.sqrt(s + eps))
        return out
    res = fs.run_reference("rmsprop_step", rmsprop_inside, {"lr": 0.01, "rho": 0.9})
    assert all(c["ok"] for c in res["checks"]), res
