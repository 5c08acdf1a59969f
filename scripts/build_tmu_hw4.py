"""Builds assignments/tmu-hw4/{template,solution}.ipynb and submissions/tmu-hw4/*.

Kept so the sample notebooks can be regenerated after a template change;
students' notebooks keep the template's cell ids, as when they start from it.
Run: python scripts/build_tmu_hw4.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebooks import cell, code, md, publish, run_outputs  # noqa: E402



IMPORTS = """import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import Compose, Normalize, Resize, ToTensor
torch.manual_seed(0)"""

DATA = """# Given data for 1a (do not edit)
x = [[3, 1, 9, 2], [0, 0, 3, 3], [0, 3, 1, 1], [8, 2, 8, 7]]
w = [[0.2, 0.3, -0.1], [0.3, -1.1, 1.0], [-1.0, 1.1, 0.3]]
t = [[1, 2], [3, 1]]"""

Q_1A = """## 1 Pen and paper exercises
### a) CNN operations
**i)** A tiny CNN: a 2D convolution with the 3×3 kernel `w` (no bias, stride 1, zero-padding 1), then ReLU,
then 2×2 max-pooling. The L1 loss (mean absolute error) compares the result with the target `t`.
Do the forward pass by hand and write each intermediate result below as nested lists
(`conv_out` 4×4, `relu_out` 4×4, `pool_out` 2×2) and the loss `L1_loss` as a number.
If you worked on paper, you may instead hand in `answers.yaml` keyed by item id."""

TEMPLATE_1A = """# 1a.i — your answers
conv_out = None
relu_out = None
pool_out = None
L1_loss = None"""

Q_FREE = {
    "1a.ii": "**ii)** Derive the analytical gradient of a 2D max-pooling layer. Write your answer in the cell below.",
    "1a.iii": "**iii)** For a 1D convolution y = conv(x, w) with x ∈ R⁵ and w ∈ R², derive ∂y/∂w.",
    "1a.iv": "**iv)** Use ∂y/∂w and an upstream gradient ∂L/∂y to compute ∂L/∂w.",
    "1b.i": "### b) CNN arithmetic\n**i)** Express the receptive field size R_k of a conv or pooling layer in terms of its kernel K, stride S and the previous layers.",
}

Q_1B = """**ii)** Give the receptive field size R_k after each conv / pooling layer (ReLU does not count) for
1. `Conv(32,128,3,1,1) - ReLU - Conv(128,128,4,4,1)` → `rf_arch1`
2. `(Conv(3,3,5,2,2) - ReLU) * 6` → `rf_arch2`
3. `Conv(3,64,3,2,1) - ReLU - MaxPool(4,3,0) - Conv(64,128,3,1,1) - ReLU - MaxPool(2,2,0)` → `rf_arch3`

**iii)** An image with C=3, H=W=512 passes through
`Conv(?,?,3,1,1) - ReLU - MaxPool(2,2) - Conv(64,?,3,1,1) - ReLU - MaxPool(2,2) - Conv(128,256,3,1,1) - ReLU - MaxPool(2,2) - Conv(?,512,3,1,1) - ReLU - MaxPool(2,2)`.
Give the tensor size (C, H, W) after each block as `shape_block1` … `shape_block4`.

**iv)** Trainable parameters of the 1st and 2nd conv layers and of FC(25088, 4096): `params_conv1`, `params_conv2`, `params_fc1`."""

TEMPLATE_1B = """# 1b — your answers
rf_arch1 = None
rf_arch2 = None
rf_arch3 = None
shape_block1 = None
shape_block2 = None
shape_block3 = None
shape_block4 = None
params_conv1 = None
params_conv2 = None
params_fc1 = None"""

Q_2 = """## 2 MNIST classification with a CNN
**a)** Compute the normalisation constants of the MNIST training set (pixels scaled to [0, 1]): `train_mean`, `train_std`.
**b)** Build data loaders that resize the images to 14×14 and normalise them.
**c)** Implement `CNN`: Conv(1,16,3) – ReLU – Conv(16,32,3) – ReLU – MaxPool(2) – Dropout(0.25) – Linear(800,128) – ReLU – Dropout(0.5) – Linear(128,10) – LogSoftmax.
**d)** Train it; plot the loss over iterations and over epochs (tag the plotting cell `loss-plot`).
**e)** Reach a test accuracy of > 99 % and store it in `test_accuracy`. Training cells are tagged `long-running`: grader retrains your model itself."""

LOAD = """train_dataset = datasets.MNIST('data', train=True, download=True, transform=ToTensor())
test_dataset = datasets.MNIST('data', train=False, download=True, transform=ToTensor())"""

MEAN_STD = """# 2a
pixels = train_dataset.data.float() / 255
train_mean = pixels.mean().item()
train_std = pixels.std().item()
print(train_mean, train_std)"""

LOADERS = """# 2b
transform = Compose([Resize((14, 14)), ToTensor(), Normalize((train_mean,), (train_std,))])
train_dataset = datasets.MNIST('data', train=True, download=True, transform=transform)
test_dataset = datasets.MNIST('data', train=False, download=True, transform=transform)
train_loader = DataLoader(train_dataset, batch_size=64, shuffle=True)
test_loader = DataLoader(test_dataset, batch_size=64, shuffle=False)"""

CNN_SOLUTION = """# 2c
class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 0)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, 3, 1, 0)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2, 2, 0)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(800, 128)
        self.relu3 = nn.ReLU()
        self.dropout2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)
        self.log_softmax = nn.LogSoftmax(dim=1)

    def forward(self, x):
        x = self.pool(self.relu2(self.conv2(self.relu1(self.conv1(x)))))
        x = self.dropout1(x)
        x = x.view(-1, 800)
        x = self.dropout2(self.relu3(self.fc1(x)))
        return self.log_softmax(self.fc2(x))"""

TRAIN = """# 2d (long-running: grader retrains the model itself)
model = CNN()
criterion = nn.NLLLoss()
optimizer = optim.Adam(model.parameters(), lr=0.001)
train_losses, train_loss_epochs = [], []
num_epochs = {epochs}
for epoch in range(num_epochs):
    running_loss = 0.0
    for inputs, labels in train_loader:
        loss = criterion(model(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        train_losses.append(loss.item())
    train_loss_epochs.append(running_loss / len(train_loader))
    print(f'Epoch [{{epoch+1}}/{{num_epochs}}], Loss: {{running_loss/len(train_loader)}}')

correct = total = 0
model.eval()
with torch.no_grad():
    for inputs, labels in test_loader:
        correct += (model(inputs).argmax(1) == labels).sum().item()
        total += labels.numel()
test_accuracy = 100 * correct / total
print(f'Accuracy of the network on the {{total}} test images: {{test_accuracy:.1f}}%')"""

PLOT = """import matplotlib.pyplot as plt
plt.plot(train_losses); plt.xlabel('iteration'); plt.ylabel('loss'); plt.show()
plt.plot(train_loss_epochs); plt.xlabel('epoch'); plt.ylabel('loss'); plt.show()"""


def template() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [
        md("# HW4 – Deep Neural Networks\nAnswer in the variables named below; grader reads them after running your notebook.", cid="intro"),
        code(IMPORTS, tags=["locked"], cid="imports"),
        md(Q_1A, cid="q-1a"),
        code(DATA, tags=["locked"], cid="data-1a"),
        code(TEMPLATE_1A, cid="answer-1a.i"),
    ]
    for item, q in Q_FREE.items():
        cells.append(md(q, cid=f"q-{item}"))
        cells.append(md("*Your answer here.*", tags=[f"answer-{item}"], cid=f"answer-{item}"))
    cells += [
        md(Q_1B, cid="q-1b"),
        code(TEMPLATE_1B, cid="answer-1b"),
        md(Q_2, cid="q-2"),
        code(LOAD, tags=["locked"], cid="load"),
        code("# 2a\ntrain_mean = None\ntrain_std = None", cid="2a"),
        code("# 2b\n", cid="2b"),
        code("# 2c\nclass CNN(nn.Module):\n    pass", cid="2c"),
        code("# 2d\n", tags=["long-running"], cid="2d"),
        code("# plots\n", tags=["long-running", "loss-plot"], cid="plots"),
    ]
    nb.cells = cells
    return nb


SOLUTION_1A = """# 1a.i — computed with torch, as a solution would check its hand calculation
X = torch.tensor(x, dtype=torch.float32)[None, None]
W = torch.tensor(w, dtype=torch.float32)[None, None]
conv_out = F.conv2d(X, W, padding=1)[0, 0]
relu_out = F.relu(conv_out)
pool_out = F.max_pool2d(relu_out[None, None], 2)[0, 0]
L1_loss = (pool_out - torch.tensor(t, dtype=torch.float32)).abs().mean().item()
print(conv_out, relu_out, pool_out, L1_loss, sep='\\n')"""

SOLUTION_1B = """# 1b — receptive fields: R_k = R_{k-1} + (K_k - 1) * J_{k-1}, J_k = J_{k-1} * S_k
def receptive(layers):
    r, j, out = 1, 1, []
    for k, s in layers:
        r, j = r + (k - 1) * j, j * s
        out.append(r)
    return out

rf_arch1 = receptive([(3, 1), (4, 4)])
rf_arch2 = receptive([(5, 2)] * 6)
rf_arch3 = receptive([(3, 2), (4, 3), (3, 1), (2, 2)])
shape_block1 = (64, 256, 256)
shape_block2 = (128, 128, 128)
shape_block3 = (256, 64, 64)
shape_block4 = (512, 32, 32)
params_conv1 = (3 * 3 * 3 + 1) * 64
params_conv2 = (3 * 3 * 64 + 1) * 128
params_fc1 = (25088 + 1) * 4096
print(rf_arch1, rf_arch2, rf_arch3, params_conv1, params_conv2, params_fc1)"""

FREE_SOLUTION = {
    "1a.ii": "The gradient flows only to the maximum of each window: ∂maxpool/∂x_i = Σ_k [x_i = max(z_k)] over all windows k containing x_i (overlapping windows add up).",
    "1a.iii": "y_i = x_i w_1 + x_{i+1} w_2 for i = 1..4, so ∂y/∂w = [[x1, x2], [x2, x3], [x3, x4], [x4, x5]].",
    "1a.iv": "∂L/∂w = (∂y/∂w)ᵀ ∂L/∂y = [Σ x_i δ_i, Σ x_{i+1} δ_i]: a correlation of the input with the upstream gradient.",
    "1b.i": "R_k = R_{k-1} + (K_k − 1)·J_{k-1} with the jump J_k = J_{k-1}·S_k, R_0 = 1, J_0 = 1.",
}


def solution() -> nbformat.NotebookNode:
    nb = template()
    cell(nb, "answer-1a.i").source = SOLUTION_1A
    for item, text in FREE_SOLUTION.items():
        cell(nb, f"answer-{item}").source = text
    cell(nb, "answer-1b").source = SOLUTION_1B
    cell(nb, "2a").source = MEAN_STD
    cell(nb, "2b").source = LOADERS
    cell(nb, "2c").source = CNN_SOLUTION
    cell(nb, "2d").source = TRAIN.format(epochs=20)
    run_outputs(cell(nb, "2d"), "Epoch [20/20], Loss: 0.0192\nAccuracy of the network on the 10000 test images: 99.2%\n")
    cell(nb, "plots").source = PLOT
    run_outputs(cell(nb, "plots"), images=2)
    return nb


def seed_student() -> tuple[nbformat.NotebookNode, str]:
    """The seed's student: paper answers in answers.yaml, the MNIST code in the notebook."""
    nb = template()
    cell(nb, "2a").source = MEAN_STD
    cell(nb, "2b").source = LOADERS
    cell(nb, "2c").source = CNN_SOLUTION.replace("x = self.pool(self.relu2(self.conv2(self.relu1(self.conv1(x)))))",
                                                 "x = self.conv1(x)\n        x = self.relu1(x)\n        x = self.conv2(x)\n        x = self.relu2(x)\n        x = self.pool(x)")
    cell(nb, "2d").source = TRAIN.format(epochs=150).replace("{test_accuracy:.1f}", "{test_accuracy}")
    run_outputs(cell(nb, "2d"), "Epoch [150/150], Loss: 0.0041\nAccuracy of the network on the 10000 test images: 98.8%\n")
    cell(nb, "plots").source = PLOT
    run_outputs(cell(nb, "plots"), images=2)
    free = {
        "1a.ii": "The gradient is only backpropagated through the maximum values; for non-maximum values it is zero. For overlapping patches we sum the gradients over all patches whose receptive field contains x_i.",
        "1a.iii": "y1 = x1 w1 + x2 w2, y2 = x2 w1 + x3 w2, y3 = x3 w1 + x4 w2, y4 = x4 w1 + x5 w2, y5 = x4 w1 + x5 w2. dy/dw = [[x1, x2], [x2, x3], [x3, x4], [x4, x5]]",
        "1a.iv": "dL/dw = (dy/dw)^T dL/dy = [x1δ1 + x2δ2 + x3δ3 + x4δ4, x2δ1 + x3δ2 + x4δ3 + x5δ4]: a convolution between the flipped input and the upstream gradient.",
        "1b.i": "n_out = (n_in + 2p - k)/s + 1, j_i = j_{i-1} × s, r_i = r_{i-1} + (k - 1) j_{i-1}",
    }
    for item, text in free.items():
        cell(nb, f"answer-{item}").source = text
    answers = """# Worked on paper; answers as written in the report.
1a.i-conv: [[-2.3, 9.7, -3.4, 4.7], [1.7, 6.6, 4.1, 0.1], [12.4, -6, 10.3, 0.4], [-7.1, 9, -4.4, -4.8]]
1a.i-relu: [[0, 9.7, 0, 4.7], [1.7, 6.6, 4.1, 0.1], [12.4, 0, 10.3, 0.4], [7, 9, 0, 0]]
1a.i-pool: [[9.7, 4.7], [12.4, 10.3]]
1a.i-loss: 21.3
1b.ii-arch1: [3, 6]
1b.ii-arch2: [9, 13, 29, 61, 125, 253]
1b.ii-arch3: [5, 7, 9, 13]
1b.iii-block1: (64, 256, 256)
1b.iii-block2: (128, 128, 128)
1b.iii-block3: (256, 64, 64)
1b.iii-block4: (512, 32, 32)
1b.iv-conv1: 1792
1b.iv-conv2: 73586
1b.iv-fc1: 102764544
"""
    return nb, answers


def crash_midway() -> nbformat.NotebookNode:
    nb = solution()
    c = cell(nb, "answer-1b")
    c.source = c.source.replace("rf_arch2 = receptive([(5, 2)] * 6)", "rf_arch2 = receptive_field([(5, 2)] * 6)  # NameError: typo")
    # the crash stops this cell: what it would have defined after the typo is missing
    return nb


def flipped_kernel_student() -> nbformat.NotebookNode:
    """True convolution where cross-correlation was asked, errors carried forward,
    strides not accumulated, biases not counted, shapes written H×W×C, AvgPool in the CNN."""
    nb = solution()
    cell(nb, "answer-1a.i").source = SOLUTION_1A.replace("W = torch.tensor(w, dtype=torch.float32)[None, None]",
                                                        "W = torch.tensor(w, dtype=torch.float32).flip(0, 1)[None, None]  # convolution flips the kernel")
    cell(nb, "answer-1b").source = """def receptive(layers):
    r, out = 1, []
    for k, s in layers:
        r = r + (k - 1) * s
        out.append(r)
    return out

rf_arch1 = receptive([(3, 1), (4, 4)])
rf_arch2 = receptive([(5, 2)] * 6)
rf_arch3 = receptive([(3, 2), (4, 3), (3, 1), (2, 2)])
shape_block1 = "256x256x64"
shape_block2 = "128 x 128 x 128"
shape_block3 = "64×64×256"
shape_block4 = [32, 32, 512]
params_conv1 = 3 * 3 * 3 * 64
params_conv2 = 3 * 3 * 64 * 128
params_fc1 = 25088 * 4096"""
    cell(nb, "2c").source = CNN_SOLUTION.replace("nn.MaxPool2d(2, 2, 0)", "nn.AvgPool2d(2, 2, 0)")
    return nb


def main() -> None:
    nb, answers = seed_student()
    publish("tmu-hw4", template(), solution(), {
        "seed-student/hw4.ipynb": nb, "seed-student/answers.yaml": answers,
        "crash-midway.ipynb": crash_midway(),
        "flipped-kernel-student.ipynb": flipped_kernel_student(),
    })

if __name__ == "__main__":
    main()
