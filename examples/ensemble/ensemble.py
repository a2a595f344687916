"""Ensemble: several model families trained side by side on one dataset; a fan-in soft-votes
their class probabilities (NumPy arrays stored as .npy artifacts).

python examples/ensemble/ensemble.py                 # all of digits (1797 images)
python examples/ensemble/ensemble.py --samples 400   # smaller
"""

from __future__ import annotations

import argparse
from typing import Annotated

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from fanflow import pipeline, step

FAMILIES = {
    "logistic_regression": lambda: make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=500)
    ),
    "svm": lambda: SVC(gamma=0.001, C=10.0, probability=True, random_state=0),
    "random_forest": lambda: RandomForestClassifier(n_estimators=100, random_state=0),
    "extra_trees": lambda: ExtraTreesClassifier(n_estimators=100, random_state=0),
    "knn": lambda: KNeighborsClassifier(n_neighbors=5),
    "naive_bayes": lambda: GaussianNB(),
}


@step
def load_data(samples: int) -> tuple[
    Annotated[np.ndarray, "x_train"],
    Annotated[np.ndarray, "y_train"],
    Annotated[np.ndarray, "x_test"],
    Annotated[np.ndarray, "y_test"],
]:
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x[:samples], y[:samples], test_size=0.3, random_state=0, stratify=y[:samples]
    )
    return x_train, y_train, x_test, y_test


@step
def train_member(
    family: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray
) -> Annotated[np.ndarray, "probabilities"]:
    """Fit one model family and return its class probabilities on the test set (n x 10)."""
    model = FAMILIES[family]()
    model.fit(x_train, y_train)
    probabilities = np.zeros((len(x_test), 10))
    probabilities[:, model.classes_] = model.predict_proba(x_test)
    return probabilities


@step
def soft_vote(
    probabilities: list[np.ndarray], families: list[str], y_test: np.ndarray
) -> Annotated[dict, "accuracy"]:
    """The fan-in: every member's probabilities, in the order the members were declared."""
    accuracy = {
        family: float((member.argmax(axis=1) == y_test).mean())
        for family, member in zip(families, probabilities, strict=True)
    }
    averaged = np.mean(probabilities, axis=0)
    accuracy["ensemble"] = float((averaged.argmax(axis=1) == y_test).mean())
    return accuracy


@pipeline
def ensemble(samples: int = 1797, families: list[str] = list(FAMILIES)) -> None:  # noqa: B006
    x_train, y_train, x_test, y_test = load_data(samples)
    members = [
        train_member(family, x_train, y_train, x_test, id=f"train_{family}")
        for family in families
    ]
    soft_vote(members, families, y_test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1797)
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args()
    run = ensemble(samples=args.samples, families=args.families.split(","))
    accuracy = run.steps["soft_vote"].output.load()
    width = max(len(name) for name in accuracy)
    for name, value in accuracy.items():
        print(f"{name:<{width}}  test accuracy {value:.3f}")


if __name__ == "__main__":
    main()
