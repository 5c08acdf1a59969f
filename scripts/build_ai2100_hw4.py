"""Builds assignments/ai2100-hw4/{template,solution}.ipynb and submissions/ai2100-hw4/*.

IIT Hyderabad AI2100/AI5100 HW4 (a CNN trained with from-scratch back-propagation
and three SGD variants on 1,000 MNIST images). The seed is only the handout, so
the seed-student is a reconstruction (see assignments/ai2100-hw4/handout.md).

The solution's training cells are executed for real once here (about 30 s on
2 cores, on the offline MNIST under ./data), so its figures and numbers are
genuine; the students' notebooks carry the figures of that run as what they
handed in, less what their mistakes leave out. Students' notebooks keep the
template's cell ids, as when they start from it.
Run: python scripts/build_ai2100_hw4.py   (from the repository root)
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebooks import cell, code, md, publish  # noqa: E402  (shared notebook helpers)

ROOT = Path(__file__).resolve().parents[1]


INTRO = """# AI2100/AI5100 Deep Learning — Homework 4: CNNs (30 points)
Build on your earlier functions to train a CNN image classifier on MNIST **with your own
back-propagation**. grader runs this notebook top to bottom (cells tagged `long-running`
are not re-run: their outputs are taken as you hand them in), checks your from-scratch
functions against PyTorch's autograd and optimizers, checks the architecture of `CNN`
and retrains `CNN` itself to check your accuracy.
Keep the function names and signatures below."""

IMPORTS = """import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt
from torchvision import datasets
from torchvision.transforms import ToTensor
torch.manual_seed(0)"""

DATA = """# 1,000 training images (100 per class) and 100 test images (10 per class); do not edit
train_dataset = datasets.MNIST('data', train=True, download=True, transform=ToTensor())
test_dataset = datasets.MNIST('data', train=False, download=True, transform=ToTensor())
g = torch.Generator().manual_seed(0)

def per_class(ds, n):
    idx = torch.cat([torch.nonzero(ds.targets == c).flatten()[torch.randperm(int((ds.targets == c).sum()), generator=g)[:n]]
                     for c in range(10)])
    return ds.data[idx].float().div(255).unsqueeze(1), ds.targets[idx]

X_train, y_train = per_class(train_dataset, 100)
X_test, y_test = per_class(test_dataset, 10)
print(X_train.shape, X_test.shape)"""

Q1 = """## 1 The network
Input 28×28 → Conv 4 kernels 5×5, stride 1, output the same size as the input → ReLU → MaxPool 2×2 stride 2
→ Conv 4 kernels 5×5×4, stride 1, same size → ReLU → MaxPool 2×2 stride 2 → Flatten (no parameters)
→ Linear to 49 hidden nodes → ReLU → Linear to 10 → Softmax.

Write the network as a PyTorch module `CNN` (layers in forward order, `CNN()` takes no arguments, the forward pass
returns the softmax probabilities). grader checks its layers and output shapes and retrains it for item 5c; your own
training below must use the same architecture, with your from-scratch code."""

Q3 = """## 2–3 Cross-entropy loss and back-propagation (10)
Implement back-propagation yourself (tensor arithmetic only: no `.backward()`, no `torch.autograd`).
grader calls these functions with `torch.float64` tensors and compares them with autograd:

* `backprop(X, Y, weights, biases) -> (grad_weights, grad_biases)` for the MLP part: `a0 = X`; for each layer
  `z = a @ W + b` (`W` of shape `(n_in, n_out)`, `b` of shape `(n_out,)`), `a = relu(z)` on every layer but the
  last; the last layer's output goes through softmax into the cross-entropy loss, **averaged over the batch**;
  `Y` holds integer class labels. Return the gradients of the loss as two lists in layer order.
* Your convolution and max-pooling backward passes: with the data given below, store
  `conv_weight_grad` (∂L/∂w of the 'same' 3×3 convolution of `x_conv` with `w_conv`, upstream gradient `g_conv`)
  and `pool_grad` (∂L/∂x of 2×2/2 max-pooling of `x_pool`, upstream gradient `g_pool`) as nested lists."""

GIVEN = """# Given data for the conv and pooling backward passes (do not edit)
x_conv = [[1, 0, 2, 3, 1], [0, 2, 1, 0, 1], [3, 1, 0, 2, 2], [1, 2, 2, 0, 1], [0, 1, 3, 1, 0]]
w_conv = [[0.5, -1.0, 0.0], [1.0, 0.5, -0.5], [0.0, 1.0, 0.5]]
g_conv = [[0.1, -0.2, 0.3, 0.0, 0.1], [0.2, 0.0, -0.1, 0.4, -0.3], [0.0, 0.5, 0.1, -0.2, 0.2],
          [-0.1, 0.3, 0.0, 0.1, 0.0], [0.2, -0.4, 0.2, 0.0, 0.3]]
x_pool = [[1, 5, 2, 0], [3, 4, 8, 6], [7, 0, 1, 2], [2, 9, 4, 3]]
g_pool = [[0.5, -1.0], [2.0, 0.25]]"""

Q_OPT = """### 3 (a)–(c) Weight updates (5 + 5 + 5)
Each step function takes the list of parameters, the list of their gradients and a `state` dict (empty at the first
call, the same object on every later call: keep velocities / running averages in it) and returns the list of updated
parameters (or `None` after updating them in place).

* (a) `sgd_step(params, grads, state, lr)` — η = 0.001
* (b) `momentum_step(params, grads, state, lr, momentum)` — η = 0.001, α = 0.9
* (c) `rmsprop_step(params, grads, state, lr, rho, eps)` — η = 0.001, ρ = 0.9

Train on the 1,000 images, shuffling after every epoch, for 15 epochs; experiment with the mini-batch size.
Make sure your update handles the pooling layers."""

Q5 = """## 4–6 Training and evaluation
After each epoch compute the training and test error. (a) Plot both against the epoch (cell tagged `error-plot`, 2).
(b) Show a few slices of the activation maps of both conv layers (cell tagged `activation-maps`, 1).
(c) Store the test accuracy of your best classifier in `test_accuracy` (1; grader retrains `CNN` to check it).
6. t-SNE of the bottleneck features (the 49 hidden units) of the test images after the first and after the last
epoch: two figures (cell tagged `tsne`, 1)."""

TEMPLATE = {
    "1-cnn": "# 1\nclass CNN(nn.Module):\n    pass",
    "3-layers": "# conv / pooling forward and backward\n\nconv_weight_grad = None\npool_grad = None",
    "3-backprop": "def backprop(X, Y, weights, biases):\n    raise NotImplementedError",
    "3-optimizers": ("def sgd_step(params, grads, state, lr):\n    raise NotImplementedError\n\n\n"
                     "def momentum_step(params, grads, state, lr, momentum):\n    raise NotImplementedError\n\n\n"
                     "def rmsprop_step(params, grads, state, lr, rho, eps=1e-8):\n    raise NotImplementedError"),
    "4-train": "# 4-5 training (long-running)\ntest_accuracy = None",
    "5a-plot": "# 5a error plot\n",
    "5b-maps": "# 5b activation maps\n",
    "6-tsne": "# 6 t-SNE\n",
}


def template() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        md(INTRO, cid="intro"),
        code(IMPORTS, tags=["locked"], cid="imports"),
        code(DATA, tags=["locked"], cid="data"),
        md(Q1, cid="q-1"),
        code(TEMPLATE["1-cnn"], cid="1-cnn"),
        md(Q3, cid="q-3"),
        code(GIVEN, tags=["locked"], cid="given-3"),
        code(TEMPLATE["3-layers"], cid="3-layers"),
        code(TEMPLATE["3-backprop"], cid="3-backprop"),
        md(Q_OPT, cid="q-3abc"),
        code(TEMPLATE["3-optimizers"], cid="3-optimizers"),
        md(Q5, cid="q-5"),
        code(TEMPLATE["4-train"], tags=["long-running"], cid="4-train"),
        code(TEMPLATE["5a-plot"], tags=["long-running", "error-plot"], cid="5a-plot"),
        code(TEMPLATE["5b-maps"], tags=["long-running", "activation-maps"], cid="5b-maps"),
        code(TEMPLATE["6-tsne"], tags=["long-running", "tsne"], cid="6-tsne"),
    ]
    return nb


# ---------------------------------------------------------------- the solution

CNN = """# 1
class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 5, stride=1, padding=2)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(4, 4, 5, stride=1, padding=2)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2, 2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(196, 49)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(49, 10)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.relu3(self.fc1(self.flatten(x)))
        return self.softmax(self.fc2(x))"""

LAYERS = """# conv / pooling forward and backward, tensor arithmetic only
def conv_forward(x, w, b):
    \"\"\"'same' convolution (as deep-learning layers compute it: cross-correlation), stride 1.\"\"\"
    k = w.shape[-1]
    N, C, H, W = x.shape
    cols = F.unfold(x, k, padding=k // 2)                       # (N, C*k*k, H*W)
    out = w.reshape(w.shape[0], -1) @ cols + b.reshape(1, -1, 1)
    return out.reshape(N, w.shape[0], H, W), cols


def conv_backward(dout, cols, x_shape, w):
    N, Fo, H, W = dout.shape
    k = w.shape[-1]
    d = dout.reshape(N, Fo, -1)
    dw = (d @ cols.transpose(1, 2)).sum(0).reshape(w.shape)
    db = d.sum((0, 2))
    dx = F.fold(w.reshape(Fo, -1).T @ d, x_shape[-2:], k, padding=k // 2)
    return dx, dw, db


def maxpool_forward(x):
    \"\"\"2x2 max-pooling, stride 2; remembers which entry of each window was the maximum.\"\"\"
    N, C, H, W = x.shape
    win = x.reshape(N, C, H // 2, 2, W // 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(N, C, H // 2, W // 2, 4)
    out, arg = win.max(-1)
    return out, arg


def maxpool_backward(dout, arg, x_shape):
    \"\"\"The upstream gradient goes to the maximum of each window only.\"\"\"
    N, C, H, W = x_shape
    d = torch.zeros(*dout.shape, 4, dtype=dout.dtype).scatter_(-1, arg.unsqueeze(-1), dout.unsqueeze(-1))
    return d.reshape(N, C, H // 2, W // 2, 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(x_shape)


def relu_backward(dout, z):
    return dout * (z > 0)


Xc = torch.tensor(x_conv, dtype=torch.float64)[None, None]
Wc = torch.tensor(w_conv, dtype=torch.float64)[None, None]
_, cols_c = conv_forward(Xc, Wc, torch.zeros(1, dtype=torch.float64))
_, dw_c, _ = conv_backward(torch.tensor(g_conv, dtype=torch.float64)[None, None], cols_c, Xc.shape, Wc)
conv_weight_grad = dw_c[0, 0].tolist()

Xp = torch.tensor(x_pool, dtype=torch.float64)[None, None]
_, arg_p = maxpool_forward(Xp)
pool_grad = maxpool_backward(torch.tensor(g_pool, dtype=torch.float64)[None, None], arg_p, Xp.shape)[0, 0].tolist()
print(conv_weight_grad, pool_grad, sep='\\n')"""

BACKPROP = """def backprop(X, Y, weights, biases):
    \"\"\"Gradients of the mean cross-entropy of an MLP (ReLU hidden layers, softmax output).\"\"\"
    acts, zs = [X], []
    for k, (W, b) in enumerate(zip(weights, biases)):
        z = acts[-1] @ W + b
        zs.append(z)
        acts.append(torch.relu(z) if k < len(weights) - 1 else z)
    p = torch.softmax(acts[-1], dim=1)
    delta = (p - F.one_hot(Y.long(), p.shape[1]).to(p.dtype)) / X.shape[0]
    grad_w, grad_b = [None] * len(weights), [None] * len(weights)
    for k in reversed(range(len(weights))):
        grad_w[k] = acts[k].T @ delta
        grad_b[k] = delta.sum(0)
        if k:
            delta = relu_backward(delta @ weights[k].T, zs[k - 1])
    return grad_w, grad_b"""

OPTIMIZERS = """def sgd_step(params, grads, state, lr):
    return [p - lr * g for p, g in zip(params, grads)]


def momentum_step(params, grads, state, lr, momentum):
    v = state.setdefault("v", [torch.zeros_like(p) for p in params])
    for k, g in enumerate(grads):
        v[k] = momentum * v[k] + g
    return [p - lr * vk for p, vk in zip(params, v)]


def rmsprop_step(params, grads, state, lr, rho, eps=1e-8):
    s = state.setdefault("s", [torch.zeros_like(p) for p in params])
    for k, g in enumerate(grads):
        s[k] = rho * s[k] + (1 - rho) * g * g
    return [p - lr * g / (sk.sqrt() + eps) for p, g, sk in zip(params, grads, s)]"""

TRAIN = """# 4-5 training with the from-scratch pieces (long-running)
def init_params(seed=0):
    gen = torch.Generator().manual_seed(seed)
    def u(*shape, fan_in):
        return (torch.rand(*shape, generator=gen) * 2 - 1) / fan_in ** 0.5
    return [u(4, 1, 5, 5, fan_in=25), u(4, fan_in=25), u(4, 4, 5, 5, fan_in=100), u(4, fan_in=100),
            u(196, 49, fan_in=196), u(49, fan_in=196), u(49, 10, fan_in=49), u(10, fan_in=49)]


def forward(params, x):
    w1, b1, w2, b2, W3, b3, W4, b4 = params
    z1, c1 = conv_forward(x, w1, b1); a1 = torch.relu(z1); p1, i1 = maxpool_forward(a1)
    z2, c2 = conv_forward(p1, w2, b2); a2 = torch.relu(z2); p2, i2 = maxpool_forward(a2)
    flat = p2.reshape(x.shape[0], -1)
    z3 = flat @ W3 + b3
    h = torch.relu(z3)
    return h @ W4 + b4, dict(z1=z1, c1=c1, a1=a1, p1=p1, i1=i1, z2=z2, c2=c2, a2=a2, p2=p2, i2=i2, flat=flat, z3=z3, h=h)


def gradients(params, x, y):
    w1, b1, w2, b2, W3, b3, W4, b4 = params
    out, c = forward(params, x)
    (gW3, gW4), (gb3, gb4) = backprop(c['flat'], y, [W3, W4], [b3, b4])
    delta = (torch.softmax(out, 1) - F.one_hot(y, 10).to(out.dtype)) / x.shape[0]
    dflat = relu_backward(delta @ W4.T, c['z3']) @ W3.T
    dz2 = relu_backward(maxpool_backward(dflat.reshape(c['p2'].shape), c['i2'], c['a2'].shape), c['z2'])
    dp1, gw2, gb2 = conv_backward(dz2, c['c2'], c['p1'].shape, w2)
    dz1 = relu_backward(maxpool_backward(dp1, c['i1'], c['a1'].shape), c['z1'])
    _, gw1, gb1 = conv_backward(dz1, c['c1'], x.shape, w1)
    return [gw1, gb1, gw2, gb2, gW3, gb3, gW4, gb4]


def error(params, X, y):
    return float((forward(params, X)[0].argmax(1) != y).float().mean())


runs = {}
for name, step, hyper in [('SGD', sgd_step, dict(lr=0.001)),
                          ('Momentum', momentum_step, dict(lr=0.001, momentum=0.9)),
                          ('RMSProp', rmsprop_step, dict(lr=0.001, rho=0.9))]:
    params, state, gen = init_params(), {}, torch.Generator().manual_seed(1)
    hist = {'train': [], 'test': [], 'params': []}
    for epoch in range(15):
        perm = torch.randperm(len(y_train), generator=gen)       # shuffle after every epoch
        for i in range(0, len(perm), 10):                        # mini-batches of 10
            idx = perm[i:i + 10]
            params = step(params, gradients(params, X_train[idx], y_train[idx]), state, **hyper)
        hist['train'].append(error(params, X_train, y_train))
        hist['test'].append(error(params, X_test, y_test))
        hist['params'].append([p.clone() for p in params])
    runs[name] = hist
    print(f"{name}: train error {hist['train'][-1]:.3f}, test error {hist['test'][-1]:.3f}")

best = min(runs, key=lambda n: runs[n]['test'][-1])
test_accuracy = 1 - runs[best]['test'][-1]
print(f'best: {best}, test accuracy {100 * test_accuracy:.1f}%')"""

PLOT = """# 5a
fig, axes = plt.subplots(1, 3, figsize=(12, 3), sharey=True)
for ax, (name, hist) in zip(axes, runs.items()):
    ax.plot(range(1, 16), hist['train'], label='train'); ax.plot(range(1, 16), hist['test'], label='test')
    ax.set_title(name); ax.set_xlabel('epoch'); ax.set_ylabel('error'); ax.legend()
plt.show()"""

MAPS = """# 5b: two slices of each conv layer's activation volume for one test image
_, c = forward(runs[best]['params'][-1], X_test[:1])
fig, axes = plt.subplots(1, 4, figsize=(10, 2.5))
for ax, (name, ch) in zip(axes, [('a1', 0), ('a1', 1), ('a2', 0), ('a2', 1)]):
    ax.imshow(c[name][0, ch]); ax.set_title(f'conv{name[1]} ch {ch}'); ax.axis('off')
plt.show()"""

TSNE_CELL = """# 6: t-SNE of the 49 bottleneck features of the test images after the first and the last epoch
from sklearn.manifold import TSNE
for epoch in (0, 14):
    _, c = forward(runs[best]['params'][epoch], X_test)
    emb = TSNE(n_components=2, perplexity=20, random_state=0).fit_transform(c['h'].numpy())
    plt.figure(figsize=(4, 4)); plt.scatter(emb[:, 0], emb[:, 1], c=y_test, cmap='tab10', s=12)
    plt.title(f't-SNE after epoch {epoch + 1}'); plt.show()"""

SOLUTION = {"1-cnn": CNN, "3-layers": LAYERS, "3-backprop": BACKPROP, "3-optimizers": OPTIMIZERS,
            "4-train": TRAIN, "5a-plot": PLOT, "5b-maps": MAPS, "6-tsne": TSNE_CELL}


def solution_source() -> nbformat.NotebookNode:
    nb = template()
    for cid, src in SOLUTION.items():
        cell(nb, cid).source = src
    return nb


def executed_solution() -> nbformat.NotebookNode:
    """The solution, run for real (all cells, long-running ones too) on the offline MNIST in ./data."""
    from nbclient import NotebookClient
    nb = solution_source()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    for c in nb.cells:  # keep the notebook small and stable: no execution timestamps
        c.metadata.pop("execution", None)
    return nb


# ---------------------------------------------------------------- students

def student(base: nbformat.NotebookNode, sources: dict[str, str], outputs: dict[str, list] | None = None):
    nb = copy.deepcopy(base)
    for cid, src in sources.items():
        cell(nb, cid).source = src
    for cid, outs in (outputs or {}).items():
        cell(nb, cid).outputs = outs
    return nb


def stream(text: str):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def seed_student(ref: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Reconstructed (the seed has no student work): conv layers without 'same' padding,
    backprop summing the loss over the batch, RMSProp re-initialising its running average
    on every call, momentum in the (equivalent) v <- αv - ηg form, t-SNE after the last
    epoch only."""
    cnn = (CNN.replace("nn.Conv2d(1, 4, 5, stride=1, padding=2)", "nn.Conv2d(1, 4, 5, stride=1)")
              .replace("nn.Conv2d(4, 4, 5, stride=1, padding=2)", "nn.Conv2d(4, 4, 5, stride=1)")
              .replace("nn.Linear(196, 49)", "nn.Linear(64, 49)"))
    backprop = BACKPROP.replace(" / X.shape[0]", "")
    opts = OPTIMIZERS.replace(
        """    v = state.setdefault("v", [torch.zeros_like(p) for p in params])
    for k, g in enumerate(grads):
        v[k] = momentum * v[k] + g
    return [p - lr * vk for p, vk in zip(params, v)]""",
        """    if "v" not in state:
        state["v"] = [torch.zeros_like(p) for p in params]
    state["v"] = [momentum * v - lr * g for v, g in zip(state["v"], grads)]
    return [p + v for p, v in zip(params, state["v"])]""").replace(
        """    s = state.setdefault("s", [torch.zeros_like(p) for p in params])""",
        """    s = [torch.zeros_like(p) for p in params]""")
    tsne = TSNE_CELL.replace("after the first and the last epoch", "after the last epoch").replace(
        "for epoch in (0, 14):", "for epoch in (14,):")
    tsne_out = [o for o in cell(ref, "6-tsne").outputs if o.get("output_type") == "display_data"][-1:]
    return student(ref, {"1-cnn": cnn, "3-backprop": backprop, "3-optimizers": opts, "6-tsne": tsne},
                   {"6-tsne": tsne_out})


def pool_gradient_student(ref: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Max-pool gradient spread over the whole window, conv weight gradient rotated by 180°,
    SGD that rebinds a local name (the parameters never change), momentum without state,
    no softmax at the end of CNN, no error plot handed in. Backprop and RMSProp are right."""
    layers = LAYERS.replace(
        """    d = torch.zeros(*dout.shape, 4, dtype=dout.dtype).scatter_(-1, arg.unsqueeze(-1), dout.unsqueeze(-1))""",
        """    d = (dout / 4).unsqueeze(-1).expand(*dout.shape, 4)   # each entry of the window shares the gradient""").replace(
        """    dw = (d @ cols.transpose(1, 2)).sum(0).reshape(w.shape)""",
        """    dw = (d @ cols.transpose(1, 2)).sum(0).reshape(w.shape).flip(-1, -2)   # convolution flips the kernel""")
    opts = OPTIMIZERS.replace(
        """def sgd_step(params, grads, state, lr):
    return [p - lr * g for p, g in zip(params, grads)]""",
        """def sgd_step(params, grads, state, lr):
    for p, g in zip(params, grads):
        p = p - lr * g""").replace(
        """    v = state.setdefault("v", [torch.zeros_like(p) for p in params])""",
        """    v = [torch.zeros_like(p) for p in params]""")
    cnn = CNN.replace("        self.softmax = nn.Softmax(dim=1)\n", "").replace(
        "return self.softmax(self.fc2(x))", "return self.fc2(x)")
    return student(ref, {"3-layers": layers, "3-optimizers": opts, "1-cnn": cnn, "5a-plot": "# 5a error plot\n# TODO"},
                   {"5a-plot": []})


def main() -> None:
    ref = executed_solution()
    publish("ai2100-hw4", template(), ref, {
        "seed-student/hw4.ipynb": seed_student(ref),
        "pool-gradient-student.ipynb": pool_gradient_student(ref),
    })

if __name__ == "__main__":
    sys.exit(main())
