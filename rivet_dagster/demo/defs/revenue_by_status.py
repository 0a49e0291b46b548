"""Downstream of an export: the demo's orders and revenue per status, from the files the `orders` export
committed (`ExportedFiles`: its latest run's manifests, wherever the files went)."""
import dagster as dg

from rivet_dagster import ExportedFiles


@dg.asset(ins={"orders": dg.AssetIn()}, kinds={"pyarrow"})
def revenue_by_status(context: dg.AssetExecutionContext, orders: ExportedFiles) -> dict[str, dict]:
    """Orders and revenue per order status, read from the committed Parquet files."""
    table = orders.dataset().to_table(columns=["status", "amount"]).group_by("status").aggregate(
        [("amount", "count"), ("amount", "sum")])
    by_status = {row["status"]: {"orders": row["amount_count"], "revenue": round(row["amount_sum"], 2)}
                 for row in table.to_pylist()}
    context.add_output_metadata({"dagster/row_count": len(by_status), "orders": orders.rows,
                                 "revenue": round(sum(s["revenue"] for s in by_status.values()), 2)})
    return by_status
