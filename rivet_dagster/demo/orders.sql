SELECT o.id, o.customer_id, o.status, o.amount, o.currency, o.created_at, o.note, o.receipt
FROM orders AS o
