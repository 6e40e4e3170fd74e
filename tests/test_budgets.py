"""Budgets every upload keeps (docs/bad-input.md, "Budgets"): each hostile file is read by a process that already
holds TensorFlow and the shipped model, as the app reads it (tools/budget.py), and must get its answer or its
one-line refusal while that process's peak RSS rises at most 100 MB (refusals) or 150 MB (what is read)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools import budget, hostile

REFUSED, READ = 100, 150  # MB: the budgets
# id: (kind, the file, what the answer must say, the budget); the bombs are smaller than the (same attack,
# fewer zeros: bench/run.py --only uploads measures the sizes)
CASES = {
    "npz-of-zeros": ("drawings", lambda: hostile.zeros_npz(100_000),
                     r"^refused: the drawings file: images.npy unpacks to 74.8 MB, more than", REFUSED),
    "npz-member-lies-about-its-size": ("drawings", hostile.lying_npz,
                                       r"^refused: the drawings file is not a readable .npz file \(images.npy: .*CRC",
                                       REFUSED),
    "npz-inside-npz": ("drawings", hostile.nested_npz, r"^refused: .*images.npy: .*magic string", REFUSED),
    "npz-of-60000-members": ("drawings", lambda: hostile.many_members_npz(60_000),
                             r"^refused: the drawings file holds 3 files or more; a drawings .npz file holds at most 2",
                             REFUSED),
    "npz-zip64-end-record-lies": ("drawings", hostile.zip64_lie, r"^refused: the drawings file is a zip64 archive",
                                  REFUSED),
    "keras-dense-of-3-million-units": ("model", lambda: hostile.wide_dense(3_000_000),
                                       r"^refused: .*2,385,000,010 parameters, at most 1,000,000 \(layer 'hidden'",
                                       REFUSED),
    "keras-1500-layers": ("model", lambda: hostile.deep(1500), r"^refused: .*more than 64 layers", REFUSED),
    "keras-undeclared-dataset-of-400-MB": ("model", lambda: hostile.undeclared_dataset(100_000_000),
                                           r"'/layers/dense/vars/0' has shape \(100000000,\), which no layer of its "
                                           r"config makes", REFUSED),
    "keras-h5-huge-compressed-chunks": ("model", lambda: hostile.huge_chunks(2**24),
                                        r"stored in another file or through a filter", REFUSED),
    "keras-h5-external-link": ("model", hostile.external_link, r"links '/layers/dense/vars/0' elsewhere \(ExternalLink",
                               REFUSED),
    "keras-history-of-100-MB": ("model", lambda: hostile.big_history(100_000_000),
                                r"mnist_cnn.json unpacks to 95.4 MB, more than a Keras .keras file's 1.0 MB", REFUSED),
    "keras-config-deflated-past-its-declared-size": ("model", lambda: hostile.padded_config(100_000_000),
                                                     r"^loaded$", REFUSED),
    "npz-end-record-says-1-of-60000": ("drawings", hostile.entries_lie,
                                       r"^refused: the drawings file holds 3 files or more", REFUSED),
    "png-with-60-MB-of-text": ("picture", lambda: hostile.png_text(60), r"^refused: .*(text|MAX_TEXT)", REFUSED),
    "keras-at-the-parameter-limit": ("model", hostile.largest_model, r"^loaded$", READ),
    "jpeg-phone-photo-of-24-MP": ("picture", lambda: hostile.picture(hostile.digit_picture(6000, 4000, photo=True),
                                                                       "JPEG", "RGB", quality=90), r"^7$", READ),
    "jpeg-progressive-24-MP": ("picture", lambda: hostile.picture(hostile.digit_picture(6000, 4000, photo=True),
                                                                    "JPEG", "RGB", quality=90, progressive=True),
                               r"^refused: .*6000x4000 progressive JPEG takes \d+ MB decoded, at most 48 MB", REFUSED),
    "png-6300x6300-grey": ("picture", lambda: hostile.picture(hostile.digit_picture(6300, 6300), "PNG"), r"^7$",
                           READ),
    "png-6300x6300-rgb": ("picture", lambda: hostile.picture(hostile.digit_picture(6300, 6300), "PNG", "RGB"),
                          r"^refused: .*6300x6300 RGB PNG takes 151 MB decoded, at most 48 MB", REFUSED),
    "png-header-says-6000x6000-data-28x28": ("picture", lambda: hostile.png_header_lies(6000, 6000),
                                             r"^refused: .*could not be decoded", REFUSED),
}
IN_A_ROW = 20  # the same refused upload again and again: nothing may pile up


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """{case id: tools.budget's record}, and the records of IN_A_ROW uploads of the zeros, from one process."""
    tmp = tmp_path_factory.mktemp("uploads")
    args = []
    for case, (kind, make, _, _) in CASES.items():
        (tmp / case).write_bytes(make())
        args.append(f"{kind}={tmp / case}")
    args += [f"drawings={tmp / 'npz-of-zeros'}"] * IN_A_ROW
    out = subprocess.run([sys.executable, "-m", "tools.budget", *args], capture_output=True, text=True, timeout=600,
                         cwd=Path(budget.__file__).parent.parent, check=True).stdout
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return dict(zip(CASES, records[: len(CASES)], strict=True)), records[len(CASES):]


@pytest.mark.parametrize("case", CASES)
def test_each_upload_is_answered_within_its_budget(measured, case):
    _, _, answer, most = CASES[case]
    record = measured[0][case]
    assert re.search(answer, record["answer"]), record
    assert "\n" not in record["answer"]
    assert record["rise_mb"] <= most, record


def test_many_uploads_in_a_row_leave_nothing_behind(measured):
    row = measured[1]
    assert all(r["answer"].startswith("refused:") for r in row)
    assert row[-1]["rss_after_mb"] - row[0]["rss_after_mb"] <= 2, [r["rss_after_mb"] for r in row]
