"""The literal prefilter: sound (never drops a rule that matches), and it binds far fewer rules."""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rempart.detect.backend import column, sql_literal
from rempart.detect.hunt import hunt
from rempart.detect.prefilter import LiteralIndex, met, need_from_list, need_to_list, predicate_need
from rempart.events import EventStore
from tests.detect.helpers import fired, plan_for, rule
from tests.events.helpers import events_table

# characters where lower-casing and case folding differ, or fold onto ASCII (İ, K, ſ, ß, Σ…)
ALPHABET = "aAbBkKsSiI\u0130\u0131\u212a\u017f\u00df\u03a3\u03c3\u03c2\\. :_%-é\u00c9"
FIELDS = ("a", "b")
texts = st.text(alphabet=ALPHABET, max_size=8)


def _regex_text(value: str) -> str:
    return "".join("\\" + c if c in "\\.^$|?*+()[]{}" else c for c in value)


def _like_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _atom(draw: st.DrawFn, seeds: list[str]) -> str:  # noqa: PLR0911
    f = draw(st.sampled_from(FIELDS))
    lit, other, third = (draw(st.sampled_from(seeds)) for _ in range(3))
    kind = draw(st.sampled_from(["eq", "contains", "starts", "ends", "like", "re", "re_i", "in", "cased"]))
    lo = column("l", f)
    if kind == "eq":
        return f"{lo} = {sql_literal(lit.lower())}"
    if kind == "contains":
        return f"contains({lo}, {sql_literal(lit.lower())})"
    if kind == "starts":
        return f"starts_with({lo}, {sql_literal(lit.lower())})"
    if kind == "ends":
        return f"ends_with({lo}, {sql_literal(lit.lower())})"
    if kind == "cased":
        return f"contains({column('o', f)}, {sql_literal(lit)})"
    if kind == "like":
        pattern = f"%{_like_text(lit.lower())}%{_like_text(other.lower())}"
        return f"{lo} LIKE {sql_literal(pattern)} ESCAPE '\\'"
    if kind == "in":
        return f"{lo} IN ({sql_literal(lit.lower())}, {sql_literal(other.lower())})"
    repeat = draw(st.sampled_from(["*", "?", "+", "{0,2}", "{1,2}"]))
    a, b, c = _regex_text(lit), _regex_text(other), _regex_text(third)
    body = draw(st.sampled_from([a, f"{a}|{b}", f"(?:{c}){repeat}{a}", f"{a}[a-z]?{b}",
                                 f"(?:{a}|x{b}+)[a-z]?(?:{c}){repeat}{b}"]))
    if kind == "re_i":
        return f"regexp_matches({column('o', f)}, {sql_literal('(?is)' + body)})"
    return f"regexp_matches({lo}, {sql_literal('(?s)' + body.lower())})"


def _predicate(draw: st.DrawFn, seeds: list[str], depth: int) -> str:
    shape = draw(st.sampled_from(["atom", "atom", "and", "or", "not"])) if depth < 3 else "atom"
    if shape == "atom":
        return _atom(draw, seeds)
    if shape == "not":
        return f"NOT coalesce(({_predicate(draw, seeds, depth + 1)}), false)"
    left, right = _predicate(draw, seeds, depth + 1), _predicate(draw, seeds, depth + 1)
    return f"({left} {shape.upper()} {right})"


CASES = [str.lower, str.upper, str.swapcase, str.title, lambda s: s]


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, list[tuple[str | None, str | None]]]:
    """A predicate over literals drawn from a few seeds, and rows made of the same seeds in any case:
    rows then often match (a prefilter that wrongly drops them fails)."""
    seeds = draw(st.lists(texts, min_size=1, max_size=4))
    predicate = _predicate(draw, seeds, 0)

    def value() -> str | None:
        parts = draw(st.lists(st.sampled_from(seeds) | texts, max_size=4))
        if draw(st.booleans()) and not parts:
            return None
        return "".join(draw(st.sampled_from(CASES))(p) for p in parts)

    rows = [(value(), value()) for _ in range(draw(st.integers(1, 4)))]
    return predicate, rows


def _scope(values: list[tuple[str | None, str | None]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("v", pa.table({f: [row[i] for row in values] for i, f in enumerate(FIELDS)},
                               schema=pa.schema([(f, pa.string()) for f in FIELDS])))
    cols = ", ".join(f"lower({f}) AS {column('l', f)}, {f} AS {column('o', f)}" for f in FIELDS)
    con.execute(f"CREATE TABLE _scope AS SELECT {cols} FROM v")
    return con


def _found(con: duckdb.DuckDBPyConnection, index: LiteralIndex) -> set[tuple[str, str, bool]]:
    texts = {}
    for name in index.columns:
        got = con.execute(f'SELECT "{name}" FROM _scope').fetchall()
        texts[name] = "\x00".join(v for (v,) in got if v is not None).encode()
    return index.search(texts)


@settings(max_examples=1000, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
@example(case=("regexp_matches(\"o:a\", '(?is)abc')", [("xABCx", None)]))  # folded ASCII
@example(case=("regexp_matches(\"o:b\", '(?is)stra\u00dfe')", [(None, "STRASSE")]))  # folded, not ASCII
def test_a_predicate_that_holds_on_a_row_always_has_its_need_met(
    case: tuple[str, list[tuple[str | None, str | None]]]
) -> None:
    predicate, values = case
    con = _scope(values)
    holds = con.execute(f"SELECT coalesce(bool_or({predicate}), false) FROM _scope").fetchone()
    need = predicate_need(predicate)
    assert need_from_list(need_to_list(need)) == need
    if holds and holds[0]:
        assert met(need, _found(con, LiteralIndex([need]))), (predicate, values, need)
    con.close()


def test_needs_of_the_backends_shapes() -> None:
    both = predicate_need("contains(\"l:commandline\", 'vssadmin') AND contains(\"l:commandline\", 'delete')")
    assert both == (frozenset({("l:commandline", "vssadmin", False)}),
                    frozenset({("l:commandline", "delete", False)}))
    either = predicate_need("ends_with(\"l:image\", '\\wmic.exe') OR \"l:originalfilename\" = 'wmic.exe'")
    assert either == (
        frozenset({("l:image", "\\wmic.exe", False), ("l:originalfilename", "wmic.exe", False)}),)
    # a negation, a comparison and a null test constrain nothing
    assert predicate_need("NOT coalesce((contains(\"l:a\", 'x')), false)") is None
    assert predicate_need("TRY_CAST(\"o:a\" AS DOUBLE) > 3") is None
    assert predicate_need("\"o:a\" IS NULL") is None
    # keywords over the record, case-insensitive: searched folded
    assert predicate_need("regexp_matches(\"o:_raw\", '(?is)(?:mimikatz|sekurlsa)')") == (
        frozenset({("o:_raw", "mimikatz", True), ("o:_raw", "sekurlsa", True)}),)


def test_regular_expressions_python_reads_otherwise_than_re2_constrain_nothing() -> None:
    for pattern in ("[[:alpha:]]+abc", "\\pLabc", "\\Qa.b\\E", "abc\\z"):
        assert predicate_need(f"regexp_matches(\"o:a\", {sql_literal(pattern)})") is None
    # an escaped backslash before a `p` is a path, not RE2's \p
    path = sql_literal(r"(?s)\\pplblade\.dmp$")
    need = predicate_need(f"regexp_matches(\"l:a\", {path})")
    assert need is not None and ("l:a", "\\pplblade.dmp", False) in need[0]


def test_a_rule_is_bound_only_when_its_literals_are_in_the_batch(tmp_path: Path) -> None:
    ids = [str(uuid.UUID(int=i + 1)) for i in range(6)]
    rules = {f"r{i}.yml": rule(ids[i], f"  sel:\n    CommandLine|contains: 'tool{i}'\n  condition: sel",
                               logsource="category: process_creation\n  product: windows")
             for i in range(6)}
    plan = plan_for(tmp_path, rules)
    store = EventStore()
    store.append(events_table([{"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1,
                                "Computer": "h1", "CommandLine": "run TOOL3 now"}]))
    assert fired(plan.evaluate(store)) == {ids[3]: 1}
    assert plan.rules_bound == 1
    plan.prefilter = False
    assert fired(plan.evaluate(store)) == {ids[3]: 1}
    assert plan.rules_bound == 6
    store.close()


@pytest.mark.timeout(600)
def test_sigmahq_rules_on_the_attack_samples_give_the_same_alerts_with_far_fewer_rules_bound(
    shared_data: Path, tmp_path: Path
) -> None:
    store = EventStore()
    plan = hunt([shared_data / "evtx-attack-samples"], [shared_data / "sigma" / "rules" / "windows"],
                store=store, cache_dir=tmp_path, workers=1).plan
    found: dict[bool, tuple[set[tuple[str, str]], int]] = {}
    for prefilter in (True, False):
        plan.prefilter = prefilter
        alerts = plan.evaluate(store)
        assert not plan.runtime_failures
        keys = {(a.rule_id, f"{a.host}|{a.time.isoformat()}|{a.events[0]}") for a in alerts}
        found[prefilter] = keys, plan.rules_bound
    store.close()
    (with_prefilter, bound), (without, bound_all) = found[True], found[False]
    assert with_prefilter == without
    assert len(without) > 1000
    assert bound * 2 < bound_all, (bound, bound_all)


def test_a_long_text_is_searched_whole_even_once_common_literals_are_found() -> None:
    need = ((frozenset({("l:a", ".exe", False)}),), (frozenset({("l:a", "rare-one", False)}),),
            (frozenset({("l:a", "cut-in-two", False)}),), (frozenset({("l:a", "never", False)}),))
    index = LiteralIndex(need)
    common = b"c:\\windows\\cmd.exe " * 40_000  # 760,000 bytes: many slices
    boundary = (1 << 16) - 4  # the first slice ends inside this literal
    text = common[:boundary] + b"cut-in-two" + common[boundary:] + b"rare-one"
    found = index.search({"l:a": text})
    assert found == {("l:a", ".exe", False), ("l:a", "rare-one", False), ("l:a", "cut-in-two", False)}
