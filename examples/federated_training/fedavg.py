"""Data-parallel training, federated-averaging style: each shard of the data trains a softmax
classifier from the current global weights in its own branch, and a fan-in averages the
branches' weights (weighted by shard size) into the next round's global model. NumPy only.

python examples/federated_training/fedavg.py                       # 8 shards, 10 rounds
python examples/federated_training/fedavg.py --shards 2 --rounds 2 # tiny
python examples/federated_training/fedavg.py --backend torch        # local updates in PyTorch

PyTorch is optional (`pip install -r examples/federated_training/requirements-torch.txt`);
the weights still travel between steps as NumPy arrays, so the fan-in is the same.
"""

from __future__ import annotations

import argparse
from typing import Annotated

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from fanflow import pipeline, step, unmapped

CLASSES = 10


def _split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    x = np.hstack([x / 16.0, np.ones((len(x), 1))])  # scale pixels, add a bias column
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@step
def initial_weights() -> Annotated[np.ndarray, "weights"]:
    return np.zeros((65, CLASSES))


def _train_numpy(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray, epochs: int, learning_rate: float
) -> np.ndarray:
    targets = np.eye(CLASSES)[y]
    local = weights.copy()
    for _ in range(epochs):
        gradient = x.T @ (_softmax(x @ local) - targets) / len(x)
        local -= learning_rate * gradient
    return local


def _train_torch(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray, epochs: int, learning_rate: float
) -> np.ndarray:
    import torch  # optional: only this backend needs it

    inputs = torch.from_numpy(x)
    labels = torch.from_numpy(y).long()
    local = torch.tensor(weights, requires_grad=True)
    optimizer = torch.optim.SGD([local], lr=learning_rate)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(inputs @ local, labels)
        loss.backward()
        optimizer.step()
    return local.detach().numpy()


@step
def local_update(
    shard: int,
    shards: int,
    weights: np.ndarray,
    epochs: int,
    learning_rate: float,
    backend: str = "numpy",
) -> tuple[Annotated[np.ndarray, "weights"], Annotated[int, "samples"]]:
    """One client: a few epochs of full-batch gradient descent on its own shard only."""
    x_train, _, y_train, _ = _split()
    x, y = x_train[shard::shards], y_train[shard::shards]
    train = _train_torch if backend == "torch" else _train_numpy
    return train(x, y, weights, epochs, learning_rate), len(x)


@step
def federated_average(
    weights: list[np.ndarray], samples: list[int]
) -> Annotated[np.ndarray, "weights"]:
    """The fan-in: every shard's weights, averaged in proportion to its number of samples."""
    return np.average(np.stack(weights), axis=0, weights=np.asarray(samples, dtype=float))


@step
def evaluate(weights: np.ndarray) -> Annotated[float, "accuracy"]:
    _, x_test, _, y_test = _split()
    return float((np.argmax(x_test @ weights, axis=1) == y_test).mean())


@pipeline(dynamic=True)
def fedavg(
    shards: int = 8,
    rounds: int = 10,
    epochs: int = 20,
    learning_rate: float = 0.5,
    backend: str = "numpy",
):
    weights = initial_weights()
    for round_number in range(1, rounds + 1):
        updates = local_update.map(
            list(range(shards)),
            shards=unmapped(shards),
            weights=unmapped(weights),
            epochs=unmapped(epochs),
            learning_rate=unmapped(learning_rate),
            backend=unmapped(backend),
        )
        local_weights, samples = updates.unpack()
        weights = federated_average(local_weights, samples)
        accuracy = evaluate(weights).load()
        print(f"round {round_number:>2}: test accuracy {accuracy:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--orchestrator", default="local")
    parser.add_argument("--backend", choices=["numpy", "torch"], default="numpy")
    args = parser.parse_args()
    fedavg.with_options(orchestrator=args.orchestrator)(
        shards=args.shards, rounds=args.rounds, epochs=args.epochs, backend=args.backend
    )


if __name__ == "__main__":
    main()
