"""app/workers.py: trainings wait for a free trainer only when all are taken, and a page that ends while its
training waits cancels it."""

import threading

import pytest

import mnist_cnn
from app import workers


@pytest.fixture
def pool(monkeypatch):
    """A pool of two trainers of its own, so other tests' jobs cannot interfere."""
    mine = workers.Pool(2)
    monkeypatch.setattr(workers, "trainers", lambda: mine)
    return mine


def tiny(small):
    return {"data": (small[0][0][:256], small[0][1][:256])}


def test_an_idle_pool_never_says_other_visitors_are_training(pool, small):
    """Right after submit the job may not have started yet: that is no reason to say the workers are busy."""
    for _ in range(200):
        job, queued = pool.submit(lambda: None)
        job.result()
        assert not queued
    waited, shown = [], []
    model = mnist_cnn.build_model("default", seed=0)
    workers.train(model, shown.append, waited.append, mnist_cnn.Curve(), **tiny(small))
    assert not waited and shown and shown[-1].epoch_logs is not None


def test_a_training_waits_only_when_every_worker_is_taken(pool, small):
    release = threading.Event()
    busy = [pool.submit(release.wait)[0] for _ in range(pool.size)]
    assert pool.submit(lambda: None)[1]  # a third job is queued
    waited = []

    def waiting(seconds):
        waited.append(seconds)
        if len(waited) == 3:
            release.set()

    model = mnist_cnn.build_model("default", seed=0)
    workers.train(model, lambda snapshot: None, waiting, mnist_cnn.Curve(), **tiny(small))
    assert len(waited) >= 3 and waited == sorted(waited) and all(job.done() for job in busy)
    assert mnist_cnn.epochs_trained(model) == 1


class Stopped(Exception):
    """What Streamlit raises in a page's st call when the visitor presses Stop or leaves the page."""


def test_stop_while_waiting_for_a_worker_cancels_the_training(pool, small, monkeypatch):
    release = threading.Event()
    busy = [pool.submit(release.wait)[0] for _ in range(pool.size)]
    started = []
    monkeypatch.setattr(mnist_cnn, "train", lambda *args, **kwargs: started.append(args))

    def waiting(seconds):
        raise Stopped  # the page's "still waiting" notice is the st call that sees the Stop

    model = mnist_cnn.build_model("default", seed=0)
    with pytest.raises(Stopped):
        workers.train(model, lambda snapshot: None, waiting, mnist_cnn.Curve(), **tiny(small))
    release.set()
    for job in busy:
        job.result()
    pool.submit(lambda: None)[0].result()  # the pool still works, and the cancelled job never ran
    assert not started and mnist_cnn.epochs_trained(model) == 0
