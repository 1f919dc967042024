"""Grant CSV files as departments save them: encodings, headers, line numbers (pure, no server)."""

from __future__ import annotations

import pytest

from mkp_core.grant_file import read_grant_file

HEADER = "municipality,mykey_id,amount,grant_kind,memo\r\n"
ROWS = "142018,HANAKO23,500,volunteer,清掃活動\r\n142018,TAROU234,1000,childcare,\r\n"


def rows_of(data: bytes):
    found = read_grant_file(data)
    assert found.problems == [], found.problems
    return found


@pytest.mark.parametrize(
    "data,encoding",
    [
        ((HEADER + ROWS).encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + (HEADER + ROWS).encode("utf-8"), "utf-8"),
        ((HEADER + ROWS).encode("cp932"), "cp932"),
    ],
    ids=["utf-8", "utf-8 with BOM", "shift_jis"],
)
def test_files_in_every_encoding_departments_use_read_alike(data, encoding):
    found = rows_of(data)
    assert found.encoding == encoding
    assert [(r.line, r.row, r.mykey_id, r.amount, r.grant_kind, r.memo) for r in found.rows] == [
        (2, 1, "HANAKO23", 500, "volunteer", "清掃活動"),
        (3, 2, "TAROU234", 1000, "childcare", None),
    ]


def test_japanese_headers_any_order_and_full_width_digits():
    text = "付与種別,ポイント,マイキーID,自治体コード\nvolunteer,５００,HANAKO23,１４２０１８\n"
    (row,) = rows_of(text.encode("cp932")).rows
    assert (row.municipality, row.mykey_id, row.amount, row.grant_kind, row.memo) == (
        "142018",
        "HANAKO23",
        500,
        "volunteer",
        None,
    )


def test_a_quoted_field_over_two_lines_keeps_the_line_numbers_right():
    text = HEADER + '142018,HANAKO23,500,volunteer,"two\nlines"\n142018,TAROU234,x,childcare,\n'
    found = read_grant_file(text.encode())
    assert [(p["line"], p["code"]) for p in found.problems] == [(4, "invalid_amount")]


@pytest.mark.parametrize(
    "data,problems",
    [
        (b"", [(1, "empty_file")]),
        (HEADER.encode(), [(1, "no_rows")]),
        (
            b"municipality,mykey_id,amount,type,color\n",
            [(1, "unknown_column"), (1, "unknown_column"), (1, "missing_column")],
        ),
        (b"municipality,mykey_id,amount,amount,grant_kind\n", [(1, "duplicate_column")]),
        ((HEADER + "142018,HANAKO23,500\n").encode(), [(2, "bad_row")]),
        (
            (HEADER + "142018,A,0,k,\n142018,B,-3,k,\n142018,C,1.5,k,\n142018,D,1e3,k,\n").encode(),
            [(n, "invalid_amount") for n in (2, 3, 4, 5)],
        ),
        ((HEADER + ROWS).encode("utf-16"), [(1, "bad_encoding")]),
        (HEADER.encode() + b"142018,A,5,k,\x81 \n", [(2, "bad_encoding")]),
        (
            HEADER.encode() + "142018,A,5,k,清掃\n".encode() + "142018,B,5,k,清掃\n".encode("cp932"),
            [(3, "mixed_encoding")],
        ),
        (b"\xef\xbb\xbf" + HEADER.encode() + "142018,B,5,k,清掃\n".encode("cp932"), [(2, "mixed_encoding")]),
    ],
    ids=[
        "empty",
        "no rows",
        "unknown and missing",
        "twice",
        "short row",
        "amounts",
        "utf-16",
        "neither",
        "mixed",
        "bom and cp932",
    ],
)
def test_every_problem_is_reported_with_its_line(data, problems):
    found = read_grant_file(data)
    assert [(p["line"], p["code"]) for p in found.problems] == problems
    assert found.problem_count == len(problems)


def test_the_hash_names_the_exact_bytes():
    a = read_grant_file((HEADER + ROWS).encode())
    b = read_grant_file((HEADER + ROWS).encode() + b"\r\n")
    assert a.sha256 != b.sha256 and len(a.sha256) == 64
