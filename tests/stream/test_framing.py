from __future__ import annotations

import gzip
import io
from pathlib import Path

from pipeline.stream.framing import Frame, frames, open_input


def read(data: bytes, limit: int = 1000, delimited: str | None = None) -> list[Frame]:
    return list(frames(io.BytesIO(data), limit, delimited))


def test_crlf_and_lf_lines_split_alike_and_keep_their_inner_bytes() -> None:
    crlf = read(b'{"a": "x\\ny"}\r\n{"b": 2}\r\n')
    lf = read(b'{"a": "x\\ny"}\n{"b": 2}\n')
    assert [f.data for f in crlf] == [f.data for f in lf] == [b'{"a": "x\\ny"}', b'{"b": 2}']


def test_a_last_line_without_a_newline_is_still_read() -> None:
    assert [f.data for f in read(b"one\ntwo")] == [b"one", b"two"]


def test_blank_lines_are_keep_alives() -> None:
    got = read(b"\r\n{}\r\n\r\n")
    assert [f.is_keep_alive for f in got] == [True, False, True]


def test_an_oversize_line_is_cut_to_a_sample_and_the_next_line_is_intact() -> None:
    big = b"x" * 5000
    got = read(b"ok1\n" + big + b"\nok2\n", limit=100)
    assert got[0] == Frame(b"ok1")
    assert got[1].full_length == 5001 and got[1].data.startswith(b"xxx")
    assert got[2] == Frame(b"ok2")


def test_a_line_of_exactly_the_limit_is_not_oversize() -> None:
    got = read(b"y" * 100 + b"\r\nz\n", limit=100)
    assert got == [Frame(b"y" * 100), Frame(b"z")]


def test_length_delimited_frames_are_read_by_their_byte_counts() -> None:
    first, second = b'{"text": "caf\xc3\xa9"}\r\n', b'{"id": 2}\r\n'
    data = b"%d\r\n%s\r\n%d\r\n%s" % (len(first), first, len(second), second)
    got = read(data, delimited="length")
    assert [f.data for f in got if not f.is_keep_alive] == [first.strip(), second.strip()]
    assert sum(f.is_keep_alive for f in got) == 1


def test_an_oversize_length_delimited_frame_is_skipped_whole() -> None:
    big = b"z" * 3000
    data = b"%d\r\n%s%d\r\n{}\r\n" % (len(big), big, 4)
    got = read(data, limit=100, delimited="length")
    assert got[0].full_length == 3000
    assert got[1] == Frame(b"{}")


def test_gzip_files_are_read_transparently(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"{}\r\n[]\r\n")
    with open_input(str(path)) as stream:
        assert [f.data for f in frames(stream, 100)] == [b"{}", b"[]"]


def test_gzip_is_recognised_by_its_bytes_not_its_name(tmp_path: Path) -> None:
    named_plain = tmp_path / "capture.jsonl"  # gzip inside, whatever the name says
    with gzip.open(named_plain, "wb") as f:
        f.write(b'{"a": 1}\n{"b": 2}\n')
    plain_named_gz = tmp_path / "other.gz"
    plain_named_gz.write_bytes(b'{"c": 3}\n')
    with open_input(str(named_plain)) as stream:
        assert [f.data for f in frames(stream, 100)] == [b'{"a": 1}', b'{"b": 2}']
    with open_input(str(plain_named_gz)) as stream:
        assert [f.data for f in frames(stream, 100)] == [b'{"c": 3}']
