"""A pySigma backend emitting DuckDB SQL predicates over rempart's detection tables.

A compiled rule is a boolean SQL expression evaluated against a per-logsource *scope table* that the
detection plan builds from the event store. For every field ``F`` a rule names, the scope table holds two
columns: ``"l:f"`` (the value lower-cased once, when the table is built) and ``"o:f"`` (the original value),
where ``f`` is the field name lower-cased. Case-insensitive matching, which Sigma requires by default,
then becomes plain equality or substring search on ``"l:f"`` against a lower-cased literal (``contains``,
``starts_with``, ``ends_with``, or ``LIKE`` without ``ILIKE``'s per-row case folding); ``|cased``,
regular expressions and numeric comparisons read ``"o:f"``. Keywords (values without a field) search the
whole original record, ``_raw``.

A field absent from the events reads as NULL; every negation is null-safe (``NOT coalesce(x, false)``)
so that ``not filter`` holds for an event that lacks the filter's field, as Sigma means it.

The conditions the processing pipelines add for a rule's logsource (``Channel``, ``EventID``, ``_product``)
are left out: a scope table holds only its logsource's events (see :mod:`rempart.detect.pipelines`).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, cast

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionIdentifier,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.deferred import DeferredQueryExpression
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.rule import SigmaRule
from sigma.types import (
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from rempart.detect.pipelines import LOGSOURCE_CONDITION

BACKEND_VERSION = "rempart-duckdb-9"
RAW_FIELD = "_raw"
LOWER_PREFIX = "l:"
ORIGINAL_PREFIX = "o:"
# The scope-table columns a compiled predicate reads: ("l" | "o", lower-cased field name).
COLUMN_REF = re.compile(r'"([lo]):((?:[^"]|"")+)"')


def column(kind: str, field: str) -> str:
    """The quoted scope-table column holding `field` lower-cased ('l') or as recorded ('o')."""
    name = f"{kind}:{field.lower()}".replace('"', '""')
    return f'"{name}"'


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def columns_used(predicate: str) -> set[tuple[str, str]]:
    """The (kind, field) scope-table columns that a compiled predicate reads."""
    return {(m.group(1), m.group(2).replace('""', '"')) for m in COLUMN_REF.finditer(predicate)}


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def string_match(col: str, value: SigmaString, lower: bool) -> str:
    """SQL for `col` matching a Sigma string (wildcards * and ?), the cheapest form that is exact."""
    parts: list[str | SpecialChars] = []
    for part in value.s:
        if isinstance(part, Placeholder):
            raise SigmaFeatureNotSupportedByBackendError(
                f"placeholder %{part.name}% is not resolved by any pipeline"
            )
        if isinstance(part, str):
            parts.append(part.lower() if lower else part)
        else:
            parts.append(part)
    specials = [i for i, p in enumerate(parts) if isinstance(p, SpecialChars)]
    literal = "".join(p for p in parts if isinstance(p, str))
    if not specials:
        return f"{col} = {sql_literal(literal)}"
    only_multi = all(parts[i] == SpecialChars.WILDCARD_MULTI for i in specials)
    if only_multi and set(specials) <= {0, len(parts) - 1}:
        lead = 0 in specials
        trail = len(parts) - 1 in specials
        if not literal:
            return f"{col} IS NOT NULL"
        if lead and trail:
            return f"contains({col}, {sql_literal(literal)})"
        if trail:
            return f"starts_with({col}, {sql_literal(literal)})"
        return f"ends_with({col}, {sql_literal(literal)})"
    pattern = "".join(
        _like_escape(p)
        if isinstance(p, str)
        else ("%" if p == SpecialChars.WILDCARD_MULTI else "_")
        for p in parts
    )
    return f"{col} LIKE {sql_literal(pattern)} ESCAPE '\\'"


RE2_SPECIAL = set("\\.^$|?*+()[]{}")


def _re2_literal(text: str) -> str:
    return "".join("\\" + c if c in RE2_SPECIAL else c for c in text)


def _regex_body(value: SigmaString, anchored: bool) -> str:
    parts = list(value.s)
    out = []
    for part in parts:
        if isinstance(part, Placeholder):
            raise SigmaFeatureNotSupportedByBackendError(f"placeholder %{part.name}% is not resolved")
        if isinstance(part, str):
            out.append(_re2_literal(part))
        else:
            out.append(".*?" if part == SpecialChars.WILDCARD_MULTI else ".")
    if anchored:
        if parts and parts[0] == SpecialChars.WILDCARD_MULTI:
            out = out[1:]
        else:
            out.insert(0, "^")
        if parts and parts[-1] == SpecialChars.WILDCARD_MULTI and len(out) > 0 and out[-1] == ".*?":
            out = out[:-1]
        else:
            out.append("$")
    return "".join(out)


def _from_logsource(node: object) -> bool:
    """Whether a condition node comes from a logsource condition a pipeline added: the detection it
    belongs to (the nearest identifier above it) is named with :data:`LOGSOURCE_CONDITION`."""
    parent = getattr(node, "parent", None)
    for _ in range(16):  # node → detection item → detection → identifier, or up through AND / OR / NOT
        if parent is None:
            return False
        if isinstance(parent, ConditionIdentifier):
            return str(parent.identifier).startswith(LOGSOURCE_CONDITION)
        parent = getattr(parent, "parent", None)
    return False


def keyword_regex(values: list[SigmaString]) -> str:
    """Keywords (values without a field) as one RE2 search over the original record, ``_raw``."""
    cased = {isinstance(v, SigmaCasedString) for v in values}
    if cased == {True, False}:
        raise SigmaFeatureNotSupportedByBackendError("a keyword list mixing |cased and plain values")
    return alternation_match(RAW_FIELD, values, anchored=False, cased=True in cased)


def alternation_match(field: str, values: list[SigmaString], anchored: bool, cased: bool = False) -> str:
    """`field` matching any of `values`, as one RE2 automaton.

    Case-insensitive alternatives run case-sensitively over the lower-cased column against lower-cased
    literals, like every other case-insensitive match here: RE2 compiles ``(?i)`` by turning each letter
    into a two-letter class, which costs at every query's bind (about 1,000 such automata in SigmaHQ's
    process_creation rules alone) and keeps RE2 from searching for a literal prefix. The original record
    (keywords, over ``_raw``) has no lower-cased copy: lower-casing it would cost more than the search.
    """
    if field != RAW_FIELD and not cased:
        bodies = [_regex_body(v, anchored).lower() for v in values]
        kind, flags = "l", "(?s)"
    else:
        bodies = [_regex_body(v, anchored) for v in values]
        kind, flags = "o", "(?s)" if cased else "(?is)"
    body = bodies[0] if len(bodies) == 1 else "(?:" + "|".join(bodies) + ")"
    return f"regexp_matches({column(kind, field)}, {sql_literal(flags + body)})"


# `.{1000,}`: "some run of that many characters", SigmaHQ's idiom for over-long command lines.
LONG_RUN = re.compile(r"\.\{(\d+),\}")


def long_run_match(field: str, n: int, dotall: bool, regex: str) -> str:
    """`field` holding a run of `n` characters (none of them a newline unless `dotall`), without running
    RE2 over every value: a shorter value cannot match, and a value without a newline matches from its
    length alone. On the 2,492 process creations of Security-Datasets, RE2 spent 0.6 s on this one rule.
    """
    if dotall:
        return f"(length({field}) >= {n})"
    return (f"(length({field}) >= {n} AND (NOT contains({field}, chr(10)) "
            f"OR regexp_matches({field}, {regex})))")


# From this many alternatives on one field, one regular expression beats one substring scan each:
# SigmaHQ has rules with hundreds of `contains` values over kilobytes-long PowerShell payloads.
ALTERNATION_MIN = 4


class DuckDBBackend(TextQueryBackend):
    """Sigma → DuckDB SQL boolean predicate over a scope table (see the module docstring)."""

    name: ClassVar[str] = "rempart DuckDB backend"
    identifier: ClassVar[str] = "rempart_duckdb"
    formats: ClassVar[dict[str, str]] = {"default": "DuckDB boolean predicate"}
    requires_pipeline: ClassVar[bool] = True

    precedence: ClassVar[tuple[type[ConditionItem], type[ConditionItem], type[ConditionItem]]] = (
        ConditionNOT,
        ConditionAND,
        ConditionOR,
    )
    parenthesize: bool = True
    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = " = "
    str_quote: ClassVar[str] = "'"
    escape_char: ClassVar[str] = "\\"
    wildcard_multi: ClassVar[str] = "%"
    wildcard_single: ClassVar[str] = "_"

    compare_operators: ClassVar[dict[Any, str]] = {
        SigmaCompareExpression.CompareOperators.LT: "<",
        SigmaCompareExpression.CompareOperators.LTE: "<=",
        SigmaCompareExpression.CompareOperators.GT: ">",
        SigmaCompareExpression.CompareOperators.GTE: ">=",
    }

    # --- field = value -------------------------------------------------------------------------

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return string_match(column("l", cond.field), cast(SigmaString, cond.value), lower=True)

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cast(SigmaCasedString, cond.value)
        return string_match(column("o", cond.field), value, lower=False)

    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        # Fields are stored as text; a number matches its decimal spelling.
        return f"{column('l', cond.field)} = {sql_literal(str(cond.value))}"

    def convert_condition_field_eq_val_bool(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        text = "true" if cast(SigmaBool, cond.value).boolean else "false"
        return f"{column('l', cond.field)} IN ({sql_literal(text)}, {sql_literal(text[0])})"

    def _regex(self, value: SigmaRegularExpression) -> str:
        flags = "".join(
            flag
            for key, flag in (
                (SigmaRegularExpressionFlag.IGNORECASE, "i"),
                (SigmaRegularExpressionFlag.MULTILINE, "m"),
                (SigmaRegularExpressionFlag.DOTALL, "s"),
            )
            if key in value.flags
        )
        regex = str(value.regexp)
        return sql_literal(f"(?{flags}){regex}" if flags else regex)

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cast(SigmaRegularExpression, cond.value)
        field = column("o", cond.field)
        long_run = LONG_RUN.fullmatch(str(value.regexp))
        if long_run is not None:
            return long_run_match(field, int(long_run.group(1)),
                                  SigmaRegularExpressionFlag.DOTALL in value.flags, self._regex(value))
        return f"regexp_matches({field}, {self._regex(value)})"

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        cidr = cast(SigmaCIDRExpression, cond.value)
        expanded = ConditionOR(
            [ConditionFieldEqualsValueExpression(cond.field, SigmaString(net)) for net in cidr.expand()],
            cond.source,
        )
        return self.convert_condition_group(expanded, state)

    def convert_condition_field_compare_op_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cast(SigmaCompareExpression, cond.value)
        op = self.compare_operators[value.op]
        return f"TRY_CAST({column('o', cond.field)} AS DOUBLE) {op} {value.number.number}"

    def convert_condition_field_eq_field(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        ref = cast(SigmaFieldReference, cond.value)
        left, right = column("l", cond.field), column("l", ref.field)
        if ref.starts_with and ref.ends_with:
            return f"contains({left}, {right})"
        if ref.starts_with:
            return f"starts_with({left}, {right})"
        if ref.ends_with:
            return f"ends_with({left}, {right})"
        return f"{left} = {right}"

    def convert_condition_field_eq_val_null(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return f"{column('o', cond.field)} IS NULL"

    def convert_condition_field_exists(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return f"{column('o', cond.field)} IS NOT NULL"

    def convert_condition_field_not_exists(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return f"{column('o', cond.field)} IS NULL"

    explicit_not_exists_expression: ClassVar[bool] = True

    def convert_condition_field_eq_query_expr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        raise SigmaFeatureNotSupportedByBackendError("query expressions are not supported")

    def convert_condition_field_eq_val_timestamp_part(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        raise SigmaFeatureNotSupportedByBackendError("timestamp-part modifiers are not supported")

    # --- keywords: values without a field search the original record ---------------------------

    def convert_condition_val(self, cond: ConditionValueExpression, state: ConversionState) -> Any:
        if isinstance(cond.value, SigmaExpansion):
            expanded = ConditionOR([ConditionValueExpression(v) for v in cond.value.values], cond.source)
            return self.convert_condition_group(expanded, state)
        return super().convert_condition_val(cond, state)

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        return keyword_regex([cast(SigmaString, cond.value)])

    def convert_condition_or(
        self, cond: ConditionOR, state: ConversionState
    ) -> str | DeferredQueryExpression | None:
        # A keyword list becomes one regular expression over the original record: a single pass of
        # RE2's automaton, where one lower-cased copy of every record and one scan per keyword would
        # cost more than all the field rules of the logsource together.
        if len(cond.args) > 1 and all(
            isinstance(a, ConditionValueExpression) and isinstance(a.value, SigmaString)
            for a in cond.args
        ):
            values = [cast(SigmaString, cast(ConditionValueExpression, a).value) for a in cond.args]
            return keyword_regex(values)
        by_field: dict[str, list[SigmaString]] = {}
        for arg in cond.args:
            if self._plain_string_match(arg):
                item = cast(ConditionFieldEqualsValueExpression, arg)
                by_field.setdefault(item.field, []).append(cast(SigmaString, item.value))
        merged = {f for f, values in by_field.items() if len(values) >= ALTERNATION_MIN}
        if not merged:
            return super().convert_condition_or(cond, state)
        rest = [
            a for a in cond.args
            if not (self._plain_string_match(a)
                    and cast(ConditionFieldEqualsValueExpression, a).field in merged)
        ]
        parts = [alternation_match(f, by_field[f], anchored=True) for f in sorted(merged)]
        if rest:
            converted = self.convert_condition_or(ConditionOR(rest, cond.source), state) if len(rest) > 1 \
                else self.convert_condition_group(rest[0], state)
            if converted is None or isinstance(converted, DeferredQueryExpression):
                return super().convert_condition_or(cond, state)
            parts.append(str(converted))
        return " OR ".join(parts)

    @staticmethod
    def _plain_string_match(arg: object) -> bool:
        return (
            isinstance(arg, ConditionFieldEqualsValueExpression)
            and bool(arg.field)
            and type(arg.value) is SigmaString
        )

    def convert_condition_val_num(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        return keyword_regex([SigmaString(str(cond.value))])

    def convert_condition_val_re(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        regex = self._regex(cast(SigmaRegularExpression, cond.value))
        return f"regexp_matches({column('o', RAW_FIELD)}, {regex})"

    def convert_condition_query_expr(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        raise SigmaFeatureNotSupportedByBackendError("query expressions are not supported")

    # --- boolean structure ------------------------------------------------------------------------

    def convert_condition_and(
        self, cond: ConditionAND, state: ConversionState
    ) -> str | DeferredQueryExpression | None:
        # A pipeline adds a logsource's conditions as `<name> and (<condition>)`: always an AND's operand.
        kept = [a for a in cond.args if not _from_logsource(a)]
        if len(kept) == len(cond.args):
            return super().convert_condition_and(cond, state)
        if not kept:
            return "true"
        if len(kept) == 1:
            return self.convert_condition_group(kept[0], state) if isinstance(kept[0], ConditionItem) \
                else self.convert_condition(kept[0], state)
        return super().convert_condition_and(ConditionAND(kept, cond.source), state)

    def convert_condition_not(
        self, cond: ConditionNOT, state: ConversionState
    ) -> str | DeferredQueryExpression | None:
        # Null-safe: a filter on a field the event lacks is false, so its negation is true.
        arg = cond.args[0]
        if arg is None:
            return None
        expr = self.convert_condition(arg, state)
        if expr is None or isinstance(expr, DeferredQueryExpression):
            return expr
        return f"NOT coalesce(({expr}), false)"

    def finalize_query_default(
        self, rule: SigmaRule, query: str, index: int, state: ConversionState
    ) -> str:
        return query

    def finalize_output_default(self, queries: list[str]) -> list[str]:
        return queries
