"""Builds assignments/ds5220-hw4/{template,solution}.ipynb and submissions/ds5220-hw4/*.

DS5220 HW4 (Northeastern): written questions on CNNs / batch norm / distribution
shift / ReLU, a two-layer MLP (784-128-10, ReLU) on MNIST, then a small CNN
(8,490 parameters) and its comparison with the MLP. Kept so the sample
notebooks can be regenerated after a template change; students' notebooks keep
the template's cell ids. Run: .venv/bin/python scripts/build_ds5220_hw4.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebooks import cell, code, md, publish, run_outputs  # noqa: E402  (shared notebook helpers)

import nbformat  # noqa: E402
from nbformat.v4 import new_notebook  # noqa: E402


SETUP = """# Setup (do not edit)
import numpy as np
import torch
import torch.nn as nn
import matplotlib.pyplot as plt
from torchvision import datasets, transforms

DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'
seed = 1234
torch.backends.cudnn.deterministic = True
torch.backends.cudnn.benchmark = False
torch.manual_seed(seed)"""

DATA = """# Get MNIST data (do not edit)
transform = transforms.Compose([transforms.ToTensor()])
train_data = datasets.MNIST('data', train=True, download=True, transform=transform)
test_data = datasets.MNIST('data', train=False, download=True, transform=transform)
batch_size = 64
torch.manual_seed(seed)
train_loader = torch.utils.data.DataLoader(train_data, batch_size=batch_size, shuffle=True)
test_loader = torch.utils.data.DataLoader(test_data, batch_size=batch_size, shuffle=False)"""

INSPECT = """# Part 0: inspect the data set (0 points)
images, labels = next(iter(train_loader))
print("Images shape: ", images.shape)
print("Labels shape: ", labels.shape)
fig = plt.figure(figsize=(12, 10))
for i in range(20):
    plt.subplot(4, 5, i + 1)
    plt.imshow(images[i].squeeze(), cmap='gray', interpolation='none')
    plt.title(f'Label: {labels[i]}', fontsize=14)
    plt.axis('off')
plt.show()"""

Q1 = {
    "1.1": "**1.1 (2 pts)** Why can a CNN capture invariant properties of an image, such as translation invariance? Argue from what convolution and pooling do.",
    "1.2": "**1.2 (3 pts)** What is batch normalization and why does it help when training deep networks?",
    "1.3": "**1.3 (3 pts)** What happens when the training and test distributions of a neural network differ, and how can the problem be mitigated?",
    "1.4": "**1.4 (2 pts)** Why is ReLU preferred over the sigmoid as the activation of hidden layers?",
}

Q2 = """## Problem 2: a two-layer neural network on MNIST (50 pts)
**2.1 (15 pts)** Write down the two-layer network (input 28×28 = 784, one hidden layer of 128 ReLU units, 10 outputs with softmax): its layers, weights, biases and activations, and the prediction ŷ as a function of x.
**2.2 (15 pts)** Write down the cross-entropy loss over the training set for this network, in terms of the weights.
**2.3 (20 pts)** Implement the network as `MNISTClassifierMLP` (Flatten – Linear(784,128) – ReLU – Linear(128,10) – LogSoftmax, 101,770 parameters), train it (training cells are tagged `long-running`: grader retrains your model itself), report the test accuracy in `mlp_test_accuracy`, and inspect it: plot the loss curve, the predictions of the first 20 test images and the first 20 misclassified test images (tag: `inspection`), and discuss the typical mistakes."""

MLP_TEMPLATE = """input_size = 1 * 28 * 28   # input spatial dimension of images
hidden_size = 128           # width of hidden layer
output_size = 10            # number of output neurons

class MNISTClassifierMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = torch.nn.Flatten(start_dim=1)
        # -----
        # Write your implementation here.
        # -----

    def forward(self, x):
        # Input image is of shape [batch_size, 1, 28, 28]
        x = self.flatten(x)
        # -----
        # Write your implementation here.
        # -----
        return x"""

MLP_SOLUTION = """input_size = 1 * 28 * 28   # input spatial dimension of images
hidden_size = 128           # width of hidden layer
output_size = 10            # number of output neurons

class MNISTClassifierMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = torch.nn.Flatten(start_dim=1)
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden_size, output_size)
        self.log_softmax = nn.LogSoftmax(dim=1)

    def forward(self, x):
        x = self.flatten(x)
        x = self.act(self.fc1(x))
        return self.log_softmax(self.fc2(x))"""

LOOPS_TEMPLATE = """def train_one_epoch(train_loader, model, device, optimizer, log_interval, epoch):
    model.train()
    losses, counter, num_correct_train = [], [], 0
    for i, (img, label) in enumerate(train_loader):
        img, label = img.to(device), label.to(device)
        # -----
        # Write your implementation here.
        # -----
        if (i + 1) % log_interval == 0:
            losses.append(loss.item())
            counter.append(i * batch_size + img.size(0) + epoch * len(train_loader.dataset))
    return losses, counter, num_correct_train


def test_one_epoch(test_loader, model, device):
    model.eval()
    test_loss, num_correct = 0.0, 0
    with torch.no_grad():
        for img, label in test_loader:
            img, label = img.to(device), label.to(device)
            # -----
            # Write your implementation here.
            # -----
    test_loss /= len(test_loader.dataset)
    return test_loss, num_correct"""

LOOPS_SOLUTION = """def train_one_epoch(train_loader, model, device, optimizer, log_interval, epoch):
    model.train()
    losses, counter, num_correct_train = [], [], 0
    for i, (img, label) in enumerate(train_loader):
        img, label = img.to(device), label.to(device)
        output = model(img)
        loss = torch.nn.functional.nll_loss(output, label)
        num_correct_train += (output.argmax(dim=1) == label).sum().item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (i + 1) % log_interval == 0:
            losses.append(loss.item())
            counter.append(i * batch_size + img.size(0) + epoch * len(train_loader.dataset))
    return losses, counter, num_correct_train


def test_one_epoch(test_loader, model, device):
    model.eval()
    test_loss, num_correct = 0.0, 0
    with torch.no_grad():
        for img, label in test_loader:
            img, label = img.to(device), label.to(device)
            output = model(img)
            num_correct += (output.argmax(dim=1) == label).sum().item()
            test_loss += torch.nn.functional.nll_loss(output, label, reduction='sum').item()
    test_loss /= len(test_loader.dataset)
    return test_loss, num_correct"""

TRAIN = """# Train the model (long-running: grader retrains the model itself)
lr = 0.01
max_epochs = 10
gamma = 0.95
log_interval = 100
model = {cls}().to(DEVICE)
optimizer = torch.optim.{opt}(model.parameters(), lr=lr)
train_losses, train_counter, test_losses, test_correct, train_correct = [], [], [], [], []
for epoch in range(max_epochs):
    train_loss, counter, num_correct_train = train_one_epoch(train_loader, model, DEVICE, optimizer, log_interval, epoch)
    test_loss, num_correct = test_one_epoch(test_loader, model, DEVICE)
    train_losses.extend(train_loss); train_counter.extend(counter)
    test_losses.append(test_loss); test_correct.append(num_correct); train_correct.append(num_correct_train)
print(f"Train accuracy: {{train_correct[-1] / len(train_loader.dataset)}}")
print(f"Test accuracy: {{test_correct[-1] / len(test_loader.dataset)}}")"""

INSPECTION = """# Part 4: inspection (uses the trained model)
fig = plt.figure(figsize=(12, 8))
plt.plot(train_counter, train_losses, label='Train loss')
plt.plot([i * len(train_loader.dataset) for i in range(1, max_epochs + 1)], test_losses, label='Test loss', marker='o')
plt.xlabel('Number of training examples seen'); plt.ylabel('NLL'); plt.legend(); plt.show()

images, labels = next(iter(test_loader))
pred = model(images.to(DEVICE)).argmax(dim=1)
fig = plt.figure(figsize=(12, 11))
for i in range(20):
    plt.subplot(4, 5, i + 1)
    plt.imshow(images[i].squeeze(), cmap='gray', interpolation='none')
    plt.title(f'Prediction: {pred[i].item()}', fontsize=14)
    plt.axis('off')
plt.show()
# ... the first 20 misclassified test images, shown the same way"""

Q3 = """## Problem 3: a convolutional network (40 pts)
**3.1 (15 pts)** Describe the design choices of a CNN: number and type of layers, filter size, max pooling, hidden units and activation functions of the fully connected part, and common configurations.
**3.2 (20 pts)** Implement `CNN`: Conv2d(1,10,5) – MaxPool(2) – ReLU – Conv2d(10,20,5) – Dropout2d – MaxPool(2) – ReLU – Flatten – Linear(320,10) – LogSoftmax; train it with the same loops and hyperparameters, report train and test accuracy and loss (`cnn_test_accuracy`), and compare with the MLP.
**3.3 (5 pts)** Calculate the number of parameters of the CNN (`cnn_params`) and of the MLP (`mlp_params`), show the calculation, and compare the two."""

CNN_TEMPLATE = """class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = torch.nn.Flatten(start_dim=1)
        # -----
        # Write your implementation here.
        # -----

    def forward(self, x):
        # -----
        # Write your implementation here.
        # -----
        return x"""

CNN_SOLUTION = """class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = torch.nn.Flatten(start_dim=1)
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.drop = nn.Dropout2d(0.5)
        self.fc = nn.Linear(320, 10)

    def forward(self, x):
        x = torch.relu(torch.nn.functional.max_pool2d(self.conv1(x), 2))
        x = torch.relu(torch.nn.functional.max_pool2d(self.drop(self.conv2(x)), 2))
        x = self.flatten(x)
        return torch.nn.functional.log_softmax(self.fc(x), dim=1)"""

# The seed's CNN, as handed in: ReLU on the logits before log_softmax, and the
# functional dropout2d without `training=self.training` (it also drops at test time).
CNN_SEED = """class CNN(torch.nn.Module):

    def __init__(self):

        super().__init__()
        self.flatten = torch.nn.Flatten(start_dim=1)
        # -----
        # Write your implementation here.
        self.conv1 = torch.nn.Conv2d(1, 10, kernel_size = 5) # first convolutional
        self.conv2 = torch.nn.Conv2d(10,20, kernel_size = 5) # second convolutional
        self.fc = torch.nn.Linear(320,10) # third fully-connected layer
        # -----

    def forward(self, x):
        x = self.conv1(x)
        x = torch.nn.functional.max_pool2d(x,2)
        x = torch.nn.functional.relu(x)

        x = self.conv2(x)
        x = torch.nn.functional.dropout2d(x)
        x = torch.nn.functional.max_pool2d(x,2)
        x = torch.nn.functional.relu(x)

        x = self.flatten(x)
        x = self.fc(x)

        x = torch.nn.functional.relu(x)
        x = torch.nn.functional.log_softmax(x)

        y_output = x

        return y_output"""

RESULTS_TEMPLATE = "# Report your results\nmlp_test_accuracy = None\ncnn_test_accuracy = None\nmlp_params = None\ncnn_params = None"


def template() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [
        md("# DS5220 Homework 4\nWritten answers go in the tagged markdown cells, numbers in the variables of the last code cell; "
           "grader reads them after running your notebook. Cells tagged `long-running` are not re-run.", cid="intro"),
        md("## Problem 1 (10 pts)", cid="q-1"),
    ]
    for item, q in Q1.items():
        cells += [md(q, cid=f"q-{item}"), md("*Your answer here.*", tags=[f"answer-{item}"], cid=f"answer-{item}")]
    cells += [
        md(Q2, cid="q-2"),
        md("*2.1: your answer here.*", tags=["answer-2.1"], cid="answer-2.1"),
        md("*2.2: your answer here.*", tags=["answer-2.2"], cid="answer-2.2"),
        code(SETUP, tags=["locked"], cid="setup"),
        code(DATA, tags=["locked"], cid="data"),
        code(INSPECT, cid="inspect"),
        code(MLP_TEMPLATE, cid="mlp"),
        code(LOOPS_TEMPLATE, cid="loops"),
        code("# Train the MLP here\n", tags=["long-running"], cid="train-mlp"),
        code("# Part 4: inspection\n", tags=["long-running", "inspection"], cid="inspection"),
        md("*2.3: discuss the misclassified images and the effect of normalisation.*", tags=["answer-2.3"], cid="answer-2.3"),
        md(Q3, cid="q-3"),
        md("*3.1: your answer here.*", tags=["answer-3.1"], cid="answer-3.1"),
        code(CNN_TEMPLATE, cid="cnn"),
        code("# Train the CNN here\n", tags=["long-running"], cid="train-cnn"),
        md("*3.2: report train/test accuracy and loss and compare with the MLP.*", tags=["answer-3.2"], cid="answer-3.2"),
        md("*3.3: show the parameter calculation and compare.*", tags=["answer-3.3"], cid="answer-3.3"),
        code(RESULTS_TEMPLATE, cid="results"),
    ]
    nb.cells = cells
    return nb


FREE_SOLUTION = {
    "1.1": "Convolution is translation equivariant: shifting the input shifts the feature map by the same amount, because the same "
           "kernel is applied at every position (weight sharing). Pooling then summarises each neighbourhood (max / average), so "
           "small shifts of a feature inside a pooling window leave the output unchanged: conv + pooling gives (local) translation "
           "invariance. Other invariances (small rotations, scale) are only approximate and come from learned filters and augmentation.",
    "1.2": "Batch normalization normalises each layer's pre-activations over the mini-batch (zero mean, unit variance), then scales "
           "and shifts them with learned γ, β. It reduces internal covariate shift (the distribution of a layer's inputs changing "
           "as the earlier layers update), allows larger learning rates, makes training less sensitive to initialisation, speeds "
           "up convergence and acts as a mild regulariser.",
    "1.3": "The network minimises the risk under the training distribution; under a shifted test distribution (covariate or label "
           "shift) it generalises poorly and the test loss is high. Mitigations: collect training data covering the test domain, "
           "shuffle/stratify the splits, reweight samples (importance weighting), augment the data, domain adaptation / fine-tuning.",
    "1.4": "The sigmoid saturates for large |z|: its gradient σ(1-σ) ≤ 0.25 goes to 0, and products of such factors over many layers "
           "make gradients vanish. ReLU has gradient exactly 1 for z > 0, so it does not saturate for positive inputs, is cheap, and "
           "gives sparse activations; deep networks train much faster with it.",
    "2.1": "Input x ∈ R^784 (the flattened 28×28 image). Hidden layer: z1 = W1 x + b1 with W1 ∈ R^{128×784}, b1 ∈ R^128, a1 = ReLU(z1) = "
           "max(0, z1). Output layer: z2 = W2 a1 + b2 with W2 ∈ R^{10×128}, b2 ∈ R^10, ŷ = softmax(z2), softmax(z)_k = e^{z_k} / Σ_j e^{z_j}. "
           "So ŷ = softmax(W2 · ReLU(W1 x + b1) + b2).",
    "2.2": "With one-hot labels y^(n): L(W1,b1,W2,b2) = -(1/N) Σ_n Σ_{k=1}^{10} y_k^(n) log ŷ_k^(n) = -(1/N) Σ_n log ŷ_{c_n}^(n), where c_n "
           "is the true class; substituting ŷ: L = (1/N) Σ_n [ -z2_{c_n}^(n) + log Σ_j exp(z2_j^(n)) ], z2 = W2 ReLU(W1 x^(n) + b1) + b2, "
           "N = 60,000.",
    "2.3": "Most misclassified digits are badly written or ambiguous: 4 vs 9, 3 vs 5, 7 vs 2, 8 vs 3, thin or rotated strokes. "
           "Normalising the inputs to zero mean / unit variance makes the optimisation better conditioned; the test accuracy improves slightly.",
    "3.1": "Layers: convolution (learned K×K filters, weight sharing), pooling (max / average, downsampling), fully connected layers at "
           "the end. Filter size: small (3×3, 5×5) kernels stacked to grow the receptive field. Max pooling 2×2 stride 2 halves H and W. "
           "Fully connected part: hidden units chosen by validation, ReLU activations, softmax output. Common configurations: "
           "Input → [Conv → ReLU → Pool] × n → Flatten → FC → ReLU → FC → softmax (LeNet-style), or VGG-style stacks of 3×3 convs.",
    "3.2": "Train accuracy 0.986, test accuracy 0.984 (test loss 0.05). The CNN beats the MLP (0.975) with 12× fewer parameters: "
           "convolutions share weights and exploit the spatial structure of the image.",
    "3.3": "CNN: conv1 5·5·1·10 + 10 = 260; conv2 5·5·10·20 + 20 = 5,020; fc 320·10 + 10 = 3,210; total 8,490. MLP: 784·128 + 128 = "
           "100,480; 128·10 + 10 = 1,290; total 101,770. The CNN has about 12× fewer parameters thanks to weight sharing and pooling.",
}

RESULTS_SOLUTION = """# Report your results
mlp_test_accuracy = 0.9752
cnn_test_accuracy = 0.9841
mlp_params = sum(p.numel() for p in MNISTClassifierMLP().parameters())
cnn_params = sum(p.numel() for p in CNN().parameters())
print(mlp_params, cnn_params)"""


def solution() -> nbformat.NotebookNode:
    nb = template()
    for item, text in FREE_SOLUTION.items():
        cell(nb, f"answer-{item}").source = text
    cell(nb, "mlp").source = MLP_SOLUTION
    cell(nb, "loops").source = LOOPS_SOLUTION
    cell(nb, "train-mlp").source = TRAIN.format(cls="MNISTClassifierMLP", opt="Adam").replace("lr = 0.01", "lr = 0.001")
    run_outputs(cell(nb, "train-mlp"), "Train accuracy: 0.9871\nTest accuracy: 0.9752\n")
    cell(nb, "inspection").source = INSPECTION
    run_outputs(cell(nb, "inspection"), images=3)
    cell(nb, "cnn").source = CNN_SOLUTION
    cell(nb, "train-cnn").source = TRAIN.format(cls="CNN", opt="Adam").replace("lr = 0.01", "lr = 0.001")
    run_outputs(cell(nb, "train-cnn"), "Train accuracy: 0.9863\nTest accuracy: 0.9841\n")
    cell(nb, "results").source = RESULTS_SOLUTION
    return nb


def seed_student() -> nbformat.NotebookNode:
    """The seed's answers and mistakes (graded 100/100 by hand): the MLP and CNN as handed in,
    claimed accuracies 0.967 / 0.954 (the CNN is *worse* than the MLP, though the write-up calls
    it 'slightly better'), m = 50,000 training samples in 2.2, 'sigmoid' named for the softmax
    output in 2.1, and 8480 / 100,770 in the final comparison."""
    nb = template()
    free = {
        "1.1": "CNNs capture invariant properties like translational and rotational invariance due to the pooling layers. The convolution "
               "C_ij = Σ_{p,q} I_{i-p,j-q} K_{p,q} of an image translated by (k, l) is the convolution shifted by (k, l); the pooling then "
               "maps every translation within its receptive field to the same pixel. This is what introduces translation invariance, and "
               "the same logic translates to other invariances.",
        "1.2": "Batch normalization normalizes the contributions to a layer for every mini-batch. This stabilises learning and drastically "
               "decreases the number of training epochs. The distribution of the inputs to deep layers changes after each mini-batch when "
               "the weights are updated, so the learning algorithm pursues a moving target; this is called internal covariate shift. "
               "Batch normalization reparameterizes the network and reduces the problem of coordinating updates across many layers.",
        "1.3": "If training and test distributions differ we can expect a high loss and poor performance on the test set: the network "
               "generalises to points drawn from the training distribution only. Mitigation: make sure data from the test distribution is "
               "also present in training, shuffle data from the different distributions into train/test (/validation), and augment the "
               "distribution with few samples to reduce the imbalance.",
        "1.4": "The sigmoid saturates: its gradient tends to 0 for large positive or negative inputs, which causes vanishing gradients when "
               "gradients are multiplied in backprop. ReLU's gradient is 1 for positive inputs, so it does not saturate there. This is "
               "why ReLU is used in hidden layers instead of sigmoid.",
        "2.1": "w_1, b_1: weights and bias of layer 1; w_2, b_2 of layer 2. z_1 = w_1·x + b_1 with x the 28×28 input. ReLU for "
               "non-linearity: g_1(z) = max(0, z), a_1 = g_1(w_1·x + b_1) is the input of the second layer: z_2 = a_1·w_2 + b_2. "
               "The output of layer 2 goes through the sigmoid function for the final prediction: g_2(z) = e^{z_i} / Σ_j e^{z_j}, "
               "y_pred = g_2(w_2 × g_1(w_1 x + b_1) + b_2), where g_2 and g_1 are softmax and ReLU.",
        "2.2": "Cross entropy: -Σ_{i=1}^{10} y_i log(y_pred,i) for the 10 classes; over the m = 50,000 training samples: "
               "Σ_{j=1}^{m} [ -Σ_{i=1}^{10} y_(i) log(y_pred(i)) ] with y_pred = g_2(w_2 g_1(w_1 x + b_1) + b_2), g_2 softmax, g_1 ReLU.",
        "2.3": "Prediction 5 / label 9, prediction 9 / label 4, prediction 3 / label 5, prediction 8 / label 3: mostly digits with similar "
               "strokes.",
        "3.1": "Layers: convolutional, pooling, fully connected. Filter size: a window (kernel) that scans the image; filters learn arcs, "
               "lines, diagonals. Max pooling takes the max over each grid cell to reduce dimensionality. Hidden units: 2/3 of the input "
               "plus the output size, or less than twice the input. Activations: linear, sigmoid, tanh, ReLU, softmax. Common "
               "configurations: Input → Conv → Activation → FC → O/P; Input → (Conv → Max/Avg Pool) × 2 or more → Activation → FC → O/P; "
               "Input → (Conv + same/valid padding → Pool) × 3 or more → Activation → FC → O/P.",
        "3.2": "The train accuracy is 0.96 and the test accuracy is 0.957. Train loss is 0.0015 and test loss is 0.122. Compared to the "
               "feed-forward network the test accuracy is only slightly better since the data set is simple and has one channel, though "
               "the CNN needs far fewer parameters.",
        "3.3": "CNN: w1 5×5×1×10 = 250, b1 10, w2 5×5×10×20 = 5000, b2 20, w3 10×320 = 3200, b3 10: total 8,490. FNN: w1 128×784 = "
               "100,352, b1 128, w2 10×128 = 1280, b2 10: total 101,770. The number of parameters of the CNN (8480) is significantly "
               "less than that of the FNN (100,770) due to parameter sharing and the reduced dimensions after convolution and max pooling.",
    }
    for item, text in free.items():
        cell(nb, f"answer-{item}").source = text
    cell(nb, "mlp").source = MLP_SOLUTION.replace(
        "        x = self.flatten(x)\n        x = self.act(self.fc1(x))\n        return self.log_softmax(self.fc2(x))",
        "        x = self.flatten(x)\n        x = self.flatten(x)\n        x = self.fc1(x)\n        x = self.act(x)\n"
        "        x = self.fc2(x)\n        x = self.log_softmax(x)\n        y_output = x\n        return y_output")
    cell(nb, "loops").source = LOOPS_SOLUTION
    cell(nb, "train-mlp").source = TRAIN.format(cls="MNISTClassifierMLP", opt="Adam")
    run_outputs(cell(nb, "train-mlp"), "Train accuracy: 0.98\nTest accuracy: 0.967\n")
    cell(nb, "inspection").source = INSPECTION.replace("f'Prediction: {pred[i].item()}'", "f'Label: {labels[i]}'")
    run_outputs(cell(nb, "inspection"), images=3)
    cell(nb, "cnn").source = CNN_SEED
    cell(nb, "train-cnn").source = TRAIN.format(cls="CNN", opt="SGD")
    run_outputs(cell(nb, "train-cnn"), "Epochs: 100% 10/10 [03:11<00:00, 19.18s/it]\nTest accuracy: 0.954\n")
    cell(nb, "results").source = ("# Report your results\nmlp_test_accuracy = 0.967\ncnn_test_accuracy = 0.954\n"
                                  "mlp_params = 101770\ncnn_params = 8490")
    return nb


def sigmoid_student() -> nbformat.NotebookNode:
    """Different mistakes: sigmoid hidden units in the MLP (the rubric's 'should use relu'),
    biases left out of the parameter counts (8,450 / 101,632), no inspection plots, a CNN
    whose claimed accuracy is below the target."""
    nb = solution()
    cell(nb, "mlp").source = MLP_SOLUTION.replace("nn.ReLU()", "nn.Sigmoid()")
    cell(nb, "answer-2.1").source = ("z1 = W1 x + b1, a1 = σ(z1) with the sigmoid σ(z) = 1/(1+e^{-z}); z2 = W2 a1 + b2; ŷ = softmax(z2). "
                                     "W1 is 128×784, W2 is 10×128.")
    cell(nb, "inspection").source = "# Part 4: inspection\n# TODO"
    cell(nb, "inspection").outputs = []
    run_outputs(cell(nb, "train-cnn"), "Train accuracy: 0.951\nTest accuracy: 0.942\n")
    cell(nb, "results").source = ("# Report your results\nmlp_test_accuracy = 0.9612\ncnn_test_accuracy = 0.942\n"
                                  "mlp_params = 784 * 128 + 128 * 10\ncnn_params = 5 * 5 * 10 + 5 * 5 * 10 * 20 + 320 * 10")
    cell(nb, "answer-3.3").source = "CNN: 250 + 5000 + 3200 = 8450 weights; MLP: 100352 + 1280 = 101632. The CNN has fewer."
    return nb


def main() -> None:
    publish("ds5220-hw4", template(), solution(), {
        "seed-student/hw4.ipynb": seed_student(),
        "sigmoid-student.ipynb": sigmoid_student(),
    })

if __name__ == "__main__":
    main()
