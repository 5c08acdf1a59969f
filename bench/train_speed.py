"""One epoch of a seed-style CNN: grader's trainer vs the canonical student loop.

The model is the TMU HW4 student's CNN on 14x14 images. Both runs start from
the same initial weights, train on the same images with the same
normalisation, optimizer (Adam, lr 1e-3), batch size (64) and thread count;
only the data path and the loop differ:

* canonical: ``datasets.<MNIST|FashionMNIST>(root, train=True, download=True,
  transform=Compose([Resize((14,14)), ToTensor(), Normalize(m, s)]))`` +
  ``DataLoader(batch_size=64, shuffle=True)`` and the usual loop;
* grader: ``grader.training.prepare`` (whole-tensor resize + normalise, once)
  + ``train_and_predict`` (mini-batches indexed from one tensor).

    .venv/bin/python bench/train_speed.py --dataset fashion-mnist --epochs 1
    .venv/bin/python bench/train_speed.py --dataset mnist            # 4,000-image subset
    .venv/bin/python bench/train_speed.py --limit 10000

Times are wall-clock on this machine; nothing here asserts on them.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grader import datasets as gds  # noqa: E402
from grader.training import TrainProtocol, prepare, score_predictions, select_indices, train_and_predict  # noqa: E402


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3)
        self.conv2 = nn.Conv2d(16, 32, 3)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(800, 128)
        self.dropout2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def canonical(root: Path, dataset: str, mean, std, indices, epochs: int, batch_size: int, init_state, seed: int):
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST}[dataset]
    tf = transforms.Compose([transforms.Resize((14, 14)), transforms.ToTensor(), transforms.Normalize(mean, std)])
    t_load = time.perf_counter()
    train = cls(str(root), train=True, download=True, transform=tf)
    test = cls(str(root), train=False, download=True, transform=tf)
    load_s = time.perf_counter() - t_load
    if indices is not None:
        train = Subset(train, indices.tolist())
    torch.manual_seed(seed)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True)
    model = Net()
    model.load_state_dict(init_state)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            opt.zero_grad()
            loss = F.nll_loss(model(x), y)
            loss.backward()
            opt.step()
    train_s = time.perf_counter() - t0
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in DataLoader(test, batch_size=1000):
            correct += int((model(x).argmax(1) == y).sum())
    return len(train), load_s, train_s, correct / len(test)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="fashion-mnist", choices=["mnist", "fashion-mnist"])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=None, help="train on N images (same seeded subset for both)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None, help="torch threads for both runs (default: grader's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", type=Path, default=None, help="data root (default: $GRADER_DATA or ~/.cache/grader/data)")
    ap.add_argument("--repeat", type=int, default=1, help="alternate the two runs R times; report medians")
    ap.add_argument("--skip-canonical", action="store_true")
    args = ap.parse_args()

    from grader.training.harness import default_threads

    threads = args.threads or default_threads()
    torch.set_num_threads(threads)
    root = (args.root or gds.default_data_root()).expanduser().resolve()
    staged = gds.stage(args.dataset, root)
    if not staged.available:
        sys.exit(staged.message)
    mean, std = gds.mean_std(args.dataset, root, train=True, resize=14)
    _, labels = gds.load_tensors(args.dataset, root, train=True)
    indices = select_indices(labels, args.limit, None, 0)

    torch.manual_seed(args.seed)
    init_state = {k: v.clone() for k, v in Net().state_dict().items()}

    def factory() -> nn.Module:
        m = Net()
        m.load_state_dict(init_state)
        return m

    protocol = TrainProtocol(
        dataset=args.dataset, resize=14, normalize=[list(mean), list(std)], train_subset=args.limit,
        epochs=args.epochs, batch_size=args.batch_size, optimizer="adam", lr=1e-3, loss="nll", seed=args.seed,
    )
    print(f"data: {args.dataset} ({'full' if staged.full else 'subset'}: {staged.source}); "
          f"mean={mean[0]:.4f} std={std[0]:.4f} at 14x14; threads={threads}; epochs={args.epochs}")

    t0 = time.perf_counter()
    data = prepare(protocol, root)
    prep_s = time.perf_counter() - t0
    n = data.meta["n_train"]
    print(f"grader prepare: {prep_s:.2f}s for {n} train + {data.meta['n_test']} test images")

    # Alternate the two runs so background load on a shared machine hits both alike.
    g_times, c_times = [], []
    for r in range(args.repeat):
        out = train_and_predict(factory, data, protocol, threads=threads)
        g_times.append(out.seconds)
        acc = score_predictions(out.predictions, data.test_y)
        print(f"  run {r + 1}: grader    train {out.seconds:6.2f}s -> {n * out.epochs_done / out.seconds:8,.0f} images/s; "
              f"test acc {acc:.4f}; device {out.device}")
        if args.skip_canonical:
            continue
        torch.set_num_threads(threads)
        n_c, load_s, train_s, acc_c = canonical(root, args.dataset, mean, std, indices, args.epochs, args.batch_size,
                                                init_state, args.seed)
        c_times.append(train_s)
        print(f"  run {r + 1}: canonical train {train_s:6.2f}s -> {n_c * args.epochs / train_s:8,.0f} images/s; "
              f"test acc {acc_c:.4f} (dataset objects {load_s:.2f}s)")

    g = statistics.median(g_times)
    g_ips = n * args.epochs / g
    g_ips_all = n * args.epochs / (g + prep_s)
    print(f"grader    (median of {len(g_times)}): {g_ips:,.0f} images/s training loop, {g_ips_all:,.0f} images/s incl. prepare")
    if c_times:
        c = statistics.median(c_times)
        c_ips = n * args.epochs / c
        print(f"canonical (median of {len(c_times)}): {c_ips:,.0f} images/s")
        print(f"speed-up: {g_ips / c_ips:.2f}x training loop, {g_ips_all / c_ips:.2f}x including grader's prepare")


if __name__ == "__main__":
    main()
