"""The reference peer: MNIST as a reader of the notebooks writes it, kept exactly so.

    python bench/reference.py epoch [--seed S]      one epoch of model.fit; prints JSON
    python bench/reference.py predict [--calls N] [--repeats R]   model.predict on one image, then on the
                                                  test set; prints JSON

The data comes from $MNIST_NPZ (keras' mnist.npz). Nothing here uses the project's code.
"""

import argparse
import json
import os
import resource
import sys
import time

import keras
import numpy as np
from keras import layers


def load():
    with np.load(os.environ["MNIST_NPZ"]) as f:
        x_train, y_train, x_test, y_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    # scale to [0, 1] and add the channel axis
    x_train = (x_train.astype("float32") / 255).reshape(-1, 28, 28, 1)
    x_test = (x_test.astype("float32") / 255).reshape(-1, 28, 28, 1)
    return (x_train, y_train), (x_test, y_test)


def build():
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def epoch(seed):
    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load()
    model = build()
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=1)
    fit_seconds = time.perf_counter() - start
    accuracy = float(np.mean(model.predict(x_test).argmax(axis=1) == y_test))
    return {"fit_seconds": fit_seconds, "test_accuracy": accuracy}


def predict(calls, repeats):
    _, (x_test, _) = load()
    model = build()
    model.predict(x_test[0:1])  # warm-up
    times = []
    for i in range(calls):
        start = time.perf_counter()
        model.predict(x_test[i : i + 1])
        times.append(time.perf_counter() - start)
    test_set = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(x_test)
        test_set.append(time.perf_counter() - start)
    return {"predict_one_ms": [t * 1000 for t in times], "predict_test_set_seconds": test_set}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["epoch", "predict"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    stdout, sys.stdout = sys.stdout, sys.stderr  # Keras' progress bars go to stderr; the result alone to stdout
    result = epoch(args.seed) if args.what == "epoch" else predict(args.calls, args.repeats)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result), file=stdout)
