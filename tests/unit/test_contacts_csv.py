"""Reading CSV contact lists: every malformed case reported with its line, fed whole or
in pieces of any size; nothing here needs a database (duplicates are found by SQL:
tests/integration/test_outbound_store.py)."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ccqueue.contacts import BOM, MAX_ROW_LINES, ContactReader, ContactRow, ImportProblem


def read(data: bytes, *, piece: int | None = None, **options: object) -> tuple[list[ContactRow], ContactReader]:
    options.setdefault("region", "US")
    reader = ContactReader(**options)  # type: ignore[arg-type]
    size = piece or max(1, len(data))
    rows = list(reader.read(data[i : i + size] for i in range(0, len(data), size)))
    return rows, reader


def problems(data: bytes, **options: object) -> list[str]:
    return [str(p) for p in read(data, **options)[1].problems]


GOOD = b'number,name,tz,account\n(212) 555-0101,Ann,America/Chicago,A1\n+1 212 555 0102,"Bob, Jr.",,B2\n'


def test_a_good_list() -> None:
    rows, reader = read(GOOD)
    assert rows == [
        ContactRow(line=2, number="+12125550101", name="Ann", tz="America/Chicago", fields={"account": "A1"}),
        ContactRow(line=3, number="+12125550102", name="Bob, Jr.", tz=None, fields={"account": "B2"}),
    ]
    assert (reader.rows_read, reader.bad_rows, reader.problems, reader.fatal) == (2, 0, [], False)


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64])
def test_any_split_of_the_stream_reads_the_same(piece: int) -> None:
    data = BOM + b'number;name;note\r\n+12125550101;"Ann\r\nSmith";"a ""b"""\r\n555;x;y\r\n+12125550102;Bob;z'
    whole_rows, whole = read(data)
    rows, reader = read(data, piece=piece)
    assert rows == whole_rows and reader.problems == whole.problems
    assert [r.line for r in rows] == [2, 5]
    assert rows[0].name == "Ann\r\nSmith" and rows[0].fields == {"note": 'a "b"'}
    assert [str(p) for p in reader.problems] == [
        "line 4: '555' is not a valid phone number (wrong length, or a range not in use)"
    ]


def test_a_byte_order_mark_is_accepted_silently() -> None:
    rows, reader = read(BOM + GOOD)
    assert len(rows) == 2 and reader.problems == []


CASES = [
    # (the file, the problems)
    (b"number\n555\n", ["line 2: '555' is not a valid phone number (wrong length, or a range not in use)"]),
    (b"number\n+15550001001\n", ["line 2: '+15550001001' is not a valid phone number (wrong length, or a range not in use)"]),
    (b"number\nhello\n", ["line 2: 'hello' is not a phone number: it does not look like a phone number"]),
    (b"number\n2125550101 ext. 7\n", ["line 2: '2125550101 ext. 7' has an extension, which cannot be dialled"]),
    (b"number,name\n,Ann\n", ["line 2: no number"]),
    (
        b"number,tz\n+12125550101,Mars/Olympus\n",
        ["line 2: unknown time zone 'Mars/Olympus'; write an IANA name such as 'America/New_York', or leave it empty"],
    ),
    (b"number,name\n+12125550101\n", ["line 2: 1 value(s), but the header has 2 column(s)"]),
    (b"number,name\n+12125550101,a,b\n", ["line 2: 3 value(s), but the header has 2 column(s)"]),
    (b"number,name\n+12125550101,Ren\xe9\n", ["line 2: not UTF-8 text (byte 0xE9 at column 17); save the file as 'CSV UTF-8'"]),
    (
        b'number,name\n+12125550101,"a\n\xff"\n',
        ["line 2: line 3 is not UTF-8 text (byte 0xFF at column 1); save the file as 'CSV UTF-8'"],
    ),
    (b"number,name\n+12125550101,a\x00b\n", ["line 2: it holds a NUL byte"]),
    (b'number,name\n+12125550101,"open\n', ["line 2: a quoted value is never closed (an odd number of '\"')"]),
]


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_each_malformed_row_is_reported_with_its_line(data: bytes, expected: list[str]) -> None:
    rows, reader = read(data)
    assert [str(p) for p in reader.problems] == expected
    assert rows == [] and reader.bad_rows == 1 and not reader.fatal


def test_rows_after_a_bad_one_still_count() -> None:
    data = b"number,name\n+12125550101,a\n12,b\n\n,,\n+12125550102,c\n"
    rows, reader = read(data)
    assert [r.number for r in rows] == ["+12125550101", "+12125550102"]
    assert [r.line for r in rows] == [2, 6]  # blank lines and blank rows are skipped, and counted as lines
    assert (reader.rows_read, reader.bad_rows) == (3, 1)


def test_a_quote_left_open_swallows_a_bounded_number_of_lines() -> None:
    data = b'number,name\n+12125550101,"open\n' + b"+12125550102,b\n" * (MAX_ROW_LINES + 5)
    rows, reader = read(data)
    assert [str(p) for p in reader.problems] == [
        f"line 2: a quoted value opened on this line is not closed within {MAX_ROW_LINES} lines"
    ]
    assert len(rows) == 6 and rows[0].line == 2 + MAX_ROW_LINES


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "the file is empty: the first line must be a header with a 'number' column"),
        (
            b"phone,name\n+12125550101,a\n",
            "line 1: the header has no 'number' column (it has 'phone', 'name'); the first line names the columns",
        ),
        (
            b"+12125550101,Ann\n",
            "line 1: the header has no 'number' column (it has '+12125550101', 'Ann'); the first line names the columns",
        ),
        (b"number,,name\n", "line 1: column 2 of the header has no name"),
        (b"Number,name,NUMBER\n", "line 1: column 'NUMBER' is named twice (columns 1 and 3)"),
        ("number,name\n+12125550101,a\n".encode("utf-16"), "the file is UTF-16 text; save it as 'CSV UTF-8' (UTF-8 text)"),
        (b"n\x00u\x00m\x00\n", "line 1: the file holds NUL bytes: it is not a CSV text file (or it is UTF-16)"),
        (b"number,n\xe4me\n", "line 1: the header is not UTF-8 text (byte 0xE4 at column 9); save the file as 'CSV UTF-8'"),
    ],
)
def test_a_file_that_is_not_a_list_is_refused_whole(data: bytes, expected: str) -> None:
    rows, reader = read(data)
    assert reader.fatal and rows == []
    assert [str(p) for p in reader.problems] == [expected]


def test_columns_are_matched_without_case_and_others_kept_as_written() -> None:
    rows, _ = read(b" Number , NAME ,Tz, Account Id \n+12125550101,Ann,UTC,7\n")
    assert rows == [ContactRow(line=2, number="+12125550101", name="Ann", tz="UTC", fields={"Account Id": "7"})]


def test_the_delimiter_is_the_headers_own() -> None:
    assert read(b"number\tname\n+12125550101\tAnn\n")[0][0].name == "Ann"
    assert read(b"number;name\n+12125550101;Ann, Jr.\n")[0][0].name == "Ann, Jr."


def test_trailing_empty_cells_are_not_extra_values() -> None:
    rows, reader = read(b"number,name\n+12125550101,Ann,,\n")
    assert reader.problems == [] and rows[0].name == "Ann"


def test_numbers_without_plus_are_read_in_the_region() -> None:
    assert read(b"number\n030 1234567\n", region="DE")[0][0].number == "+49301234567"
    assert read(b"number\n8 495 123-45-67\n", region="RU")[0][0].number == "+74951234567"


def test_numbers_the_trunk_may_not_call_are_reported() -> None:
    assert problems(b"number\n+12125550101\n+442079460000\n", allowed=[r"\+1\d{10}"]) == [
        "line 3: +442079460000 is not allowed by outbound.allowed: it would never be dialled"
    ]


def test_problems_are_counted_past_the_kept_ones() -> None:
    data = b"number\n" + b"12\n" * 50
    _, reader = read(data, max_problems=10)
    assert len(reader.problems) == 10 and reader.problems_total == 50 and reader.bad_rows == 50
    assert reader.problems[0] == ImportProblem(2, "'12' is not a valid phone number (wrong length, or a range not in use)")


def test_a_do_not_call_list_may_be_one_number_a_line() -> None:
    rows, _ = read(b"(212) 555-0101\n+12125550102\n\n", header_optional=True)
    assert [(r.line, r.number) for r in rows] == [(1, "+12125550101"), (2, "+12125550102")]
    rows, _ = read(b"name,number\nx,+12125550101\n", header_optional=True)
    assert [(r.line, r.number) for r in rows] == [(2, "+12125550101")]


# --- whatever the bytes -----------------------------------------------------------------------

_PIECES = [b"number", b",", b";", b"name", b"tz", b"\n", b"\r\n", b'"', b'""', b"+12125550101", b"(212) 555-0102",
           b"America/Chicago", b"\xef\xbb\xbf", b"\xff", b"\xe9", b"\x00", b" ", b"x", b"12", b"\t"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.integers(min_value=1, max_value=9))
@example([b"number", b"number", b",", b"number", b"\n", b'"'], 1)  # a quote left open on the last line
@example([b'"', b"number"], 1)  # in the header
def test_any_bytes_give_rows_or_problems_never_an_exception(parts: list[bytes], piece: int) -> None:
    data = b"".join(parts)
    rows, reader = read(data)
    split_rows, split_reader = read(data, piece=piece)
    assert split_rows == rows and split_reader.problems == reader.problems
    assert reader.fatal or reader.rows_read == len(rows) + reader.bad_rows
    for row in rows:
        assert row.number.startswith("+") and row.number[1:].isdigit()
    if reader.fatal:
        assert rows == [] and reader.problems
