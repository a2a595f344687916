"""Hyperparameter tuning: a grid of SVM fits fanned out with `.product`, the best model picked
by a fan-in, and a wider second grid that re-uses every branch the first one already ran.

python examples/hyperparameter_tuning/tune.py                      # 4 x 4 grid, then 6 x 4
python examples/hyperparameter_tuning/tune.py --compare            # threads vs processes
python examples/hyperparameter_tuning/tune.py --samples 300 --c 2 --gamma 2   # tiny (CI)
python examples/hyperparameter_tuning/tune.py --compare --model mlp   # many small NumPy calls
python examples/hyperparameter_tuning/tune.py --compare --model perceptron   # pure Python
python examples/hyperparameter_tuning/tune.py --compare --orchestrators local,processes,dask
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from fanflow import pipeline, step, unmapped

C_VALUES = [0.1, 1.0, 10.0, 100.0, 0.01, 1000.0]
GAMMA_VALUES = [0.0001, 0.0003, 0.001, 0.003]


@dataclass
class Perceptron:
    """A multi-class perceptron trained in pure Python.

    It stands for the work that holds the GIL all the time — feature code written in Python,
    simulators, models without a C core — the case where worker processes beat threads.
    `margin` (the grid's C) is how far the true class must lead before a sample stops
    updating the weights; `decay` (the grid's gamma) shrinks the weights after every epoch.
    """

    weights: list[list[float]]
    margin: float
    decay: float

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray, margin: float, decay: float, epochs: int = 4
    ) -> Perceptron:
        rows = (x / 16.0).tolist()
        labels = y.tolist()
        classes = int(max(labels)) + 1
        weights = [[0.0] * len(rows[0]) for _ in range(classes)]
        for _ in range(epochs):
            for row, label in zip(rows, labels, strict=True):
                scores = [sum(w * v for w, v in zip(ws, row, strict=True)) for ws in weights]
                rival = max((k for k in range(classes) if k != label), key=scores.__getitem__)
                if scores[label] - scores[rival] < margin:
                    weights[label] = [w + v for w, v in zip(weights[label], row, strict=True)]
                    weights[rival] = [w - v for w, v in zip(weights[rival], row, strict=True)]
            weights = [[w * (1.0 - decay) for w in ws] for ws in weights]
        return cls(weights, margin, decay)

    def score(self, x: np.ndarray, y: np.ndarray) -> float:
        right = 0
        for row, label in zip((x / 16.0).tolist(), y.tolist(), strict=True):
            scores = [sum(w * v for w, v in zip(ws, row, strict=True)) for ws in self.weights]
            right += max(range(len(scores)), key=scores.__getitem__) == label
        return right / len(y)


Model = SVC | MLPClassifier | Perceptron


@step
def load_data(samples: int) -> tuple[
    Annotated[np.ndarray, "x_train"],
    Annotated[np.ndarray, "y_train"],
    Annotated[np.ndarray, "x_valid"],
    Annotated[np.ndarray, "y_valid"],
]:
    """scikit-learn's bundled 8x8 digits (1797 images); no download."""
    x, y = load_digits(return_X_y=True)
    x, y = x[:samples], y[:samples]
    x_train, x_valid, y_train, y_valid = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y
    )
    return x_train, y_train, x_valid, y_valid


@step
def train(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    c: float,
    gamma: float,
    repeats: int = 1,
    model_kind: str = "svm",
) -> tuple[Annotated[Model, "model"], Annotated[float, "score"]]:
    """One grid point: fit a model and score it on the validation split.

    "svm" is an RBF SVM (C, gamma); libsvm's fit runs in C. "mlp" is a small neural network
    trained in minibatches of 16 (alpha = c, learning rate = 10 x gamma): many short NumPy calls,
    so Python holds the GIL for much of the fit. "perceptron" is pure Python (margin = c,
    decay = gamma): it holds the GIL throughout. `repeats` refits the same model to make the
    step heavier for speed comparisons.
    """
    if model_kind == "perceptron":
        model = Perceptron.fit(x_train, y_train, margin=c, decay=gamma)
        for _ in range(repeats - 1):
            model = Perceptron.fit(x_train, y_train, margin=c, decay=gamma)
        return model, model.score(x_valid, y_valid)
    if model_kind == "mlp":
        model = MLPClassifier(
            hidden_layer_sizes=(32,), alpha=c, learning_rate_init=10 * gamma,
            batch_size=16, max_iter=15, random_state=0,
        )
    else:
        model = SVC(C=c, gamma=gamma)
    for _ in range(repeats):
        model.fit(x_train, y_train)
    return model, float(model.score(x_valid, y_valid))


@step
def pick_best(
    models: list[Model], scores: list[float]
) -> tuple[Annotated[Model, "best_model"], Annotated[dict, "best"]]:
    """The fan-in: every branch's model and score, in grid order; keep the best."""
    best = int(np.argmax(scores))
    model = models[best]
    if isinstance(model, Perceptron):
        params = {"C": model.margin, "gamma": model.decay}
    elif isinstance(model, MLPClassifier):
        params = {"C": model.alpha, "gamma": model.learning_rate_init / 10}
    else:
        params = {"C": model.C, "gamma": model.gamma}
    return model, {**params, "score": scores[best]}


@pipeline(dynamic=True)
def tuning(
    c_values: list[float],
    gamma_values: list[float],
    samples: int = 1797,
    repeats: int = 1,
    model_kind: str = "svm",
) -> None:
    x_train, y_train, x_valid, y_valid = load_data(samples)
    results = train.product(
        x_train=unmapped(x_train),
        y_train=unmapped(y_train),
        x_valid=unmapped(x_valid),
        y_valid=unmapped(y_valid),
        c=c_values,
        gamma=gamma_values,
        repeats=unmapped(repeats),
        model_kind=unmapped(model_kind),
    )
    models, scores = results.unpack()
    pick_best(models, scores)


def count_statuses(run) -> dict[str, int]:
    """How many `train` branches ran and how many came from the cache."""
    counts: dict[str, int] = {}
    for step_run in run.steps.values():
        if step_run.step_name == "train":
            counts[step_run.status.value] = counts.get(step_run.status.value, 0) + 1
    return counts


def search(args: argparse.Namespace) -> None:
    narrow = C_VALUES[: args.c]
    wide = C_VALUES[: args.c + 2]
    gammas = GAMMA_VALUES[: args.gamma]
    for label, c_values in (("first grid", narrow), ("wider grid", wide)):
        started = time.perf_counter()
        run = tuning.with_options(orchestrator=args.orchestrator)(
            c_values=c_values, gamma_values=gammas, samples=args.samples, model_kind=args.model
        )
        seconds = time.perf_counter() - started
        best = run.steps["pick_best"].outputs["best"][0].load()
        model = run.steps["pick_best"].outputs["best_model"][0].load()
        print(
            f"{label}: {len(c_values)} x {len(gammas)} = {len(c_values) * len(gammas)} fits, "
            f"train branches {count_statuses(run)}, {seconds:.2f} s"
        )
        print(
            f"  best C={best['C']} gamma={best['gamma']} validation accuracy "
            f"{best['score']:.3f} ({type(model).__name__} loaded from the store)"
        )


def compare(args: argparse.Namespace) -> None:
    """The same uncached grid under each orchestrator, plus the bare cost of process workers."""
    c_values = C_VALUES[: args.c]
    gammas = GAMMA_VALUES[: args.gamma]
    timings: dict[str, float] = {}
    for orchestrator in args.orchestrators.split(","):
        configured = tuning.with_options(
            orchestrator=orchestrator, enable_cache=False, max_parallelism=args.workers
        )
        started = time.perf_counter()
        configured(  # start-up: one tiny fit
            c_values=[1.0], gamma_values=[0.001], samples=60, repeats=1, model_kind=args.model
        )
        startup = time.perf_counter() - started
        started = time.perf_counter()
        configured(
            c_values=c_values,
            gamma_values=gammas,
            samples=args.samples,
            repeats=args.repeats,
            model_kind=args.model,
        )
        timings[orchestrator] = time.perf_counter() - started
        print(
            f"{orchestrator:>9}: {args.model} grid of {len(c_values) * len(gammas)} fits "
            f"x {args.repeats} in {timings[orchestrator]:.2f} s (a one-fit run: {startup:.2f} s)"
        )
    if "local" in timings:
        for orchestrator, seconds in timings.items():
            if orchestrator != "local":
                print(f"speed-up of {orchestrator} over threads: {timings['local'] / seconds:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1797, help="digits to use (max 1797)")
    parser.add_argument("--c", type=int, default=4, help="values of C in the first grid")
    parser.add_argument("--gamma", type=int, default=4, help="values of gamma")
    parser.add_argument("--orchestrator", default="local", help="local, processes or dask")
    parser.add_argument("--model", choices=["svm", "mlp", "perceptron"], default="svm")
    parser.add_argument("--compare", action="store_true", help="time threads against processes")
    parser.add_argument("--orchestrators", default="local,processes")
    parser.add_argument("--repeats", type=int, default=3, help="fits per branch in --compare")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="parallel steps in --compare"
    )
    args = parser.parse_args()
    if args.compare:
        compare(args)
    else:
        search(args)


if __name__ == "__main__":
    main()
