"""A query's `${KEY}`s become parameters: values are bound wherever a value stands, names are pasted only when
they are plain identifiers, and a query that is not a SELECT is refused before any connection."""
from decimal import Decimal

import pytest

from rivet_dagster.config.query import UnsafeQuery, bind_params, check_read_only

HOSTILE = "x') AS a; COMMIT; DROP TABLE t; SELECT * FROM (SELECT 1 AS id WHERE '1' = '1"


@pytest.mark.parametrize("dialect", ["postgres", "mysql", "sqlite"])
def test_values_are_placeholders_whatever_they_hold(dialect):
    query = bind_params("SELECT * FROM t WHERE name = '${X}' AND id <= ${N} AND amount = ${A}",
                        {"X": HOSTILE, "N": "42", "A": "12.50"}, dialect)
    assert query.sql == "SELECT * FROM t WHERE name = {p0} AND id <= {p1} AND amount = {p2}"
    assert query.params == {"p0": HOSTILE, "p1": 42, "p2": Decimal("12.50")}
    assert query.keys == {"p0": "X", "p1": "N", "p2": "A"}


def test_a_value_inside_a_string_is_concatenated_in_each_dialect():
    values = {"X": "a'b"}
    assert bind_params("SELECT * FROM t WHERE n LIKE '%${X}%'", values, "postgres").sql == \
        "SELECT * FROM t WHERE n LIKE ('%' || {p0} || '%')"
    assert bind_params("SELECT * FROM t WHERE n LIKE '%${X}%'", values, "mysql").sql == \
        "SELECT * FROM t WHERE n LIKE CONCAT('%', {p0}, '%')"


def test_names_are_pasted_only_where_a_name_stands_and_only_when_plain():
    values = {"T": "orders", "S": "sales", "BAD": "orders; DROP TABLE t"}
    assert bind_params('SELECT * FROM ${S}.${T} JOIN "${T}" USING (id)', values, "postgres").sql == \
        'SELECT * FROM sales.orders JOIN "orders" USING (id)'
    for template in ("SELECT * FROM ${BAD}", 'SELECT * FROM "${BAD}"', "SELECT * FROM x.${BAD}"):
        with pytest.raises(UnsafeQuery, match=r"\$\{BAD\} stands where only a name can"):
            bind_params(template, values, "postgres")


def test_comments_and_escaped_quotes_are_left_as_written():
    query = bind_params("SELECT 'it''s ${X}' AS a, \"col\" -- ${X}\n/* ${X} */ FROM t", {"X": "v"}, "postgres")
    assert query.sql == "SELECT ('it''s ' || {p0}) AS a, \"col\" -- ${{X}}\n/* ${{X}} */ FROM t"
    mysql = bind_params("SELECT 'a\\'${X}' AS s # ${X}", {"X": "v"}, "mysql")
    assert mysql.sql == "SELECT CONCAT('a\\'', {p0}) AS s # ${{X}}"


def test_the_users_braces_survive_formatting():
    query = bind_params("SELECT '{\"a\": 1}'::jsonb AS j, ${N} AS n", {"N": "1"}, "postgres")
    assert query.sql.format(p0="$1") == "SELECT '{\"a\": 1}'::jsonb AS j, $1 AS n"


def test_a_key_inside_a_dollar_quoted_string_is_refused():
    with pytest.raises(UnsafeQuery, match="dollar-quoted"):
        bind_params("SELECT $$a ${X}$$ AS s", {"X": "v"}, "postgres")
    assert bind_params("SELECT $tag$ {x} $tag$ AS s", {}, "postgres").sql == "SELECT $tag$ {{x}} $tag$ AS s"


@pytest.mark.parametrize("query", ["SELECT 1", "  -- leading\n/* c */ (SELECT 1)", "WITH a AS (SELECT 1) SELECT * FROM a",
                                   "VALUES (1)", "TABLE orders", "select * from t", "SELECT last_update, \"delete\" FROM t",
                                   "SELECT 'DROP it' AS s -- UPDATE", "SELECT $$DELETE$$ AS s",
                                   "SELECT CAST(a AS CHAR CHARACTER SET utf8mb4) FROM t"])
def test_reads_are_allowed(query):
    check_read_only(query)


@pytest.mark.parametrize("query, word", [("DELETE FROM t RETURNING *", "DELETE"), ("UPDATE t SET a = 1", "UPDATE"),
                                         ("-- x\nDROP TABLE t", "DROP"), ("INSERT INTO t VALUES (1)", "INSERT"),
                                         ("TRUNCATE t", "TRUNCATE"), ("CALL p()", "CALL")])
def test_anything_but_a_read_is_refused_by_its_first_word(query, word):
    with pytest.raises(UnsafeQuery, match=f"exports are read-only: the query must be a SELECT, and it starts with "
                                          f"{word}"):
        check_read_only(query)


@pytest.mark.parametrize("query, word", [("WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone", "DELETE"),
                                         ("WITH x AS (SELECT 1) DELETE FROM t", "DELETE"),
                                         ("SELECT * FROM t FOR UPDATE", "UPDATE"),
                                         ("SELECT 1; DROP TABLE t", "DROP")])
def test_a_write_inside_a_select_is_refused_too(query, word):
    with pytest.raises(UnsafeQuery, match=f"exports are read-only: the query holds {word}"):
        check_read_only(query)
