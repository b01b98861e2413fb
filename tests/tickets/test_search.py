"""The `q=` search syntax (api/tickets/search.py): what it finds, and that no text, however made of
operators, is a server error."""

from __future__ import annotations

import asyncpg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.db import asyncpg_dsn
from api.tickets.search import parse, tsquery_text
from tests.tickets.helpers import create_ticket

# The operator alphabet: web-search operators (negation, phrase quotes, `or`, prefix `*`), to_tsquery's
# own operators and escapes (which must stay literal), separators, and a few words.
OPERATORS = [*"-!&|<>():*'\"\\ \t", "<->", "or", "OR", "and", "pass", "word", "a", "the", "é"]
SEARCH_TEXT = st.lists(st.sampled_from(OPERATORS), max_size=300).map("".join).filter(lambda q: len(q) <= 500)
NESTING = [
    "-(" * 40 + "word",
    "(-" * 40,
    "-!" * 40,
    "-&" * 40,
    "-|" * 40,
    "-<" * 40,
    '-"' * 40,
    "-" * 500,
    "- " * 200 + "word",
    '"' + "word " * 99 + '"',
    "pass* " * 100,
]


@given(q=SEARCH_TEXT)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_parser_sends_only_operands_with_something_to_find(q):
    groups = parse(q)
    assert all(group for group in groups)
    assert all(any(ch.isalnum() for ch in term.text) for group in groups for term in group)
    assert (tsquery_text(q) == "") == (groups == [])


@pytest.fixture
async def pg(database_url):
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    yield conn
    await conn.close()


@given(q=SEARCH_TEXT)
@example(q="")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_postgresql_accepts_every_parsed_text(pg, q):
    """Fast, many examples: the text is sent straight to PostgreSQL's to_tsquery."""
    await pg.fetchval(
        "SELECT to_tsvector('english', 'password word') @@ to_tsquery('english', $1)", tsquery_text(q)
    )


@pytest.mark.parametrize("q", NESTING)
async def test_postgresql_accepts_nested_operators(pg, q):
    """websearch_to_tsquery failed on these with "tsquery stack too small" (a 500 through the API)."""
    await pg.fetchval(
        "SELECT to_tsvector('english', 'password word') @@ to_tsquery('english', $1)", tsquery_text(q)
    )


@pytest.fixture
async def tickets(client, agent):
    _, headers = agent
    made = {}
    for key, subject, message in (
        ("password", "Password reset", "I forgot my password."),
        ("fat cat", "Cat food", "The fat cat ate it."),
        ("cat fat", "Diet", "A cat that is not fat."),
        ("printer", "Printer on fire", "It is on fire."),
    ):
        made[key] = (await create_ticket(client, headers, subject=subject, message=message))["id"]
    return headers, made


async def _found(client, headers, q):
    r = await client.get("/v1/tickets", params={"q": q, "sort": "created"}, headers=headers)
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["data"]]


async def test_what_the_syntax_finds(client, tickets):
    headers, t = tickets
    assert await _found(client, headers, "pass*") == [t["password"]]  # issue 16: a prefix finds the word
    assert await _found(client, headers, "PASS*") == [t["password"]]
    assert await _found(client, headers, "pass") == []  # no prefix: the whole word
    assert await _found(client, headers, "passwords") == [t["password"]]  # stemmed, as indexed
    assert await _found(client, headers, '"fat cat"') == [t["fat cat"]]
    assert await _found(client, headers, "fat cat") == [t["fat cat"], t["cat fat"]]
    assert await _found(client, headers, "cat -diet") == [t["fat cat"]]
    assert await _found(client, headers, "cat - (diet)") == [t["fat cat"]]
    assert await _found(client, headers, "cat --diet") == [t["cat fat"]]  # a negated negation
    assert await _found(client, headers, "printer or pass*") == [t["password"], t["printer"]]
    assert await _found(client, headers, "-cat -pass*") == [t["printer"]]
    assert await _found(client, headers, "fire & | ! printer") == [t["printer"]]  # to_tsquery's syntax: words
    assert await _found(client, headers, "'printer' : *") == [t["printer"]]
    assert await _found(client, headers, '-"') == []
    assert await _found(client, headers, "the") == []  # only stop words: nothing to find


@given(q=SEARCH_TEXT)
@example(q="-(" * 40 + "word")
@example(q="(-" * 40 + "pass*")
@example(q='-"' * 40 + "word")
@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_search_of_any_operator_text_is_never_a_server_error(client, admin_headers, q):
    """Issue 16: search text made only of operators in some combinations gave a 500."""
    r = await client.get("/v1/tickets", params={"q": q, "include_total": "true"}, headers=admin_headers)
    assert r.status_code == 200, (q, r.status_code, r.text[:300])
