"""Fast, deterministic, label-blind retraining of student models.

``prepare`` builds the data once (whole-tensor resize + normalise),
``train_and_predict`` trains a fresh model and returns test predictions only,
``score_predictions`` compares them with the labels the caller kept.
``python -m grader.training.worker REQUEST.json`` is the sandboxed entry point.
"""
from .cache import ResultCache, cache_key
from .harness import (
    PreparedData,
    TrainOutcome,
    default_threads,
    detect_loss,
    predict,
    prepare,
    score_predictions,
    select_indices,
    train_and_predict,
)
from .plot import loss_curve_png
from .protocol import TrainProtocol

__all__ = [
    "PreparedData", "ResultCache", "TrainOutcome", "TrainProtocol", "cache_key", "default_threads",
    "detect_loss", "loss_curve_png", "predict", "prepare", "score_predictions", "select_indices",
    "train_and_predict",
]
