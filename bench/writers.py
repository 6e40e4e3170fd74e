"""A model read by synthetic writers: per-digit accuracy on a pool of them (mnist_cnn.styles.writer_pool).

    python bench/writers.py [MODEL] [--writers 40] [--per-digit 10] [--seed 0] [--styles]

Each writer keeps one set of conventions (flagged 1s, crossed 7s drawn with or without lifting the pen, straight
9s, one-stroke 5s, open 4s, ...) and a personal slant, size, pen, jitter and tablet speed, so the pool measures what
teaching a model someone's handwriting is for, the way the hidden set of real tablet writers does. MODEL is a
`.keras` file (default: the shipped model). `--styles` also prints the accuracy per (digit, style).
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import numpy as np

import mnist_cnn
from mnist_cnn import styles

SHIPPED = Path(__file__).resolve().parent.parent / "models" / "mnist_cnn.keras"
WRITERS, PER_DIGIT, SEED = 40, 10, 0  # the pool measured in the report: 4,000 drawings, about 20 s on 2 cores


def accuracy(model, writers=WRITERS, per_digit=PER_DIGIT, seed=SEED):
    """(overall accuracy, per-digit accuracy (10,), per-style {(digit, style): (correct, count)}) on the pool."""
    x, y, ids = styles.writer_pool(writers, per_digit, seed)
    right = mnist_cnn.predict_proba(model, x).argmax(axis=1) == y
    per_digit_acc = np.array([right[y == d].mean() for d in range(10)])
    rng = np.random.default_rng(seed)  # the pool's own writers, drawn again in the same order
    pool = [styles.writer(rng) for _ in range(writers)]
    by_style = {}
    for ok, digit, who in zip(right, y, ids, strict=True):
        key = (int(digit), pool[who].styles[digit])
        correct, count = by_style.get(key, (0, 0))
        by_style[key] = (correct + int(ok), count + 1)
    return float(right.mean()), per_digit_acc, by_style


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=str(SHIPPED), help="a .keras file (default: the shipped model)")
    parser.add_argument("--writers", type=int, default=WRITERS)
    parser.add_argument("--per-digit", type=int, default=PER_DIGIT, help="drawings of each digit by each writer")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--styles", action="store_true", help="also the accuracy per (digit, style)")
    args = parser.parse_args(argv)
    model = mnist_cnn.load_model(args.model)
    overall, per_digit, by_style = accuracy(model, args.writers, args.per_digit, args.seed)
    print(f"{args.writers} writers x {args.per_digit} drawings per digit, seed {args.seed}: {overall:.1%}")
    print(" ".join(f"{d}: {a:.0%}" for d, a in enumerate(per_digit)))
    if args.styles:
        for (digit, style), (correct, count) in sorted(by_style.items()):
            print(f"  {digit} {style:<14} {correct / count:6.1%}  of {count}")


if __name__ == "__main__":
    main()
