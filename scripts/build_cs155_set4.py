"""Builds assignments/cs155-set4/{template,solution}.ipynb and submissions/cs155-set4/*.

Caltech CS155 Set 4: deep-learning principles (free text), depth vs width on
MNIST (hidden-unit budgets, retrained by grader), CNN arithmetic (parameters,
output shape, pooling) and a CNN with dropout + batch norm and a dropout sweep.
Kept so the sample notebooks can be regenerated after a template change;
students' notebooks keep the template's cell ids.
Run: .venv/bin/python scripts/build_cs155_set4.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebooks import cell, code, md, publish, run_outputs  # noqa: E402  (shared notebook helpers)

import nbformat  # noqa: E402
from nbformat.v4 import new_notebook  # noqa: E402


SETUP = """# Setup (do not edit)
import torch
import torch.nn as nn
import matplotlib.pyplot as plt
from torchvision import datasets, transforms
torch.manual_seed(0)"""

DATA = """# The data (do not edit)
train_dataset = datasets.MNIST('data', train=True, download=True, transform=transforms.ToTensor())
test_dataset = datasets.MNIST('data', train=False, download=True, transform=transforms.ToTensor())
train_loader = torch.utils.data.DataLoader(train_dataset, batch_size=32, shuffle=True)
test_loader = torch.utils.data.DataLoader(test_dataset, batch_size=32, shuffle=False)
print(train_dataset[0][0].shape, train_dataset[0][1])"""

Q1 = {
    "1A": "**1A [5 pts]** Two TensorFlow-Playground networks with the same ReLU architecture, different initial weights (the second all zero): justify the difference in performance mathematically from backpropagation and the ReLU.",
    "1B": "**1B [5 pts]** The same two networks with sigmoid activations, 4000 iterations: explain the differences in the models learned and in the speed of learning.",
    "1C": "**1C [10 pts]** What happens when a ReLU network is trained with SGD on all 500 negative examples before any of the 500 positive ones? (the 'dying ReLU' problem)",
    "1D": "**1D [7 pts]** Draw or describe a fully-connected ReLU network with the minimum number of hidden units that computes OR(x1, x2) on 0/1 inputs.",
    "1E": "**1E [8 pts]** What is the minimum number of fully-connected layers (ReLU units) that computes XOR(x1, x2)? Explain why fewer layers cannot.",
}

Q2 = """## 2 Depth vs width on MNIST [25 pts, 6 EC]
**2A [2 pts]** Write down the versions of `torch` and `torchvision` you use.
**2B [5 pts]** Examine the data: height and width of the images (`image_height`, `image_width`), what the values in each index represent, and the number of training and test images (`n_train`, `n_test`) of MNIST.
**2C [10 pts]** With **at most 100 hidden units** and only Flatten / Linear / ReLU / Softmax / Dropout layers, build (`build_model_2c()`, an `nn.Sequential`) a network reaching test accuracy **≥ 0.975** (categorical cross entropy; default batch 32, 10 epochs). Report your best test accuracy in `acc_2c`.
**2D [8 pts]** The same with **at most 200 hidden units** and **at least 2 hidden layers**, **≥ 0.98** (`build_model_2d()`, `acc_2d`).
**2E [6 EC pts]** The same with **at most 1000 hidden units** and **at least 3 hidden layers**, **≥ 0.983** (`build_model_2e()`, `acc_2e`).
Hidden units are the outputs of every Linear layer but the last; activations and dropout do not count. Training cells are tagged `long-running`: grader retrains your models itself."""

SAMPLE_2 = """def build_model_2c():
    # sample network with 20 hidden units: replace it with yours
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 20), nn.ReLU(), nn.Linear(20, 10))


def build_model_2d():
    return None


def build_model_2e():
    return None"""

TRAIN_HELPER = """def train_and_test(model, epochs=10, lr=1e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            correct = sum((model(x).argmax(1) == y).sum().item() for x, y in test_loader)
        print(f'Epoch {epoch + 1}/{epochs}: val acc: {correct / len(test_dataset):.4f}')
    return correct / len(test_dataset)"""

Q3 = """## 3 Convolutional neural networks [40 pts]
**3A [5 pts]** One benefit and one drawback of zero-padding.
**3B [2 pts]** A conv layer on a 32×32×3 image: 8 filters of size 5×5×3, stride 1, no padding. Number of parameters including one bias per filter → `conv_params`.
**3C [3 pts]** The shape of its output tensor → `conv_output_shape`.
**3D [3 pts]** 2×2 average pooling with stride 2 of the four matrices `M` below → `avg_pooled` (a list of four 2×2 matrices).
**3E [3 pts]** 2×2 max pooling with stride 2 of the same matrices → `max_pooled`.
**3F [4 pts]** Why might pooling help to classify animal images with varying positions/angles and a little noise?"""

MATRICES = """# The four matrices of 3D/3E (do not edit)
M = [[[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]],
     [[0, 1, 1, 1], [0, 1, 1, 1], [0, 1, 1, 1], [0, 0, 0, 0]],
     [[0, 0, 0, 0], [0, 1, 1, 1], [0, 1, 1, 1], [0, 1, 1, 1]],
     [[0, 0, 0, 0], [1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0]]]"""

ANSWERS_3 = """# 3B-3E: your answers
conv_params = None
conv_output_shape = None
avg_pooled = None
max_pooled = None"""

Q3G = """**3G [20 pts]** With only Linear, Conv2d, MaxPool2d, BatchNorm2d, Dropout, ReLU, Softmax and Flatten layers, build a CNN (`build_cnn(p)`, an `nn.Sequential` whose dropout probability is `p`) with **fewer than 1,000,000 parameters**, **at least one Dropout and one BatchNorm layer**, that reaches test accuracy **≥ 0.985** after **10 epochs at batch size 32** (`acc_3g`).
Set the dropout probability to 10 equally spaced values p ∈ [0, 1], train 1 epoch each, plot the test accuracies (tag the cell `dropout-sweep`) and report them in `dropout_ps` / `dropout_accs`.
Discuss the most effective design strategies and regularisation, and whether validating hyperparameters with one epoch is a problem."""

RESULTS_TEMPLATE = """# Your results
acc_2c = None
acc_2d = None
acc_2e = None
acc_3g = None
dropout_ps = None
dropout_accs = None"""

SWEEP = """# 3G dropout sweep: 1 epoch per value of p (long-running)
ps = [i / 9 for i in range(10)]
accs = [train_and_test(build_cnn(p), epochs=1) for p in ps]
plt.plot(ps, accs, marker='o'); plt.xlabel('dropout probability p'); plt.ylabel('test accuracy after 1 epoch'); plt.show()"""


def template() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [md("# CS155 Set 4\nWritten answers go in the tagged markdown cells, numbers and models in the named variables and "
                "functions; grader reads them after running your notebook. Cells tagged `long-running` are not re-run. "
                "Pen-and-paper answers may instead be handed in as `answers.yaml`, keyed by item id.", cid="intro"),
             md("## 1 Deep learning principles [35 pts]", cid="q-1")]
    for item, q in Q1.items():
        cells += [md(q, cid=f"q-{item}"), md("*Your answer here.*", tags=[f"answer-{item}"], cid=f"answer-{item}")]
    cells += [
        md(Q2, cid="q-2"),
        md("*2A: torch / torchvision versions.*", tags=["answer-2A"], cid="answer-2A"),
        code(SETUP, tags=["locked"], cid="setup"),
        code(DATA, tags=["locked"], cid="data"),
        code("# 2B: your answers\nimage_height = None\nimage_width = None\nn_train = None\nn_test = None", cid="answer-2B"),
        md("*2B: what do the values in each index represent?*", tags=["answer-2B-text"], cid="answer-2B-text"),
        code(SAMPLE_2, cid="models-2"),
        code(TRAIN_HELPER, cid="train-helper"),
        code("# 2C-2E: train your models here\n", tags=["long-running"], cid="train-2"),
        md(Q3, cid="q-3"),
        md("*3A: your answer here.*", tags=["answer-3A"], cid="answer-3A"),
        code(MATRICES, tags=["locked"], cid="matrices"),
        code(ANSWERS_3, cid="answers-3"),
        md("*3F: your answer here.*", tags=["answer-3F"], cid="answer-3F"),
        md(Q3G, cid="q-3G"),
        code("def build_cnn(p=0.1):\n    return None", cid="cnn"),
        code("# 3G: dropout sweep\n", tags=["long-running", "dropout-sweep"], cid="sweep"),
        code("# 3G: final training, 10 epochs at batch size 32\n", tags=["long-running"], cid="train-3G"),
        md("*3G: discussion.*", tags=["answer-3G"], cid="answer-3G"),
        code(RESULTS_TEMPLATE, cid="results"),
    ]
    nb.cells = cells
    return nb


MODELS_SOLUTION = """def build_model_2c():          # 100 hidden units
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Dropout(0.1), nn.Linear(100, 10))


def build_model_2d():          # 150 + 50 = 200 hidden units, 2 hidden layers
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 150), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(150, 50), nn.ReLU(), nn.Linear(50, 10))


def build_model_2e():          # 500 + 300 + 200 = 1000 hidden units, 3 hidden layers
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 500), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(500, 300), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(300, 200), nn.ReLU(), nn.Linear(200, 10))"""

CNN_SOLUTION = """def build_cnn(p=0.1):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(p), nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Dropout(p), nn.Linear(64, 10))"""

FREE_SOLUTION = {
    "1A": "∂L/∂W¹ contains the factor ∂x¹/∂s¹ = ReLU'(s¹) and the downstream weights W². With all weights zero, every s = 0, "
          "every hidden output is 0 and ReLU'(0) = 0 (and W² = 0), so all gradients are exactly zero: the weights never change and "
          "the second network stays at chance. The randomly initialised network has non-zero activations and gradients and learns.",
    "1B": "The sigmoid saturates at both ends and σ' ≤ 1/4, so gradients shrink and the non-zero network learns more slowly and "
          "gives a smoother boundary. For the zero network σ(0) = 1/2 ≠ 0 and σ'(0) = 1/4, so gradients are non-zero and it learns "
          "something, but all hidden units get identical updates (symmetry is never broken), so it behaves like a one-unit model.",
    "1C": "Training on only negative examples pushes the pre-activations of the ReLUs negative (to output -1); once s < 0 for all "
          "inputs, ReLU'(s) = 0, no gradient flows, and the units stay dead when the positive examples come: the network cannot recover.",
    "1D": "No hidden unit is needed: a single ReLU output unit y = ReLU(x1 + x2) gives OR(0,0) = 0 and ≥ 1 otherwise (weights 1, 1, bias 0).",
    "1E": "Two layers (one hidden layer plus the output): e.g. h1 = ReLU(x1 - x2), h2 = ReLU(x2 - x1), y = h1 + h2. One layer computes "
          "a monotone function of a linear function of the inputs, i.e. a linear decision boundary, and XOR is not linearly separable.",
    "2A": "torch 2.x, torchvision 0.x (as printed by pip list).",
    "2B-text": "train_dataset[i] is a tuple (image, label): the image is a 1×28×28 tensor of pixel intensities scaled to [0, 1] "
               "(channel, height, width), the label is the digit 0-9.",
    "3A": "Benefit: the output keeps the input size and border pixels are used as often as the others, so deep stacks are possible. "
          "Drawback: the zeros are artificial input; for large filters the padded values dominate border outputs and add artefacts.",
    "3F": "Pooling summarises a neighbourhood (max / average), so the output hardly changes when a feature moves a little or the "
          "animal is shifted or slightly rotated (local translation invariance), and single missing or noisy pixels are averaged "
          "out or ignored by the max. It also reduces the size of the representation.",
    "3G": "Stacking 3×3 convolutions with batch norm before the ReLU and max pooling worked best; batch norm was the most effective "
          "regulariser, small dropout helped a little and large p hurt (p = 1 drops everything). Validating with 1 epoch is noisy "
          "and favours fast-converging settings, which need not be best after 10 epochs.",
}

RESULTS_SOLUTION = """# Your results
acc_2c = 0.9781
acc_2d = 0.9812
acc_2e = 0.9847
acc_3g = 0.9912
dropout_ps = [i / 9 for i in range(10)]
dropout_accs = [0.981, 0.983, 0.982, 0.980, 0.979, 0.976, 0.972, 0.963, 0.941, 0.098]"""

ANSWERS_3_SOLUTION = """# 3B-3E, checked with torch
conv_params = sum(p.numel() for p in nn.Conv2d(3, 8, 5).parameters())
conv_output_shape = tuple(nn.Conv2d(3, 8, 5)(torch.zeros(1, 3, 32, 32)).shape[1:])
avg_pooled = nn.AvgPool2d(2, 2)(torch.tensor(M, dtype=torch.float32)).tolist()
max_pooled = nn.MaxPool2d(2, 2)(torch.tensor(M, dtype=torch.float32)).tolist()
print(conv_params, conv_output_shape)"""

ANSWERS_2B_SOLUTION = """# 2B (full MNIST: 60,000 / 10,000 images; grader's offline copy is a subset)
def image_size(dataset):
    image, label = dataset[0]        # (tensor C x H x W, label)
    return image.shape[1], image.shape[2]

image_height, image_width = image_size(train_dataset)
n_train = 60000
n_test = 10000"""

TRAIN_2 = """acc_2c = train_and_test(build_model_2c())
acc_2d = train_and_test(build_model_2d())
acc_2e = train_and_test(build_model_2e())"""


def solution() -> nbformat.NotebookNode:
    nb = template()
    for item, text in FREE_SOLUTION.items():
        cell(nb, f"answer-{item}").source = text
    cell(nb, "answer-2B").source = ANSWERS_2B_SOLUTION
    cell(nb, "models-2").source = MODELS_SOLUTION
    cell(nb, "train-2").source = TRAIN_2
    run_outputs(cell(nb, "train-2"), "Epoch 10/10: val acc: 0.9781\nEpoch 10/10: val acc: 0.9812\nEpoch 10/10: val acc: 0.9847\n")
    cell(nb, "answers-3").source = ANSWERS_3_SOLUTION
    cell(nb, "cnn").source = CNN_SOLUTION
    cell(nb, "sweep").source = SWEEP
    run_outputs(cell(nb, "sweep"), images=1)
    cell(nb, "train-3G").source = "acc_3g = train_and_test(build_cnn(0.1), epochs=10)"
    run_outputs(cell(nb, "train-3G"), "Epoch 10/10: val acc: 0.9912\n")
    cell(nb, "results").source = RESULTS_SOLUTION
    return nb


# ---------------------------------------------------------------- the seed's student
SEED_FREE = {
    "1A": "For a two layer network, ∂L/∂W¹ = ∂L/∂x² ∂x²/∂s² ∂s²/∂x¹ ∂x¹/∂s¹ ∂s¹/∂W¹ and ∂L/∂W² = ∂L/∂x² ∂x²/∂s² ∂s²/∂W². For the "
          "ReLU, ∂x/∂s goes to zero for s → -∞. The second network is initialized with all weights equal to zero, so the outputs "
          "vanish because they were initialized in the region of the ReLU function that saturates the outputs, i.e. the derivatives "
          "are always equal to a small number. Because of this the loss change is very small and the weights are barely updated.",
    "1B": "The non-zero network took longer to converge with the sigmoid, which saturates for s → +∞ and s → -∞, so gradients can "
          "vanish at both extremes; its decision boundary is smoother than the ReLU network's six-sided one; both end at about the "
          "same error. The zero network benefits from the sigmoid and more iterations: with ReLU after 250 iterations the weights are "
          "still zero and there is no boundary (error ~0.5), with the sigmoid after 4000 iterations the weights are non-zero, the "
          "boundary is a straight line and the error is closer to 0.4.",
    "1C": "The ReLU gradient is zero for s ≤ 0. Training only on negative points biases the model to learn where there are no "
          "gradients, with little to no updates; the network may be pushed so deep into the negative side of the ReLU that it "
          "cannot recover, and the outputs 'die'.",
    "1D": "[Figure: network modeling OR(x1, x2) — the drawing is not included in the write-up.]",
    "1E": "The minimum number of fully-connected layers is two. To approximate XOR we need a value ≥ 1 when x1 ≠ x2 and ≤ 0 when "
          "x1 = x2, satisfied by a - b; since x1 and x2 are distinct and cannot permute we need two functions (x1 - x2 and x2 - x1) "
          "and must sum them, so the second layer is required for the summation.",
    "2A": "torch 1.10.0+cu111, torchvision 0.11.1+cu111",
    "2B-text": "Each image is 28x28 pixels. The first index selects a tuple (image tensor, label); the second index selects the "
               "tensor or the label. The tensor has 3 dimensions: color channel, height, width (CxHxW), with one color channel.",
    "3A": "Benefit: the output keeps the size of the image, so more layers can be built with the same feature size. Drawback: with a "
          "filter large relative to the image, the padding zeros are disproportionately represented in the output, losing "
          "information and introducing noise.",
    "3F": "It uses information from neighboring pixels to fill in the gaps or eliminate the noise: the surrounding pixels take a "
          "'vote' of the most likely pixel in the filter window, which matters when data is missing or noisy.",
    "3G": "Final accuracy after 10 epochs: 0.9925. More convolutional layers helped; 3×3 kernels were enough; batch norm and dropout "
          "at every conv layer plus L2 regularization; L2 and batch norm were most effective, the model needs little dropout. "
          "One epoch is not representative and depends on random initialization and dropout, so choices may not be robust. "
          "Pooling limits the size of the last linear layer; the learning rate was lowered half-way through.",
}

SEED_MODELS = """# Reconstructed: the write-up gives the accuracies, not the layers
def build_model_2c():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(100, 10), nn.Softmax(dim=1))


def build_model_2d():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 150), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(150, 50), nn.ReLU(), nn.Linear(50, 10), nn.Softmax(dim=1))


def build_model_2e():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 500), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(500, 300), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(300, 200), nn.ReLU(), nn.Linear(200, 10), nn.Softmax(dim=1))"""

SEED_CNN = """def build_cnn(p=0.1):
    # batch norm and dropout at every conv layer, 3x3 kernels (L2 regularization is in the optimizer)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Dropout(p), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.Dropout(p), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10), nn.Softmax(dim=1))"""

SEED_ANSWERS = """# Worked on paper; answers as written in the report.
2B-height: 28
2B-width: 28
2B-train: 60,000
2B-test: 10,000
3B: 608
3C: 28 x 28 x 8
3D: [[[1, 0.5], [0.5, 0.25]], [[0.5, 1], [0.25, 0.5]], [[0.25, 0.5], [0.5, 1]], [[0.5, 0.25], [1, 0.5]]]
3E: [[[1, 1], [1, 1]], [[1, 1], [1, 1]], [[1, 1], [1, 1]], [[1, 1], [1, 1]]]
"""


def seed_student() -> tuple[nbformat.NotebookNode, str]:
    """The seed's answers: paper work in answers.yaml, models in the notebook. Its mistakes:
    1A 'derivatives always equal to a small number' (they are exactly zero at zero weights), 1D's
    drawing missing from the write-up, 1E without the linear-separability argument, 3F only about
    noise (no translation invariance), the 3G dropout sweep not reported (no values, no plot)."""
    nb = template()
    for item, text in SEED_FREE.items():
        cell(nb, f"answer-{item}").source = text
    cell(nb, "answer-2B").source = "# 2B: answered in the report (answers.yaml)"
    cell(nb, "answers-3").source = "# 3B-3E: answered in the report (answers.yaml)"
    cell(nb, "models-2").source = SEED_MODELS
    cell(nb, "train-2").source = TRAIN_2
    run_outputs(cell(nb, "train-2"), "Epoch 9/10: val acc: 0.9786\nEpoch 10/10: val acc: 0.9776\n"
                                     "Epoch 6/10: val acc: 0.9810\nEpoch 10/10: val acc: 0.9809\n"
                                     "Epoch 10/10: val acc: 0.9854\n")
    cell(nb, "cnn").source = SEED_CNN
    cell(nb, "train-3G").source = "acc_3g = train_and_test(build_cnn(0.1), epochs=10)"
    run_outputs(cell(nb, "train-3G"), "Epoch 10/10: loss: 0.0409, acc: 0.9872, val loss: 0.0261, val acc: 0.9925\n")
    cell(nb, "results").source = ("# Your results\nacc_2c = 0.9786\nacc_2d = 0.9810\nacc_2e = 0.9854\nacc_3g = 0.9925\n"
                                  "dropout_ps = None\ndropout_accs = None")
    return nb, SEED_ANSWERS


def wide_not_deep_student() -> nbformat.NotebookNode:
    """Different mistakes: 128 hidden units in 2C (budget 100), one wide hidden layer in 2D
    (needs 2), 2E not attempted, biases not counted (600), padding assumed (32×32×8), the last two
    average-pooled matrices swapped, a CNN without batch norm using AvgPool2d (not allowed) whose
    claimed accuracy misses the target, a dropout sweep over 5 values only."""
    nb = solution()
    cell(nb, "models-2").source = """def build_model_2c():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def build_model_2d():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 200), nn.ReLU(), nn.Dropout(0.2), nn.Linear(200, 10))


def build_model_2e():
    return None"""
    cell(nb, "answers-3").source = """# 3B-3E
conv_params = 5 * 5 * 3 * 8
conv_output_shape = (32, 32, 8)
avg_pooled = [[[1, 0.5], [0.5, 0.25]], [[0.5, 1], [0.25, 0.5]], [[0.5, 0.25], [1, 0.5]], [[0.25, 0.5], [0.5, 1]]]
max_pooled = [[[1, 1], [1, 1]]] * 4"""
    cell(nb, "cnn").source = """def build_cnn(p=0.1):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(p), nn.Flatten(), nn.Linear(32 * 7 * 7, 10))"""
    run_outputs(cell(nb, "train-3G"), "Epoch 10/10: val acc: 0.9831\n")
    cell(nb, "results").source = ("# Your results\nacc_2c = 0.9779\nacc_2d = 0.9803\nacc_2e = None\nacc_3g = 0.9831\n"
                                  "dropout_ps = [0, 0.25, 0.5, 0.75, 1]\ndropout_accs = [0.978, 0.979, 0.975, 0.962, 0.101]")
    cell(nb, "sweep").source = SWEEP.replace("ps = [i / 9 for i in range(10)]", "ps = [0, 0.25, 0.5, 0.75, 1]")
    return nb


def main() -> None:
    nb, answers = seed_student()
    publish("cs155-set4", template(), solution(), {
        "seed-student/set4.ipynb": nb, "seed-student/answers.yaml": answers,
        "wide-not-deep-student.ipynb": wide_not_deep_student(),
    })

if __name__ == "__main__":
    main()
