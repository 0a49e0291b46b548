"""The tables an export's query reads, parsed in the source's dialect: the export's lineage starts there."""
import pytest

from rivet_dagster.source.tables import tables_read


@pytest.mark.parametrize("engine, database, query, tables", [
    # unqualified names are in the source's default schema: public, the connection's database, main
    ("postgres", "shop", "SELECT * FROM orders", [("public", "orders")]),
    ("mysql", "shop", "SELECT * FROM orders", [("shop", "orders")]),
    ("sqlite", "shop.db", "SELECT * FROM orders", [("main", "orders")]),
    # joins, schemas, subqueries; each table once
    ("postgres", "shop", "SELECT o.id FROM sales.orders o JOIN customers c ON c.id = o.customer_id "
                         "WHERE o.id IN (SELECT order_id FROM sales.refunds) AND c.id IN (SELECT id FROM customers)",
     [("public", "customers"), ("sales", "orders"), ("sales", "refunds")]),
    ("mysql", "shop", "SELECT * FROM `billing`.`Invoices` i LEFT JOIN lines USING (invoice_id)",
     [("billing", "Invoices"), ("shop", "lines")]),
    # PostgreSQL folds unquoted names to lower case and keeps quoted ones
    ("postgres", "shop", 'SELECT * FROM Sales."Orders" JOIN Items USING (id)', [("public", "items"),
                                                                              ("sales", "Orders")]),
    # a CTE is not a table, a table function is not one, a schema-qualified name that a CTE shadows is
    ("postgres", "shop", "WITH recent AS (SELECT * FROM orders WHERE at > now() - interval '1 day') "
                         "SELECT * FROM recent JOIN generate_series(1, 3) g ON true JOIN archive.recent r ON true",
     [("archive", "recent"), ("public", "orders")]),
    # ${KEY}s are bound values, not SQL: the query still parses
    ("mysql", "shop", "SELECT * FROM orders WHERE id > ${MIN_ID} AND region = '${REGION}'", [("shop", "orders")]),
    # nothing read, or nothing the parser can read: no lineage, never an error
    ("postgres", "shop", "SELECT 1 AS one", []),
    ("postgres", "shop", "SELECT * FROM (((", []),
])
def test_each_table_the_query_reads_is_found_in_the_sources_dialect(engine, database, query, tables):
    assert list(tables_read(query, engine, database)) == tables
