"""Builds assignments/cifar10-cnn/{template,solution}.ipynb and submissions/cifar10-cnn/*.

A CIFAR-10 CNN assignment: Task 1 by hand (convolution, padding, kernel size,
pooled sizes, parameter count, translation invariance), Tasks 2-4 CIFAR-10
models (baseline, improved models at 75 % / 80 %, transfer learning at 90 %).
The seed is one student's report; the questions are reconstructed from it (see
assignments/cifar10-cnn/handout.md). CIFAR-10 is not shipped: the training
cells are tagged long-running and their outputs are what the student handed in
(text only; no figures are invented for a training that never ran here except
the placeholder loss curves the samples carry as "handed in").
Students' notebooks keep the template's cell ids, as when they start from it.
Run: python scripts/build_cifar10_cnn.py
"""
from __future__ import annotations

import base64
import io
import math
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook, new_output

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebooks import cell, code, md, publish  # noqa: E402  (shared notebook helpers)



def png(decay: float) -> str:
    """A small loss-curve figure standing for the one a student handed in."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4, 2.5))
    xs = list(range(100))
    ax.plot(xs, [1.6 * math.exp(-x / decay) + 0.4 for x in xs], label="train")
    ax.plot(xs, [1.5 * math.exp(-x / decay) + 0.8 for x in xs], label="validation")
    ax.set_xlabel("step"); ax.set_ylabel("loss"); ax.legend()
    buf = io.BytesIO(); fig.savefig(buf, format="png", dpi=50); plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


INTRO = """# CIFAR-10 with convolutional networks
Task 1 is worked by hand: answer in the variables of the Task 1 cell (or hand in `answers.yaml` keyed by item id).
Tasks 2–4 train on CIFAR-10: training cells are tagged `long-running`; grader does not re-run them but
checks your model classes and retrains them itself to verify the accuracies."""

IMPORTS = """import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
import matplotlib.pyplot as plt
torch.manual_seed(0)"""

Q1 = """## Task 1 (by hand)
**a)** Convolve the 3×5 image `image` with the 3×3 Sobel kernel `kernel` (a true convolution: flip the kernel),
stride 1, zero-padding 1. Give the 3×5 result `conv_result`.

**b)** Which layer of a CNN reduces the network's sensitivity to small translations of the input, and why?
(answer in the cell below)

**c)** A conv layer has a 7×7 kernel and stride 1. Which padding on each side keeps width and height? `padding_same`

**d)** A conv layer with stride 1 and no padding turns a 512×512 image into 508×508 feature maps.
What is the kernel size? `kernel_size`

**e)** The 508×508 maps go through 2×2 max-pooling with stride 2. Side of the pooled maps? `pooled_size`

**f)** A second conv layer with the same kernel as in d) (stride 1, no padding) follows. Side of its feature maps? `second_layer_size`

**g)** Count the parameters of the network of Task 2 on a 32×32×3 image: three conv layers (5×5, 'same' padding,
stride 1) with 32, 64 and 128 filters, each followed by ReLU and 2×2 max-pooling; flatten; FC 2048→64, ReLU;
FC 64→10. Give the parameters of each weight layer as a list `layer_params` (conv1, conv2, conv3, fc1, fc2) and
the total `total_params`."""

DATA1 = """# Given data for Task 1a (do not edit)
image = [[2, 1, 2, 3, 1], [3, 9, 1, 1, 4], [4, 5, 0, 7, 0]]
kernel = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]"""

TEMPLATE1 = """# Task 1 — your answers
conv_result = None
padding_same = None
kernel_size = None
pooled_size = None
second_layer_size = None
layer_params = None
total_params = None"""

Q2 = """## Task 2: the baseline
Implement the network of Task 1g as `BaselineModel` (`BaselineModel()` takes no arguments; input N×3×32×32,
output N×10 logits), train it (SGD, batch 32, 10 epochs, early stopping), plot training and validation loss
(cell tagged `loss-plot-2`) and store the test accuracy in `test_accuracy_task2`."""

LOAD = """# CIFAR-10 loaders (long-running: needs the data set)
transform = transforms.Compose([transforms.ToTensor(),
                                transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))])
train_set = datasets.CIFAR10('data', train=True, download=True, transform=transform)
test_set = datasets.CIFAR10('data', train=False, download=True, transform=transform)
train_set, val_set = torch.utils.data.random_split(train_set, [45000, 5000], generator=torch.Generator().manual_seed(0))
train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
val_loader = DataLoader(val_set, batch_size=64)
test_loader = DataLoader(test_set, batch_size=64)"""

TRAIN_HELPER = """# training helper (long-running)
def train(model, lr, epochs=10, patience=4, optimizer='sgd'):
    opt = torch.optim.SGD(model.parameters(), lr=lr) if optimizer == 'sgd' else torch.optim.Adam(model.parameters(), lr=lr)
    history, best, bad = {'train': [], 'val': []}, float('inf'), 0
    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(); loss.backward(); opt.step()
            history['train'].append(loss.item())
        model.eval()
        with torch.no_grad():
            val = sum(F.cross_entropy(model(x), y, reduction='sum').item() for x, y in val_loader) / len(val_set)
        history['val'].append(val)
        best, bad = (val, 0) if val < best else (best, bad + 1)
        if bad >= patience:
            break
    return history


def accuracy(model, loader):
    model.eval()
    with torch.no_grad():
        return sum((model(x).argmax(1) == y).sum().item() for x, y in loader) / len(loader.dataset)"""

Q3 = """## Task 3: better models
Build `ImprovedModel` (at least 75 % test accuracy) and `BestModel` (at least 80 %), both from scratch (no pre-trained
weights), input N×3×32×32, output N×10. Report their trainer settings, plot their losses (cell tagged `loss-plot-3`)
and store the test accuracies in `test_accuracy_improved` and `test_accuracy_best`. Then discuss below: c) what each
change did, d) which change helped most towards 75 %, e) towards 80 %, f) over-/under-fitting of your best model."""

Q4 = """## Task 4: transfer learning
Fine-tune an ImageNet-pre-trained ResNet18 as `TransferModel` (images resized to 224), aim for 90 % test accuracy,
plot the losses (cell tagged `loss-plot-4`) and store the test accuracy in `test_accuracy_transfer`."""

BASELINE = """# Task 2
class BaselineModel(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.feature_extractor = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=5, stride=1, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, kernel_size=5, stride=1, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(64, 128, kernel_size=5, stride=1, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Flatten())
        self.classifier = nn.Sequential(nn.Linear(2048, 64), nn.ReLU(), nn.Linear(64, num_classes))

    def forward(self, x):
        return self.classifier(self.feature_extractor(x))"""

IMPROVED = """# Task 3: ImprovedModel (BatchNorm after every conv, ELU in the classifier)
def block(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=5, stride=1, padding=2), nn.ReLU(),
                         nn.BatchNorm2d(c_out), nn.MaxPool2d(2, 2))


class ImprovedModel(nn.Module):
    def __init__(self, channels=(32, 64, 128), dropout=0.0, num_classes=10):
        super().__init__()
        self.feature_extractor = nn.Sequential(block(3, channels[0]), block(channels[0], channels[1]),
                                               block(channels[1], channels[2]), nn.Flatten())
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels[2] * 16, 64), nn.ELU(),
                                        nn.BatchNorm1d(64), nn.Linear(64, num_classes))

    def forward(self, x):
        return self.classifier(self.feature_extractor(x))


class BestModel(ImprovedModel):
    \"\"\"Wider conv layers and strong dropout.\"\"\"
    def __init__(self):
        super().__init__(channels=(64, 192, 512), dropout=0.77)"""

TRANSFER = """# Task 4
class TransferModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = torchvision.models.resnet18(weights=torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
        self.model.fc = nn.Linear(512, 10)

    def forward(self, x):
        return self.model(x)"""


def template() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        md(INTRO, cid="intro"),
        code(IMPORTS, tags=["locked"], cid="imports"),
        md(Q1, cid="q-1"),
        code(DATA1, tags=["locked"], cid="data-1"),
        code(TEMPLATE1, cid="answer-1"),
        md("**1b)** *Your answer here.*", tags=["answer-1b"], cid="answer-1b"),
        md(Q2, cid="q-2"),
        code(LOAD, tags=["locked", "long-running"], cid="load"),
        code(TRAIN_HELPER, tags=["locked", "long-running"], cid="train-helper"),
        code("# Task 2\nclass BaselineModel(nn.Module):\n    pass", cid="2-model"),
        code("# Task 2 training (long-running)\ntest_accuracy_task2 = None", tags=["long-running"], cid="2-train"),
        code("# Task 2 loss plot\n", tags=["long-running", "loss-plot-2"], cid="2-plot"),
        md(Q3, cid="q-3"),
        code("# Task 3\nclass ImprovedModel(nn.Module):\n    pass\n\n\nclass BestModel(nn.Module):\n    pass", cid="3-models"),
        code("# Task 3 training (long-running)\ntest_accuracy_improved = None\ntest_accuracy_best = None",
             tags=["long-running"], cid="3-train"),
        code("# Task 3 loss plots\n", tags=["long-running", "loss-plot-3"], cid="3-plot"),
        md("**3c–f)** *Your discussion here.*", tags=["answer-3"], cid="answer-3"),
        md(Q4, cid="q-4"),
        code("# Task 4\nclass TransferModel(nn.Module):\n    pass", cid="4-model"),
        code("# Task 4 training (long-running)\ntest_accuracy_transfer = None", tags=["long-running"], cid="4-train"),
        code("# Task 4 loss plot\n", tags=["long-running", "loss-plot-4"], cid="4-plot"),
    ]
    return nb


def handed_in(c, text=None, images=0, decay=20.0):
    c.outputs = []
    if text:
        c.outputs.append(new_output("stream", name="stdout", text=text))
    for i in range(images):
        c.outputs.append(new_output("display_data", data={"image/png": png(decay + 5 * i), "text/plain": "<Figure>"}))
    c.execution_count = 1


SOLUTION1 = """# Task 1 — worked with torch, as a solution would check its hand calculation
img = torch.tensor(image, dtype=torch.float64)[None, None]
k = torch.tensor(kernel, dtype=torch.float64).flip(0, 1)[None, None]   # true convolution: flip, then slide
conv_result = F.conv2d(img, k, padding=1)[0, 0].tolist()

# out = (in - F + 2P)/S + 1
padding_same = (7 - 1) // 2                 # 3
kernel_size = 512 + 2 * 0 - 1 * (508 - 1)   # 5
pooled_size = (508 - 2) // 2 + 1            # 254
second_layer_size = pooled_size - kernel_size + 1   # 250

# a conv layer has (F*F*C_in + 1) * C_out parameters: one bias per filter; a FC layer (I + 1) * O
layer_params = [(5 * 5 * 3 + 1) * 32, (5 * 5 * 32 + 1) * 64, (5 * 5 * 64 + 1) * 128, (2048 + 1) * 64, (64 + 1) * 10]
total_params = sum(layer_params)
print(conv_result, padding_same, kernel_size, pooled_size, second_layer_size, layer_params, total_params, sep='\\n')"""

FREE_1B = ("**1b)** The max-pooling layer: within each pooling window the maximum is the same wherever the feature "
           "sits, so a shift by less than the window leaves the output unchanged. A convolution is translation "
           "*equivariant*: shifting the input shifts its feature maps by the same amount.")

TRAIN2 = """# Task 2 training (long-running)
baseline = BaselineModel()
hist2 = train(baseline, lr=5e-2)
test_accuracy_task2 = accuracy(baseline, test_loader)
print(f'Task 2 test accuracy: {test_accuracy_task2:.3f}')"""

PLOT = """plt.plot(hist{n}['train'], label='train')
plt.plot([len(hist{n}['train']) * (i + 1) / len(hist{n}['val']) for i in range(len(hist{n}['val']))], hist{n}['val'], label='validation')
plt.xlabel('step'); plt.ylabel('loss'); plt.legend(); plt.show()"""

TRAIN3 = """# Task 3 training (long-running)
improved, best_model = ImprovedModel(), BestModel()
hist3 = train(improved, lr=5e-2)
hist3b = train(best_model, lr=5e-2)
test_accuracy_improved = accuracy(improved, test_loader)
test_accuracy_best = accuracy(best_model, test_loader)
print(f'Task 3 test accuracy: improved {test_accuracy_improved:.3f}, best {test_accuracy_best:.3f}')"""

DISCUSS = ("**3c–f)** Batch normalisation gave the largest gain towards 75 %; wider conv layers and dropout 0.77 "
           "took the best model past 80 %. It still overfits slightly (validation loss rises in the last epochs).")

TRAIN4 = """# Task 4 training (long-running)
resize = transforms.Compose([transforms.Resize(224), transforms.ToTensor(),
                             transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
train_loader.dataset.dataset.transform = resize
test_loader.dataset.transform = resize
transfer = TransferModel()
hist4 = train(transfer, lr=2e-2, epochs=5)
test_accuracy_transfer = accuracy(transfer, test_loader)
print(f'Task 4 test accuracy: {test_accuracy_transfer:.3f}')"""


def with_work(nb, answers1=None, free1b=None, baseline=BASELINE, improved=IMPROVED, transfer=TRANSFER,
              acc=(0.75, 0.76, 0.81, 0.90), discuss=DISCUSS):
    if answers1 is not None:
        cell(nb, "answer-1").source = answers1
    if free1b is not None:
        cell(nb, "answer-1b").source = free1b
    cell(nb, "2-model").source = baseline
    cell(nb, "2-train").source = TRAIN2
    handed_in(cell(nb, "2-train"), f"Task 2 test accuracy: {acc[0]:.3f}\n")
    cell(nb, "2-plot").source = PLOT.format(n=2)
    handed_in(cell(nb, "2-plot"), images=1, decay=25)
    cell(nb, "3-models").source = improved
    cell(nb, "3-train").source = TRAIN3
    handed_in(cell(nb, "3-train"), f"Task 3 test accuracy: improved {acc[1]:.3f}, best {acc[2]:.3f}\n")
    cell(nb, "3-plot").source = PLOT.format(n=3) + "\n" + PLOT.format(n="3b")
    handed_in(cell(nb, "3-plot"), images=2, decay=15)
    cell(nb, "answer-3").source = discuss
    cell(nb, "4-model").source = transfer
    cell(nb, "4-train").source = TRAIN4
    handed_in(cell(nb, "4-train"), f"Task 4 test accuracy: {acc[3]:.3f}\n")
    cell(nb, "4-plot").source = PLOT.format(n=4)
    handed_in(cell(nb, "4-plot"), images=1, decay=8)
    return nb


def solution() -> nbformat.NotebookNode:
    """The reference solution. CIFAR-10 was not available where it was built: its training outputs are
    placeholders (said so in the output), there only so the notebook has the shape of a handed-in one."""
    nb = with_work(template(), SOLUTION1, FREE_1B)
    for cid in ("2-train", "3-train", "4-train"):
        out = cell(nb, cid).outputs[0]
        out.text = "(placeholder output: this solution was not trained on CIFAR-10 here)\n" + out.text
    return nb


# ---------------------------------------------------------------- the seed's student
# Task 1 on paper (answers.yaml, as written in the report), Tasks 2-4 in the notebook.
SEED_ANSWERS = """# Worked on paper; answers as written in the report.
# 1a: the report's final matrix is "- [[11, -2, -4, 1, -7], [24, -8, -12, 5, -12], [19, -10, -4, 3, -15]]"
#     (every Hadamard product was written with the minus sign factored out, the kernel shown unflipped)
1a-conv: [[-11, 2, 4, -1, 7], [-24, 8, 12, -5, 12], [-19, 10, 4, -3, 15]]
1c-padding: 3
# 1d: "F = H_I + 2P - S(H_O - 1) = 512 - 508 - 1 = 3"
1d-kernel: 3
1e-pool: 254
1f-second: 252
# 1g: "each conv layer has D_I * 26 * D_O parameters" (one weight kernel and one bias per input depth)
1g-layers: [2496, 53248, 212992, 131136, 650]
1g-total: 400522
"""

SEED_1B = ("**1b)** The Convolutional layer (i) is the one reducing translational sensibility since a kernel for the "
           "convolution will detect a feature regardless of its position in the image")

SEED_DISCUSS = ("**3c–f)** Baseline 0.74 (validation). Adam: 0.715, back to SGD. ReLU→ELU in the classifier: 0.743. "
                "Batch normalization: 0.77, the biggest jump towards the 75 % goal. Conv layers [32, 64, 128]→[64, 192, "
                "512]: 0.79; dropout 77 %: 0.82. The best model still overfits slightly (validation loss at the end), "
                "much less than before dropout.")

SEED_IMPROVED = """# Task 3: ImprovedModel as in the report (BatchNorm after ReLU, ELU in the classifier, Dropout(p=0))
class ImprovedModel(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.feature_extractor = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 32, kernel_size=5, stride=1, padding=2), nn.ReLU(), nn.BatchNorm2d(32), nn.MaxPool2d(2, 2)),
            nn.Sequential(nn.Conv2d(32, 64, kernel_size=5, stride=1, padding=2), nn.ReLU(), nn.BatchNorm2d(64), nn.MaxPool2d(2, 2)),
            nn.Sequential(nn.Conv2d(64, 128, kernel_size=5, stride=1, padding=2), nn.ReLU(), nn.BatchNorm2d(128), nn.MaxPool2d(2, 2)),
            nn.Flatten(start_dim=1, end_dim=-1))
        self.classifier = nn.Sequential(nn.Dropout(p=0), nn.Linear(2048, 64), nn.ELU(alpha=1.0), nn.BatchNorm1d(64),
                                        nn.Linear(64, num_classes))

    def forward(self, x):
        return self.classifier(self.feature_extractor(x))


class BestModel(nn.Module):
    \"\"\"conv layers [64, 192, 512], dropout 77 %\"\"\"
    def __init__(self, num_classes=10):
        super().__init__()
        self.feature_extractor = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 64, kernel_size=5, stride=1, padding=2), nn.ReLU(), nn.BatchNorm2d(64), nn.MaxPool2d(2, 2)),
            nn.Sequential(nn.Conv2d(64, 192, kernel_size=5, stride=1, padding=2), nn.ReLU(), nn.BatchNorm2d(192), nn.MaxPool2d(2, 2)),
            nn.Sequential(nn.Conv2d(192, 512, kernel_size=5, stride=1, padding=2), nn.ReLU(), nn.BatchNorm2d(512), nn.MaxPool2d(2, 2)),
            nn.Flatten(start_dim=1, end_dim=-1))
        self.classifier = nn.Sequential(nn.Dropout(p=0.77), nn.Linear(8192, 64), nn.ELU(alpha=1.0), nn.BatchNorm1d(64),
                                        nn.Linear(64, num_classes))

    def forward(self, x):
        return self.classifier(self.feature_extractor(x))"""


def seed_student() -> tuple[nbformat.NotebookNode, str]:
    nb = with_work(template(), None, SEED_1B, improved=SEED_IMPROVED, acc=(0.73, 0.75, 0.82, 0.90),
                   discuss=SEED_DISCUSS)
    # the report gives no test accuracy for the best model, only 0.82 validation
    c = cell(nb, "3-train")
    c.source = c.source.replace("test_accuracy_best = accuracy(best_model, test_loader)", "test_accuracy_best = None")
    c.source = c.source.replace(", best {test_accuracy_best:.3f}", "")
    handed_in(c, "Task 3 test accuracy: improved 0.750\n")
    return nb, SEED_ANSWERS


# ---------------------------------------------------------------- a second student, other mistakes
NO_BIAS_1 = """# Task 1 — answers
conv_result = [[-8, -12, 5]]            # slid the kernel over the image without a border
padding_same = 6                         # 7 - 1
kernel_size = 512 - 508                  # 4
pooled_size = 508 // 2                   # 254
second_layer_size = pooled_size - kernel_size + 1   # 251
layer_params = [5 * 5 * 3 * 32, 5 * 5 * 32 * 64, 5 * 5 * 64 * 128, 2048 * 64, 64 * 10]
total_params = sum(layer_params)"""

NO_BIAS_1B = ("**1b)** Max pooling: the maximum of a window does not change when the feature moves a little inside it.")

NO_BIAS_BASELINE = BASELINE.replace("nn.Linear(2048, 64), nn.ReLU(), nn.Linear(64, num_classes)",
                                    "nn.Linear(2048, 128), nn.ReLU(), nn.Linear(128, num_classes)")

# one pooling too many in ImprovedModel: 32 -> 2, but the classifier still expects 128 * 4 * 4
NO_BIAS_IMPROVED = IMPROVED.replace(
    "block(channels[1], channels[2]), nn.Flatten())",
    "block(channels[1], channels[2]), nn.MaxPool2d(2, 2), nn.Flatten())")


def no_bias_student() -> nbformat.NotebookNode:
    return with_work(template(), NO_BIAS_1, NO_BIAS_1B, baseline=NO_BIAS_BASELINE, improved=NO_BIAS_IMPROVED,
                     acc=(0.71, 0.74, 0.80, 0.88))


def main() -> None:
    nb, answers = seed_student()
    publish("cifar10-cnn", template(), solution(), {
        "seed-student/report.ipynb": nb, "seed-student/answers.yaml": answers,
        "no-bias-student.ipynb": no_bias_student(),
    })

if __name__ == "__main__":
    main()
