"""WORKSPACE/labels.jsonl: the last entry per feature wins, concurrent writers (processes) lose nothing, and a line
cut short by a crash is skipped and does not swallow the next one."""

import json
import multiprocessing

from frobnoscope.app.web.labels import LabelBook, feature_key


def _write_many(root, writer, count):
    book = LabelBook(root)
    for i in range(count):
        book.add(feature_key("m/features/h", "latent", i), f"writer {writer} name {i}", "x" * 2000)


def test_the_latest_entry_wins_and_an_empty_one_clears(tmp_path):
    book = LabelBook(tmp_path)
    key = feature_key("taef2/features/decoder.12", "latent", 495)
    assert key == "taef2/features/decoder.12#latent:495"
    book.add(key, "ground plane far from objects", "fires on the table")
    book.add(key, "  table far field ", "")
    assert book.current()[key]["name"] == "table far field"
    book.add(key, "", "")
    assert key not in book.current()
    assert len(book.entries()) == 3


def test_concurrent_writers_never_lose_a_line(tmp_path):
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_many, args=(tmp_path, w, 40)) for w in range(4)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
        assert process.exitcode == 0
    lines = (tmp_path / "labels.jsonl").read_text().splitlines()
    assert len(lines) == 160
    names = {json.loads(line)["name"] for line in lines}  # every line whole and parseable
    assert names == {f"writer {w} name {i}" for w in range(4) for i in range(40)}


def test_a_line_cut_short_by_a_crash_is_skipped_and_the_next_entry_survives(tmp_path):
    book = LabelBook(tmp_path)
    book.add("a#latent:1", "first")
    with open(tmp_path / "labels.jsonl", "a") as handle:
        handle.write('{"feature": "a#latent:2", "na')  # a crash mid-write
    book.add("a#latent:3", "after the crash")
    current = book.current()
    assert current["a#latent:1"]["name"] == "first"
    assert current["a#latent:3"]["name"] == "after the crash"
    assert "a#latent:2" not in current
