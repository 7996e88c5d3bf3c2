"""A literal prefilter: which rules a batch can possibly match, before DuckDB binds any of them.

Binding a rule's SQL costs DuckDB about 0.4 ms whatever the rows, so a live micro-batch of 500 events
that met every one of SigmaHQ's ~3,000 rules spent a second on binding alone. Most rules cannot match
most batches: a rule that tests ``CommandLine|contains: 'vssadmin'`` cannot match a batch whose command
lines never hold ``vssadmin``.

From each compiled predicate this module derives its *need*: literals that must occur in given scope-table
columns for the predicate to hold, in conjunctive form — a tuple of clauses, each a set of alternatives
``(column, literal, folded)``; the rule can match only if every clause has one alternative present. A
batch's scope table is read once (the distinct values of each column it holds), the literals of all its
rules are searched in one Aho-Corasick pass per column, and only the rules whose need is met are bound.

The prefilter must never drop a rule that would match (it is *sound*), so it derives a literal only where
it is certain:

- ``"l:f"`` columns hold DuckDB's own lower-casing and the predicates' literals are already lower-cased
  against them; ``"o:f"`` columns hold the original text. Either way a literal the predicate compares
  byte for byte is searched byte for byte (the texts and literals are UTF-8 bytes seen as Latin-1, so the
  search is exact).
- A regular expression matched case-insensitively (``(?i)``) gives only ASCII literals, searched in the
  case-folded text: RE2's simple case folding maps no non-ASCII character onto an ASCII letter that
  Python's ``casefold`` would not also give (the Kelvin sign and the long s fold to ``k`` and ``s``).
- ``NOT``, comparisons, ``IS NULL`` and anything not recognised constrain nothing (None).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick

Literal = tuple[str, str, bool]  # (scope-table column name, literal, case-folded search)
Clause = frozenset[Literal]
Need = tuple[Clause, ...] | None  # None: the predicate may hold on any batch

# bumped whenever a predicate's need would come out otherwise: the compile cache keeps needs under it
PREFILTER_VERSION = 2
MAX_CLAUSES = 4  # more clauses make the check longer and rarely the answer different
SHORT = 2  # literals this short are searched with `in`: an automaton would report them everywhere

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<col>"(?:[^"]|"")*")
    | (?P<punct>[(),\[\]])
    | (?P<word>[^\s(),'"\[\]]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # str | col | punct | word
    text: str  # a string literal's or a column's value, unquoted; a word upper-cased


def _tokens(sql: str) -> list[_Tok] | None:
    out: list[_Tok] = []
    pos, end = 0, len(sql.rstrip())
    while pos < end:
        m = _TOKEN.match(sql, pos)
        if m is None or m.end() == pos:
            return None
        pos = m.end()
        kind = m.lastgroup or ""
        text = m.group(kind)
        if kind == "str":
            text = text[1:-1].replace("''", "'")
        elif kind == "col":
            text = text[1:-1].replace('""', '"')
        elif kind == "word":
            text = text.upper()
        out.append(_Tok(kind, text))
    return out


# --- combining needs ----------------------------------------------------------------------------


def _strength(clause: Clause) -> int:
    """How selective a clause is: its weakest alternative's length."""
    return min(len(lit) for _, lit, _ in clause)


def _all(needs: Iterable[Need]) -> Need:
    clauses = {c for need in needs if need is not None for c in need}
    if not clauses:
        return None
    return tuple(sorted(clauses, key=lambda c: (-_strength(c), sorted(c)))[:MAX_CLAUSES])


def _any(needs: Sequence[Need]) -> Need:
    if not needs or any(n is None for n in needs):
        return None
    # (a1 and a2) or (b1 and b2) holds only if every (ai or bj) does: the strongest of those clauses
    acc: tuple[Clause, ...] = needs[0] or ()
    for need in needs[1:]:
        pairs = {a | b for a in acc for b in need or ()}
        acc = tuple(sorted(pairs, key=lambda c: (-_strength(c), sorted(c)))[:MAX_CLAUSES])
    return acc


def _one(column: str, literal: str, folded: bool = False) -> Need:
    if folded:
        literal = literal.casefold()
        if not literal.isascii():
            return None
    if not literal:
        return None
    return (frozenset({(column, literal, folded)}),)


# --- SQL predicates -----------------------------------------------------------------------------


class _Parser:
    """The boolean structure of a compiled predicate (:mod:`rempart.detect.backend`'s output)."""

    def __init__(self, toks: list[_Tok]) -> None:
        self.toks, self.i = toks, 0

    def peek(self, word: str) -> bool:
        return self.i < len(self.toks) and self.toks[self.i].kind == "word" and self.toks[self.i].text == word

    def expr(self) -> Need:
        alternatives = [self.term()]
        while self.peek("OR"):
            self.i += 1
            alternatives.append(self.term())
        return _any(alternatives)

    def term(self) -> Need:
        parts = [self.factor()]
        while self.peek("AND"):
            self.i += 1
            parts.append(self.factor())
        return _all(parts)

    def factor(self) -> Need:
        if self.peek("NOT"):
            self.i += 1
            self.factor()
            return None
        if self.i < len(self.toks) and self.toks[self.i].text == "(" and self.toks[self.i].kind == "punct":
            start = self.i
            self.i += 1
            inner = self.expr()
            if self.i < len(self.toks) and self.toks[self.i].text == ")":
                self.i += 1
                if not self._atom_continues():
                    return inner
            self.i = start  # `(a) = b` and the like: an atom that starts with a parenthesis
        return self.atom()

    def _atom_continues(self) -> bool:
        if self.i >= len(self.toks):
            return False
        tok = self.toks[self.i]
        return not (tok.kind == "punct" and tok.text == ")") and not (
            tok.kind == "word" and tok.text in ("AND", "OR")
        )

    def atom(self) -> Need:
        start, depth = self.i, 0
        while self.i < len(self.toks):
            tok = self.toks[self.i]
            if tok.kind == "punct" and tok.text in "([":
                depth += 1
            elif tok.kind == "punct" and tok.text in ")]":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and tok.kind == "word" and tok.text in ("AND", "OR"):
                break
            self.i += 1
        return _atom_need(self.toks[start:self.i])


def _shape(toks: list[_Tok]) -> str:
    return " ".join(t.text if t.kind in ("punct", "word") else t.kind.upper() for t in toks)


def _atom_need(toks: list[_Tok]) -> Need:
    shape = _shape(toks)
    if shape == "COL = STR":
        return _one(toks[0].text, toks[2].text)
    if shape in ("CONTAINS ( COL , STR )", "STARTS_WITH ( COL , STR )", "ENDS_WITH ( COL , STR )"):
        return _one(toks[2].text, toks[4].text)
    if shape == "COL LIKE STR ESCAPE STR" and toks[4].text == "\\":
        return _one(toks[0].text, _like_piece(toks[2].text))
    if shape == "REGEXP_MATCHES ( COL , STR )":
        return regex_need(toks[2].text, toks[4].text)
    if shape.startswith("COL IN (") and shape.endswith(")") and len(toks) >= 5:
        values = toks[3:-1]
        if all(t.kind == "str" for t in values[::2]) and all(t.text == "," for t in values[1::2]):
            return _any([_one(toks[0].text, t.text) for t in values[::2]])
    return None


def _like_piece(pattern: str) -> str:
    """The longest run of a LIKE pattern (escape ``\\``) without wildcards."""
    pieces, current, i = [], [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            current.append(pattern[i + 1])
            i += 2
            continue
        if c in "%_":
            pieces.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    pieces.append("".join(current))
    return max(pieces, key=len)


def predicate_need(predicate: str | None) -> Need:
    """The literals `predicate` needs (see the module docstring); None when it needs none we can tell."""
    if not predicate:
        return None
    toks = _tokens(predicate)
    if not toks:
        return None
    parser = _Parser(toks)
    need = parser.expr()
    if parser.i != len(toks):
        return None  # not understood to its end: claim nothing
    return need


# --- regular expressions --------------------------------------------------------------------------

# escapes RE2 reads otherwise than Python (or Python not at all): Unicode classes, quoting, \C, \z
RE2_ONLY_ESCAPES = frozenset("pPQECz")


def _escapes(pattern: str) -> set[str]:
    """The characters that follow a backslash as escapes (``\\\\p`` is a backslash, then ``p``)."""
    found, i = set(), 0
    while i < len(pattern) - 1:
        if pattern[i] == "\\":
            found.add(pattern[i + 1])
            i += 2
        else:
            i += 1
    return found


def regex_need(column: str, pattern: str) -> Need:
    """What an RE2 `pattern` over `column` needs: literal runs it cannot match without.

    Python's parser reads the pattern (RE2's syntax is nearly a subset); where the two disagree (POSIX
    classes, RE2-only escapes) Python refuses or the pattern is skipped, and the rule is just not
    prefiltered.
    """
    if "[:" in pattern or _escapes(pattern) & RE2_ONLY_ESCAPES:
        return None
    try:
        import re._parser as sre_parse  # type: ignore[import-not-found,unused-ignore]
        from re import _constants as sre  # type: ignore[attr-defined,unused-ignore]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError, TypeError):
        return None
    folded = bool(parsed.state.flags & re.IGNORECASE) or ("(?" in pattern and "i" in _flag_letters(pattern))
    try:
        return _seq_need(list(parsed), column, folded, sre)
    except RecursionError:
        return None


def _flag_letters(pattern: str) -> str:
    """Every inline flag letter of the pattern, scoped or not (any ``i`` makes the search case-folded)."""
    return "".join(m.group(1) for m in re.finditer(r"\(\?([a-zA-Z-]+)[):]", pattern))


def _seq_need(items: list[Any], column: str, folded: bool, sre: Any) -> Need:
    needs: list[Need] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            needs.append(_one(column, "".join(run), folded))
            run.clear()

    for op, arg in items:
        if op is sre.LITERAL:
            run.append(chr(arg))
            continue
        flush()
        if op is sre.SUBPATTERN:
            needs.append(_seq_need(list(arg[-1]), column, folded, sre))
        elif op is sre.BRANCH:
            needs.append(_any([_seq_need(list(b), column, folded, sre) for b in arg[1]]))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
            low, _high, body = arg
            if low >= 1:
                needs.append(_seq_need(list(body), column, folded, sre))
        elif op is sre.ATOMIC_GROUP:
            needs.append(_seq_need(list(arg), column, folded, sre))
        # IN, ANY, AT, NOT_LITERAL, CATEGORY, GROUPREF, ASSERT…: nothing required, and the run breaks
    flush()
    return _all(needs)


# --- serialisation (the compile cache keeps needs beside predicates) ------------------------------


def need_to_list(need: Need) -> list[list[list[Any]]] | None:
    if need is None:
        return None
    return [sorted([c, lit, folded] for c, lit, folded in clause) for clause in need]


def need_from_list(data: Any) -> Need:
    if data is None:
        return None
    return tuple(frozenset((str(c), str(lit), bool(f)) for c, lit, f in clause) for clause in data)


# --- searching a batch ---------------------------------------------------------------------------


def met(need: Need, found: Iterable[Literal] | set[Literal]) -> bool:
    if need is None:
        return True
    present = found if isinstance(found, set | frozenset) else set(found)
    return all(not clause.isdisjoint(present) for clause in need)


class LiteralIndex:
    """The literals of a set of needs, one automaton per (column, folded): built once, searched per batch."""

    def __init__(self, needs: Iterable[Need]) -> None:
        by_key: dict[tuple[str, bool], set[str]] = {}
        for need in needs:
            for clause in need or ():
                for col, lit, folded in clause:
                    by_key.setdefault((col, folded), set()).add(lit)
        self.columns = sorted({col for col, _ in by_key})
        self._short: dict[tuple[str, bool], list[tuple[str, str]]] = {}
        self._automata: dict[tuple[str, bool], ahocorasick.Automaton] = {}
        self._words: dict[tuple[str, bool], dict[str, str]] = {}
        for key, literals in by_key.items():
            words = {}
            for lit in literals:
                encoded = _bytes_as_text(lit)
                if len(encoded) <= SHORT:
                    self._short.setdefault(key, []).append((lit, encoded))
                else:
                    words[encoded] = lit
            if words:
                self._automata[key] = _automaton(words)
                self._words[key] = words

    def search(self, texts: dict[str, bytes]) -> set[Literal]:
        """The literals present in `texts` (each column's values, UTF-8, joined in any order)."""
        found: set[Literal] = set()
        folded_texts: dict[str, str] = {}
        for (col, folded), automaton in self._automata.items():
            text = self._text(texts, col, folded, folded_texts)
            if text:
                words = self._words[(col, folded)]
                found.update((col, lit, folded) for lit in _present(automaton, words, text))
        for (col, folded), literals in self._short.items():
            text = self._text(texts, col, folded, folded_texts)
            found.update((col, lit, folded) for lit, encoded in literals if encoded in text)
        return found

    @staticmethod
    def _text(texts: dict[str, bytes], col: str, folded: bool, cache: dict[str, str]) -> str:
        raw = texts.get(col, b"")
        if not folded:
            return raw.decode("latin-1")
        if col not in cache:
            # ASCII text folds byte by byte; other text as Python folds it, which finds every ASCII
            # literal RE2's (?i) would match, as UTF-8 bytes seen as Latin-1 like the literals
            text = raw.lower() if raw.isascii() else raw.decode("utf-8", "replace").casefold().encode()
            cache[col] = text.decode("latin-1")
        return cache[col]


def _automaton(words: dict[str, str]) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for encoded, lit in words.items():
        automaton.add_word(encoded, lit)
    automaton.make_automaton()
    return automaton


FIRST_SLICE = 1 << 16


def _present(automaton: ahocorasick.Automaton, words: dict[str, str], text: str) -> set[str]:
    """The literals of `words` that occur in `text`.

    An automaton reports every occurrence, and in a hunt's scope of 600,000 process creations ``.exe``
    occurs millions of times. So the text is searched in slices of doubling size, and after a slice that
    found something the automaton is rebuilt without the literals found: each common literal is reported
    a few times, not at every row. Slices overlap by the longest literal, so none is cut in two.
    """
    if len(text) <= FIRST_SLICE:
        return {lit for _, lit in automaton.iter(text)}
    found: set[str] = set()
    overlap = max(len(w) for w in words) - 1
    pos, size = 0, FIRST_SLICE
    while pos < len(text):
        new = {lit for _, lit in automaton.iter(text[pos:pos + size + overlap])}
        pos += size
        size *= 2
        if new - found:
            found |= new
            left = {w: lit for w, lit in words.items() if lit not in found}
            if not left:
                break
            automaton = _automaton(left)
    return found


def _bytes_as_text(literal: str) -> str:
    return literal.encode("utf-8").decode("latin-1")

