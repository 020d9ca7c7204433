import gzip

import numpy as np
import pytest

from conftest import csv_text, random_faces, write_csv
from ferhw3.data.read import DataError, load_csv, stratified_split
from ferhw3.infer.outputs import write_csv_atomic


@pytest.mark.parametrize("variant", [
    dict(),
    dict(gz=True),
    dict(eol="\r\n"),
    dict(bom=True),
    dict(quote=True),
    dict(sep="  "),
    dict(final_newline=False),
    dict(gz=True, eol="\r\n", bom=True, quote=True, final_newline=False),
])
def test_train_csv_round_trip(tmp_path, variant):
    x, y = random_faces(15)
    path = write_csv(tmp_path / "t.csv", x, y, **variant)
    faces = load_csv(path)
    assert faces.kind == "train"
    assert faces.x.dtype == np.uint8 and faces.x.shape == (15, 48, 48, 1)
    np.testing.assert_array_equal(faces.x, x)
    np.testing.assert_array_equal(faces.labels, y)


def test_test_csv_keeps_ids_and_order(tmp_path):
    x, _ = random_faces(12)
    ids = np.array([7177, 3, 12345, 0, 5, 6, 7, 8, 9, 10, 11, 4])
    faces = load_csv(write_csv(tmp_path / "t.csv.gz", x, ids, header="id,feature", gz=True))
    assert faces.kind == "test" and faces.labels is None
    np.testing.assert_array_equal(faces.ids, ids)
    np.testing.assert_array_equal(faces.x, x)


def test_gzip_detected_from_content_not_name(tmp_path):
    x, y = random_faces(5)
    path = tmp_path / "plain_name.csv"
    path.write_bytes(gzip.compress(csv_text(x, y).encode()))
    np.testing.assert_array_equal(load_csv(str(path)).x, x)


def test_blank_lines_are_skipped(tmp_path):
    x, y = random_faces(4)
    text = csv_text(x, y).replace("\n", "\n\n", 2) + "\n\n"
    (tmp_path / "b.csv").write_text(text)
    assert len(load_csv(str(tmp_path / "b.csv"))) == 4


def _rows(x, y):
    return [f"{k}," + " ".join(map(str, f.ravel())) for k, f in zip(y, x)]


def _bad(tmp_path, mutate, header="label,feature", n=5):
    x, y = random_faces(n)
    rows = _rows(x, y)
    rows = mutate(rows)
    p = tmp_path / "bad.csv"
    p.write_text("\n".join([header] + rows) + "\n")
    return str(p)


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r[:2] + [r[2] + " 17"] + r[3:], r"line 4: row too long: 2305 pixel values"),
    (lambda r: r[:1] + [r[1].rsplit(" ", 1)[0]] + r[2:], r"line 3: row too short: 2303 pixel values"),
    (lambda r: r[:3] + [r[3].replace(",", ",256 ", 1).rsplit(" ", 1)[0]] + r[4:], r"line 5: pixel 1 value 256 is out of range"),
    (lambda r: r[:3] + [r[3].replace(",", ",1000 ", 1).rsplit(" ", 1)[0]] + r[4:], r"line 5: pixel 1 value 1000 is out of range"),
    (lambda r: [r[0].replace(",", ",12.5 ", 1).rsplit(" ", 1)[0]] + r[1:], r"line 2: unexpected character '\.'"),
    (lambda r: [r[0].replace(",", ",-3 ", 1).rsplit(" ", 1)[0]] + r[1:], r"line 2: unexpected character '-'"),
    (lambda r: r[:1] + ["7" + r[1][1:]] + r[2:], r"line 3: label 7 is not in 0-6"),
    (lambda r: r[:1] + ["x" + r[1][1:]] + r[2:], r"line 3: the first field must be a non-negative integer .* got 'x'"),
    (lambda r: r[:1] + [r[1].replace(",", " ", 1)] + r[2:], r"line 3: expected 2 comma-separated fields, found 1"),
    (lambda r: r[:1] + [r[1] + ",5"] + r[2:], r"line 3: row too long"),
])
def test_malformed_rows_name_file_and_line(tmp_path, mutate, message):
    path = _bad(tmp_path, mutate)
    with pytest.raises(DataError, match=message) as e:
        load_csv(path)
    assert str(e.value).startswith(path)
    assert "\n" not in str(e.value)


def test_duplicate_ids(tmp_path):
    x, _ = random_faces(4)
    path = write_csv(tmp_path / "d.csv", x, [5, 6, 5, 7], header="id,feature")
    with pytest.raises(DataError, match=r"line 4: duplicate id 5"):
        load_csv(path)


@pytest.mark.parametrize("content, message", [
    (b"", "file is empty"),
    (b"label,feature\n", "header only, no data rows"),
    (b"label,feature", "header only, no data rows"),
    (b"emotion;pixels\n1;2 3\n", "line 1: expected header 'label,feature', 'id,feature' or 'emotion,pixels,Usage'"),
    (bytes(range(256)) * 4, "line 1: expected header"),
])
def test_bad_files(tmp_path, content, message):
    p = tmp_path / "f.csv"
    p.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_csv(str(p))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_csv(str(tmp_path / "nope.csv"))


def test_truncated_gzip(tmp_path):
    x, y = random_faces(5)
    data = gzip.compress(csv_text(x, y).encode())
    p = tmp_path / "t.csv.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated gzip"):
        load_csv(str(p))


def test_test_file_refused_for_training(tmp_path):
    x, _ = random_faces(3)
    path = write_csv(tmp_path / "t.csv", x, [0, 1, 2], header="id,feature")
    with pytest.raises(DataError, match="this is a test file"):
        load_csv(path, expect="train")


def test_stratified_split_is_seeded_disjoint_and_balanced():
    labels = np.repeat(np.arange(7), [40, 6, 40, 70, 50, 30, 50])
    tr, va = stratified_split(labels, 0.2, seed=3)
    tr2, va2 = stratified_split(labels, 0.2, seed=3)
    np.testing.assert_array_equal(va, va2)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == len(labels)
    expected = np.bincount(labels) * 0.2
    assert np.all(np.abs(np.bincount(labels[va], minlength=7) - expected) <= 1)
    assert not np.array_equal(va, stratified_split(labels, 0.2, seed=4)[1])


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "o.csv"

    def rows():
        yield "1,2"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_csv_atomic(str(out), "id,label", rows())
    assert list(tmp_path.iterdir()) == []


def test_chunked_parsing_keeps_rows_and_line_numbers(tmp_path, monkeypatch):
    import ferhw3.data.read as D

    monkeypatch.setattr(D, "_CHUNK_BYTES", 20000)  # ~2 rows a chunk instead of ~250
    x, y = random_faces(9)
    path = write_csv(tmp_path / "c.csv", x, y, eol="\r\n")
    faces = load_csv(path)
    np.testing.assert_array_equal(faces.x, x)
    np.testing.assert_array_equal(faces.labels, y)
    rows = _rows(x, y)
    rows[7] = rows[7] + " 9"
    p = tmp_path / "c2.csv"
    p.write_text("\n".join(["label,feature", ""] + rows) + "\n")  # a blank line 2 shifts rows by one
    with pytest.raises(DataError, match=r"line 10: row too long"):
        load_csv(str(p))
