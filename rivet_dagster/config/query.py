"""A query's `${KEY}`s as parameters: values are bound, never pasted into the SQL.

Where a `${KEY}` stands decides what it may be:
* outside quotes, or as a whole string literal (`'${REGION}'`): a value, bound as a parameter;
* inside a string literal (`'%${NAME}%'`): part of a string, bound and concatenated (`'%' || ? || '%'`);
* inside a quoted identifier (`"${TABLE}"`, `` `${TABLE}` ``), or outside quotes where only a name can stand
  (after FROM, JOIN, INTO, UPDATE, TABLE, or beside a `.`): a name, pasted only if it is a plain identifier;
* inside a comment: left as written.
Anything else is refused with the key's name, so no value can change the statement.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
NAME_BEFORE = re.compile(r"(?i)(?:\b(?:from|join|into|update|table)|\.)\s*$")
INTEGER, DECIMAL = re.compile(r"-?\d{1,18}"), re.compile(r"-?\d{1,30}\.\d{1,30}")
DOLLAR_QUOTE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


class UnsafeQuery(ValueError):
    """A `${KEY}` standing where its value would become SQL."""


@dataclass(frozen=True)
class UserQuery:
    """The export's SQL for `str.format`: the user's braces escaped, each bound `${KEY}` as `{p<n>}`."""
    sql: str
    params: dict[str, Any] = field(default_factory=dict)   # p<n> -> the value (str, or int / Decimal outside quotes)
    keys: dict[str, str] = field(default_factory=dict)     # p<n> -> the ${KEY} it came from, for errors


QUOTED_OR_COMMENT = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|--[^\n]*|/\*.*?\*/|"
                               r"\$([A-Za-z_]\w*|)\$.*?\$\1\$", re.S)
WRITES = re.compile(r"(?i)\b(INSERT|UPDATE|DELETE|MERGE|UPSERT|REPLACE\s+INTO|DROP|ALTER|CREATE|TRUNCATE|GRANT|"
                    r"REVOKE|RENAME|LOCK|CALL|COPY|LOAD|ATTACH|DETACH|VACUUM|PRAGMA)\b")


def check_read_only(template: str) -> None:
    """Exports only read: the query must be a SELECT (or WITH / VALUES / TABLE), and no statement word that
    writes may stand in it outside quotes and comments (a data-modifying WITH, `FOR UPDATE`). The source session
    is read-only too; this says so before any connection, in words that name the cause."""
    code = QUOTED_OR_COMMENT.sub(" ", template)
    word = re.match(r"[\s(]*([A-Za-z]+)", code)
    if word is None or word.group(1).upper() not in ("SELECT", "WITH", "VALUES", "TABLE"):
        first = word.group(1).upper() if word else repr(code.strip()[:20])
        raise UnsafeQuery(f"exports are read-only: the query must be a SELECT, and it starts with {first}")
    writes = WRITES.search(code)
    if writes:
        raise UnsafeQuery(f"exports are read-only: the query holds {writes.group(1).upper()}, which changes or "
                          "locks the database")


def bind_params(template: str, values: Mapping[str, str], dialect: str) -> UserQuery:
    """`template` with its `${KEY}`s as parameters (`values` holds every key), for a source of `dialect`."""
    return _Parser(template, values, dialect).parse()


class _Parser:
    def __init__(self, template: str, values: Mapping[str, str], dialect: str):
        self.text, self.values, self.dialect = template, values, dialect
        self.out: list[str] = []
        self.params: dict[str, Any] = {}
        self.keys: dict[str, str] = {}

    def parse(self) -> UserQuery:
        text, i = self.text, 0
        while i < len(text):
            if text.startswith("--", i) or (self.dialect == "mysql" and text[i] == "#"):
                i = self._verbatim(i, _end_of(text, "\n", i))
            elif text.startswith("/*", i):
                i = self._verbatim(i, _end_of(text, "*/", i + 2, inclusive=True))
            elif text[i] == "'":
                end = self._end_of_quoted(i, "'")
                self.out.append(self._string(text[i + 1:end - 1]))
                i = end
            elif text[i] in ('"', "`"):
                end = self._end_of_quoted(i, text[i])
                self.out.append(_braces(self._names(text[i:end])))
                i = end
            elif self.dialect == "postgres" and (tag := DOLLAR_QUOTE.match(text, i)) and not text.startswith("${", i):
                end = _end_of(text, tag.group(0), tag.end(), inclusive=True)
                if "${" in text[i:end]:
                    raise UnsafeQuery(f"{self._key_at(i)}: a ${{KEY}} inside a dollar-quoted string is not "
                                         "supported; use a plain '...' string")
                i = self._verbatim(i, end)
            elif text.startswith("${", i):
                end = _end_of(text, "}", i, inclusive=True)
                self.out.append(self._outside(text[i + 2:end - 1].strip(), "".join(self.out), text[end:end + 1]))
                i = end
            else:
                self.out.append(_braces(text[i]))
                i += 1
        return UserQuery("".join(self.out), self.params, self.keys)

    def _verbatim(self, start: int, end: int) -> int:
        self.out.append(_braces(self.text[start:end]))
        return end

    def _end_of_quoted(self, start: int, quote: str) -> int:
        """The index after the closing quote (a doubled quote is part of the text; MySQL also escapes with \\)."""
        i = start + 1
        while i < len(self.text):
            if self.dialect == "mysql" and quote == "'" and self.text[i] == "\\":
                i += 2
                continue
            if self.text[i] == quote:
                if self.text.startswith(quote * 2, i):
                    i += 2
                    continue
                return i + 1
            i += 1
        return len(self.text)

    def _outside(self, key: str, before: str, after: str) -> str:
        """A `${KEY}` outside quotes: a name where only a name can stand, else a bound value."""
        value = self._value(key)
        if NAME_BEFORE.search(before) or after == ".":
            return _braces(_identifier(key, value))
        if INTEGER.fullmatch(value):
            return self._bind(key, int(value))
        if DECIMAL.fullmatch(value):
            return self._bind(key, Decimal(value))
        return self._bind(key, value)

    def _string(self, inner: str) -> str:
        """A string literal: as written, or its `${KEY}` parts bound and concatenated with its text."""
        if "${" not in inner:
            return _braces(f"'{inner}'")
        parts, last = [], 0
        for match in re.finditer(r"\$\{([^}]*)\}", inner):
            if match.start() > last:
                parts.append(_braces(f"'{inner[last:match.start()]}'"))
            parts.append(self._bind(match.group(1).strip(), self._value(match.group(1).strip())))
            last = match.end()
        if last < len(inner):
            parts.append(_braces(f"'{inner[last:]}'"))
        if len(parts) == 1:
            return parts[0]
        return f"CONCAT({', '.join(parts)})" if self.dialect == "mysql" else f"({' || '.join(parts)})"

    def _names(self, quoted: str) -> str:
        """A quoted identifier: its `${KEY}`s must be plain names."""
        return re.sub(r"\$\{([^}]*)\}", lambda m: _identifier(m.group(1).strip(), self._value(m.group(1).strip())),
                      quoted)

    def _value(self, key: str) -> str:
        if key not in self.values:
            raise UnsafeQuery(f"${{{key}}} has no value")
        return self.values[key]

    def _bind(self, key: str, value: Any) -> str:
        name = next((n for n, k in self.keys.items() if k == key and self.params[n] == value), None)
        if name is None:
            name = f"p{len(self.params)}"
            self.params[name], self.keys[name] = value, key
        return "{" + name + "}"

    def _key_at(self, index: int) -> str:
        match = re.search(r"\$\{([^}]*)\}", self.text[index:])
        return f"${{{match.group(1).strip()}}}" if match else "a ${KEY}"


def _identifier(key: str, value: str) -> str:
    if not IDENTIFIER.fullmatch(value):
        raise UnsafeQuery(f"${{{key}}} stands where only a name can (a table or column), and its value is not a "
                             "plain identifier (letters, digits and _); refused")
    return value


def _end_of(text: str, token: str, start: int, inclusive: bool = False) -> int:
    found = text.find(token, start)
    if found < 0:
        return len(text)
    return found + len(token) if inclusive else found


def _braces(text: str) -> str:
    """Escape the user's braces so str.format leaves them alone."""
    return text.replace("{", "{{").replace("}", "}}")
