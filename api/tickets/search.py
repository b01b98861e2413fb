"""The `q=` search syntax, turned into a ``to_tsquery`` input that PostgreSQL always accepts.

The syntax is web-search style, as ``websearch_to_tsquery`` reads it, plus prefixes:

- words are all required (``printer fire``);
- ``"quoted words"`` must appear as a phrase;
- ``-word`` or ``-"a phrase"`` must not appear;
- ``or`` between terms accepts either side (``refund or chargeback``);
- ``word*`` matches every word starting with it (``pass*`` finds ``password``);
- anything else (parentheses, ``&``, ``|``, ``!``, ``:``, ``<``…) only separates words.

``websearch_to_tsquery`` has no prefix search and fails (a 500) on some texts made only of operators:
each ``-`` nests the next term one level deeper, and runs like ``-(-(-(`` overflow its stack. This parser
never nests deeper than three levels (or → and → not), whatever the text, and quotes every operand so
nothing a client types is read as ``to_tsquery`` syntax. Stop words and punctuation inside an operand are
dropped by PostgreSQL's parser, as they are when the text is indexed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A phrase (to the closing quote, or to the end when there is none), or a run of anything else that is
# not white space.
_TOKEN = re.compile(r'"([^"]*)"?|([^\s"]+)')
_OR = "or"


@dataclass(frozen=True, slots=True)
class Term:
    text: str
    negated: bool = False
    prefix: bool = False

    def operand(self) -> str:
        quoted = "'" + self.text.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return ("!" if self.negated else "") + quoted + (":*" if self.prefix else "")


def parse(q: str) -> list[list[Term]]:
    """``q`` as alternatives (``or``) of terms that must all hold; terms with no text are left out.

    A dash negates the next term however many separators stand between (``- word``, ``-(word)``), as in
    ``websearch_to_tsquery``; a dash inside a word (``e-mail``) is part of it. Only an odd number of
    dashes negates.
    """
    groups: list[list[Term]] = [[]]
    dashes = 0
    for match in _TOKEN.finditer(q):
        phrase, chunk = match.groups()
        if phrase is not None:
            term = Term(phrase.strip(), negated=dashes % 2 == 1)
        else:
            # What precedes the word: dashes (negations) and separators such as parentheses.
            start = next((i for i, ch in enumerate(chunk) if ch.isalnum()), len(chunk))
            dashes += chunk.count("-", 0, start)
            text = chunk[start:]
            if not text:
                continue  # only dashes and separators: the negations carry over to the next term
            if text.lower() == _OR and dashes == 0:
                if groups[-1]:
                    groups.append([])
                continue
            term = Term(text.rstrip("*"), negated=dashes % 2 == 1, prefix=text.endswith("*"))
        dashes = 0
        if any(ch.isalnum() for ch in term.text):  # else nothing to find (and no empty operand to send)
            groups[-1].append(term)
    return [group for group in groups if group]


def tsquery_text(q: str) -> str:
    """The ``to_tsquery`` input for ``q``: ``(a & !b) | (c:*)``, or ``''`` when nothing can match."""
    return " | ".join("(" + " & ".join(term.operand() for term in group) + ")" for group in parse(q))
