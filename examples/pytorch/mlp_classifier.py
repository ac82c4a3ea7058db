"""An MLP classifier: nn.CrossEntropyLoss, shuffled mini-batches, optim.Adam with a StepLR
schedule, and a state_dict checkpoint saved to a file and loaded into a fresh model."""

import os
import tempfile

import numpy as np

import dualjit as torch  # the only change from the PyTorch program: import torch


def make_data(n=1200, classes=3, seed=0):
    """Three interleaved spiral arms in the plane (float32 features, int64 labels)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    r = rng.random(n)
    angle = labels * 2 * np.pi / classes + r * 3.0 + rng.normal(0, 0.15, n)
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(labels)


class MLP(torch.nn.Module):
    def __init__(self, hidden=64, classes=3):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(2, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, classes))

    def forward(self, x):
        return self.layers(x)


def build():
    torch.manual_seed(0)
    return MLP()


def train(model, epochs=12, batch_size=64, seed=1):
    x, labels = make_data()
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)
    order = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        model.train()
        permutation = torch.from_numpy(order.permutation(len(labels)))
        total = 0.0
        for start in range(0, len(labels), batch_size):
            batch = permutation[start:start + batch_size]
            loss = loss_fn(model(x[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        scheduler.step()
        losses.append(total / len(labels))
    return losses


def accuracy(model, x, labels):
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(dim=1) == labels).float().mean().item()


def main(epochs=12):
    model = build()
    losses = train(model, epochs)
    x, labels = make_data()
    acc = accuracy(model, x, labels)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "mlp.pt")
        torch.save({"model": model.state_dict(), "epochs": epochs, "loss": losses[-1]}, path)
        checkpoint = torch.load(path)
    restored = MLP()
    restored.load_state_dict(checkpoint["model"])
    assert accuracy(restored, x, labels) == acc and checkpoint["epochs"] == epochs
    print(f"final loss {losses[-1]:.4f}, accuracy {acc:.3f} (restored from the checkpoint too)")
    assert losses[-1] < 0.35 and acc > 0.88
    return losses


if __name__ == "__main__":
    main()
