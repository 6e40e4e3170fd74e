"""Command line: python -m mnist_cnn train | evaluate | predict | teach | archs | spec | export | robustness."""

import argparse
import datetime
import json
import os
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not for the terminal

from .errors import MnistCnnError


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (MnistCnnError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)


def _parser():
    parser = argparse.ArgumentParser(prog="python -m mnist_cnn", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    p = commands.add_parser("train", help="train a model from scratch and save it")
    design = p.add_mutually_exclusive_group()
    design.add_argument("--arch", default="default", help="architecture (see `archs`); default: default")
    design.add_argument("--spec", metavar="FILE", help="a design: a JSON spec (see `spec ARCH`) instead of --arch")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, help="default: the architecture's")
    p.add_argument("--validation-split", type=float, default=0.0, help="share held out for validation; default 0")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, help="default: the architecture's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", help="mnist.npz to use (default: $MNIST_NPZ, else keras' download)")
    p.add_argument("--styles", type=int, default=0, metavar="N",
                   help="add N synthetic digits in everyday handwriting styles (mnist_cnn.styles), seeded by --seed")
    p.add_argument("--strategy", choices=["none", "mirrored", "multi-worker"], default="none",
                   help="none: one device; mirrored: every local GPU (or the CPU); multi-worker: the cluster in "
                        "$TF_CONFIG, every worker running this command (docs/distributed.md); default: none")
    p.add_argument("--collective-timeout", type=float, default=300, metavar="SECONDS",
                   help="multi-worker: give up on a worker that hangs this long (one that dies is noticed within "
                        "seconds); default 300")
    p.add_argument("--out", required=True, help="where to write the .keras file (and a .json record beside it); "
                                                "multi-worker: the chief (worker 0) writes them, the others nothing")
    p.add_argument("--json", action="store_true", help="print the result as JSON on the last line")
    p.set_defaults(run=train)

    p = commands.add_parser("evaluate", help="test loss, accuracy and per-class accuracy of a model")
    p.add_argument("model", help="a .keras file")
    p.add_argument("--data", help="mnist.npz to use (default: $MNIST_NPZ, else keras' download)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=evaluate)

    p = commands.add_parser("predict", help="classify images of digits (PNG, JPEG, ...)")
    p.add_argument("model", help="a .keras file, or `default` for the shipped model")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(run=predict)

    p = commands.add_parser("teach", help="fine-tune a model on labelled drawings (a drawings .npz) and save it")
    p.add_argument("model", help="a .keras file, or `default` for the shipped model")
    p.add_argument("drawings", nargs="?", help="a drawings .npz: images uint8 (N, 28, 28), labels uint8 (N,)")
    p.add_argument("--styles", type=int, default=0, metavar="N",
                   help="also teach N synthetic digits in everyday handwriting styles (mnist_cnn.styles), seeded by "
                        "--seed; with no drawings file, only these")
    p.add_argument("--out", required=True, help="where to write the taught .keras file (and a .json record beside it)")
    p.add_argument("--data", help="mnist.npz to replay and test on (default: $MNIST_NPZ, else keras' download)")
    p.add_argument("--epochs", type=int, help="passes over the drawings and replayed MNIST; default: teaching.EPOCHS")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the result as JSON on the last line")
    p.set_defaults(run=teach)

    p = commands.add_parser("archs", help="list the architectures")
    p.set_defaults(run=archs)

    p = commands.add_parser("spec", help="print an architecture as a design (one JSON object) to edit for --spec")
    p.add_argument("arch", help="architecture (see `archs`)")
    p.set_defaults(run=spec)

    p = commands.add_parser("robustness", help="test accuracy under rotation, shift, scale, thickness, noise, blur, "
                                               "occlusion (mnist_cnn.robustness), each over its levels")
    p.add_argument("model", help="a .keras file, or `default` for the shipped model")
    p.add_argument("--size", type=int, metavar="N", help="test images to measure on, N // 10 of each digit; "
                                                        "default: robustness.SUBSET")
    p.add_argument("--data", help="mnist.npz to use (default: $MNIST_NPZ, else keras' download)")
    p.add_argument("--json", action="store_true",
                   help="print one object: each perturbation's [level, accuracy] pairs, the clean level first")
    p.set_defaults(run=robustness)

    p = commands.add_parser("export", help="write a standalone Keras script that trains a design as `train` does")
    design = p.add_mutually_exclusive_group(required=True)
    design.add_argument("design", nargs="?", metavar="ARCH | MODEL.keras",
                        help="an architecture (see `archs`), or a .keras file of the lab whose design to export")
    design.add_argument("--spec", metavar="FILE", help="a design: a JSON spec (see `spec ARCH`)")
    p.add_argument("--out", required=True, help="where to write the script (.py)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, help="default: the design's")
    p.add_argument("--validation-split", type=float, default=0.0, help="share held out for validation; default 0")
    p.add_argument("--learning-rate", type=float, help="the rate (the one-cycle peak); default: the design's")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, help="default: the design's")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=export)
    return parser


def train(args: argparse.Namespace) -> None:
    from .data import load_mnist
    from .distributed import devices, is_chief, strategy_for, workers
    from .evaluation import evaluate as evaluate_model
    from .files import save_model
    from .models import build_model, spec_of
    from .training import train as train_model

    if args.epochs < 1:
        raise ValueError("--epochs must be at least 1")
    if not args.out.endswith(".keras"):
        raise ValueError(f"--out must end in .keras: {args.out}")
    if args.styles < 0:
        raise ValueError("--styles must be at least 0")
    if not args.collective_timeout > 0:
        raise ValueError("--collective-timeout must be more than 0 seconds")
    # first: MultiWorkerMirroredStrategy must exist before any other TensorFlow op; it waits for every worker
    strategy = strategy_for(args.strategy, timeout=args.collective_timeout)
    (x_train, y_train), (x_test, y_test) = load_mnist(args.data)
    if args.styles:
        x_train, y_train = _with_styles(x_train, y_train, args.styles, args.seed)
    model = build_model(read_spec(args.spec) if args.spec else args.arch, seed=args.seed, strategy=strategy)
    names, cluster = devices(strategy), workers(strategy)
    where = f", one of {cluster} workers" if cluster > 1 else ""
    print(f"training on {len(names)} device{'s' if len(names) > 1 else ''}: {', '.join(names)} "
          f"(strategy {args.strategy}{where})", file=sys.stderr)
    start = time.perf_counter()
    train_model(
        model, (x_train, y_train), epochs=args.epochs, batch_size=args.batch_size,
        validation_split=args.validation_split, augment=args.augment, seed=args.seed, callbacks=[_progress_callback()],
    )
    fit_seconds = time.perf_counter() - start
    if not is_chief(strategy):
        print(f"trained in {fit_seconds:.1f} s; the chief saves the model")
        return
    test = evaluate_model(model, x_test, y_test)
    save_model(model, args.out)
    result = {
        "arch": model.name,
        "spec": spec_of(model).to_dict(),
        "epochs": args.epochs,
        "seed": args.seed,
        "styles": args.styles,
        "strategy": args.strategy,
        "workers": cluster,
        "fit_seconds": round(fit_seconds, 2),
        "test_loss": round(test.loss, 5),
        "test_accuracy": round(test.accuracy, 5),
        "params": model.count_params(),
        "size_bytes": Path(args.out).stat().st_size,
        "command": "python -m mnist_cnn " + shlex.join(sys.argv[1:]),
        "date": datetime.date.today().isoformat(),
    }
    Path(args.out).with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"test accuracy {test.accuracy:.2%}, loss {test.loss:.4f}; trained in {fit_seconds:.1f} s; saved {args.out}")
    if args.json:
        print(json.dumps(result))


def _with_styles(x_train, y_train, count, seed):
    """MNIST's training set with `count` style digits added, all shuffled (a validation split takes some of each)."""
    import numpy as np

    from .styles import style_digits

    x, y = style_digits(count, seed)
    x = np.concatenate([x_train, np.round(x * 255).astype(np.uint8)])
    y = np.concatenate([y_train, y])
    order = np.random.default_rng(seed).permutation(len(x))
    return x[order], y[order]


def teach(args: argparse.Namespace) -> None:
    import numpy as np

    from .data import load_mnist
    from .files import DEFAULT_MODEL, load_model, save_model
    from .styles import style_digits
    from .teaching import load_drawings
    from .teaching import teach as teach_model

    if args.epochs is not None and args.epochs < 1:
        raise ValueError("--epochs must be at least 1")
    if not args.out.endswith(".keras"):
        raise ValueError(f"--out must end in .keras: {args.out}")
    if args.styles < 0:
        raise ValueError("--styles must be at least 0")
    if args.drawings is None and not args.styles:
        raise ValueError("give a drawings file, --styles N, or both")
    images, labels = load_drawings(Path(args.drawings)) if args.drawings else style_digits(0, args.seed)
    if args.styles:
        drawn = style_digits(args.styles, args.seed)
        images, labels = np.concatenate([images, drawn[0]]), np.concatenate([labels, drawn[1]])
    source = None if args.model == "default" else args.model
    base = Path(source or DEFAULT_MODEL).with_suffix(".json")  # the taught model's record keeps its starting one
    model = load_model(source)
    train_split, test_split = load_mnist(args.data)
    lesson = teach_model(model, images, labels, replay=train_split, test=test_split, epochs=args.epochs, seed=args.seed,
                         callbacks=[_progress_callback()])
    save_model(model, args.out)
    result = {
        "model": args.model,
        "base": json.loads(base.read_text()) if base.is_file() else None,
        "drawings": len(images),
        "styles": args.styles,
        "held_out": lesson.held_out,
        "seed": args.seed,
        "fit_seconds": round(lesson.seconds, 2),
        "drawings_accuracy_before": round(lesson.drawings_before, 5),
        "drawings_accuracy_after": round(lesson.drawings_after, 5),
        "test_accuracy_before": round(lesson.test_before, 5),
        "test_accuracy": round(lesson.test_after, 5),  # after, under the key every model's record has
        "size_bytes": Path(args.out).stat().st_size,
        "command": "python -m mnist_cnn " + shlex.join(sys.argv[1:]),
        "date": datetime.date.today().isoformat(),
    }
    Path(args.out).with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    measured = f"the {lesson.held_out} held out" if lesson.held_out else "the taught ones (too few to hold any out)"
    print(f"taught {lesson.taught} drawings in {lesson.seconds:.1f} s; saved {args.out}")
    print(f"  drawings, {measured}: {lesson.drawings_before:.2%} -> {lesson.drawings_after:.2%} right")
    print(f"  MNIST test: {lesson.test_before:.2%} -> {lesson.test_after:.2%} right")
    if args.json:
        print(json.dumps(result))


def evaluate(args: argparse.Namespace) -> None:
    from .data import load_mnist
    from .evaluation import evaluate as evaluate_model
    from .files import load_model

    model = load_model(args.model)
    _, (x_test, y_test) = load_mnist(args.data)
    test = evaluate_model(model, x_test, y_test)
    per_class = {str(d): round(float(a), 5) for d, a in enumerate(test.per_class)}
    if args.json:
        print(json.dumps({"test_loss": test.loss, "test_accuracy": test.accuracy, "per_class_accuracy": per_class}))
        return
    print(f"test accuracy {test.accuracy:.2%}, loss {test.loss:.4f}, {int((test.predicted != y_test).sum())} mistakes")
    for digit, accuracy in per_class.items():
        print(f"  {digit}: {accuracy:.2%}")


def predict(args: argparse.Namespace) -> None:
    from .drawing import canvas_to_mnist, read_image
    from .evaluation import predict_proba
    from .files import load_model

    model = load_model(None if args.model == "default" else args.model)
    for path in args.images:
        image = canvas_to_mnist(read_image(Path(path)))
        if image is None:
            print(f"{path}: no digit found (blank image)")
            continue
        proba = predict_proba(model, image[None])[0]
        print(f"{path}: {proba.argmax()} ({proba.max():.1%})")


def archs(args: argparse.Namespace) -> None:
    from .models import ARCHS, build_model

    for name, spec in ARCHS.items():
        print(f"{name:10} {build_model(name).count_params():>8,} params  {spec.description}")


def spec(args: argparse.Namespace) -> None:
    from .models import ARCHS

    if args.arch not in ARCHS:
        raise ValueError(f"unknown architecture {args.arch!r}; choose one of: {', '.join(ARCHS)}")
    print(json.dumps(ARCHS[args.arch].spec.to_dict(), indent=2))


def robustness(args: argparse.Namespace) -> None:
    from .data import load_mnist
    from .files import load_model
    from .robustness import PERTURBATIONS, SUBSET, robustness_curves, test_subset

    model = load_model(None if args.model == "default" else args.model)
    _, (x_test, y_test) = load_mnist(args.data)
    x, y = test_subset(x_test, y_test, SUBSET if args.size is None else args.size)
    start = time.perf_counter()
    curves = robustness_curves(model, x, y, progress=lambda done, total: print(
        f"\rlevels measured: {done}/{total}", end="", file=sys.stderr, flush=True))
    print(file=sys.stderr)
    if args.json:
        print(json.dumps(curves))
        return
    print(f"{model.name} on {len(y):,} test images ({len(y) // 10} of each digit), {time.perf_counter() - start:.1f} s")
    for name, curve in curves.items():
        levels = "  ".join(f"{level:g}: {accuracy:.1%}" for level, accuracy in curve)
        print(f"  {name} ({PERTURBATIONS[name].unit}):".ljust(36) + levels)


def export(args: argparse.Namespace) -> None:
    from .export import export_script
    from .models import ARCHS

    if not args.out.endswith(".py"):
        raise ValueError(f"--out must end in .py: {args.out}")
    if args.spec:
        design = read_spec(args.spec)
    elif args.design.endswith(".keras"):
        from .files import load_model
        from .models import spec_of

        design = spec_of(load_model(args.design))
        if design is None:
            raise ValueError(f"{args.design} holds no design (a model made outside the lab): export an ARCH or --spec")
    elif args.design in ARCHS:
        design = ARCHS[args.design].spec
    else:
        raise ValueError(f"unknown architecture {args.design!r}; choose one of: {', '.join(ARCHS)}, or a .keras file")
    script = export_script(design, epochs=args.epochs, validation_split=args.validation_split, seed=args.seed,
                           batch_size=args.batch_size, learning_rate=args.learning_rate, augment=args.augment)
    Path(args.out).write_text(script, encoding="utf-8")
    print(f"wrote {args.out}; run it with: python {shlex.quote(args.out)}")


def read_spec(path: str):
    """The design in a JSON file, checked against the server's limits (DesignError, one line, if not)."""
    from .errors import DataError
    from .spec import MAX_SPEC_BYTES, parse_spec, spec_cost

    file = Path(path)
    if not file.is_file():
        raise DataError(f"spec file not found: {path}")
    if file.stat().st_size > MAX_SPEC_BYTES:
        raise DataError(f"{path} is {file.stat().st_size:,} bytes; a spec is at most {MAX_SPEC_BYTES:,}")
    try:
        design = parse_spec(file.read_text(encoding="utf-8"))
        spec_cost(design)
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a text file") from None
    except ValueError as e:  # DesignError
        raise DataError(f"{path}: {e}") from None
    return design


def _progress_callback():
    from .training import Progress

    def show(progress):
        """One status line per epoch, redrawn as batches finish."""
        if progress.epoch_logs is None:
            line = f"batch {progress.batch}/{progress.steps}  loss {progress.curve.loss[-1]:.4f}"
            print(f"\repoch {progress.epoch + 1}  {line}", end="", file=sys.stderr, flush=True)
        else:
            metrics = "  ".join(f"{k} {v:.4f}" for k, v in progress.epoch_logs.items())
            print(f"\repoch {progress.epoch + 1}  {progress.elapsed:.1f} s  {metrics}", file=sys.stderr, flush=True)

    return Progress(show, every=0.5)
