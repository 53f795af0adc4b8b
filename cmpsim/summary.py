"""The run summary: what a user wants to see first after a run, as plain data.

Amounts are strings (exact decimals), lists are ordered, so the summary is identical from run to
run and can be written to `summary.json` and compared.
"""

from __future__ import annotations

from typing import Any

from cmpsim.kpis import roll_forward

ORDER_STATUSES = ["New", "Awaiting Generation", "Awaiting Dispatch", "Complete", "Error"]
ERROR_REASONS_MAX = 10


def _rows(con, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _has(con, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                            [name]).fetchall()[0][0])


def summarise(con) -> dict[str, Any]:
    info = dict(con.execute("SELECT key, value FROM run_info WHERE key <> 'scenario_json'").fetchall())
    counts = dict(con.execute("SELECT status, count(*) FROM orders WHERE kind = 'hardware' GROUP BY ALL").fetchall())
    return {
        "scenario": info.get("scenario"),
        "seed": int(info.get("seed", 0)),
        "start_date": info.get("start_date"),
        "days": int(info.get("horizon_days", 0)),
        "orders": {
            "total": sum(counts.values()),
            "by_status": {s: int(counts.get(s, 0)) for s in ORDER_STATUSES + sorted(set(counts) - set(ORDER_STATUSES))},
        },
        "error_reasons": _rows(
            con,
            """
            SELECT regexp_replace(status_reason,
                                  '^\\d+ of \\d+ line\\(s\\) failed; line \\d+ \\([^)]*\\) ', '') AS reason,
                   count(*) AS orders
            FROM orders WHERE status = 'Error' GROUP BY 1 ORDER BY orders DESC, reason LIMIT ?""",
            [ERROR_REASONS_MAX],
        ),
        "fraud_check": dict(
            con.execute("""SELECT fraud_check, count(*) FROM sales_order_details
                                           GROUP BY ALL ORDER BY 1""").fetchall()
        ),
        "stock_checks": _rows(
            con,
            """SELECT count(*) AS checks, count(*) FILTER (WHERE order_id IS NULL) AS without_order,
                                      count(*) FILTER (WHERE NOT in_stock) AS out_of_stock FROM stock_checks""",
        )[0],
        "files": _rows(
            con,
            """SELECT kind, direction, status, count(*) AS files, coalesce(sum(records), 0) AS records
                               FROM generic_files GROUP BY ALL ORDER BY kind, direction, status""",
        ),
        "quarantined_files": _rows(
            con,
            """SELECT file_id, kind, name, status, reason FROM generic_files
                                           WHERE status IN ('Quarantined', 'Duplicate') ORDER BY file_id""",
        ),
        "faults_injected": _rows(
            con,
            """SELECT kind, file_kind, strftime(injected_at, '%Y-%m-%d %H:%M') AS at,
                                         file_name FROM faults_injected ORDER BY injected_at, fault_no""",
        ),
        "devices": dict(
            con.execute("SELECT enrolment_status, count(*) FROM devices GROUP BY ALL ORDER BY 1").fetchall()
        ),
        "charges": [
            {**r, "gross": str(r["gross"])}
            for r in _rows(
                con,
                """
            SELECT billing_mode, status, count(*) AS charges, sum(gross_amount) AS gross
            FROM charges GROUP BY ALL ORDER BY billing_mode, status""",
            )
        ],
        "service_orders": _rows(con, """SELECT order_type, status, count(*) AS orders FROM orders
                                        WHERE kind = 'service' GROUP BY ALL ORDER BY order_type, status"""),
        "service_rejections": _rows(con, """
            SELECT order_type, regexp_replace(status_reason, '\\[.*\\]|line [0-9.]+: |follow-on line [0-9.]+ ', '')
                   AS reason, count(*) AS orders
            FROM orders WHERE kind = 'service' AND status IN ('Rejected', 'Failed')
            GROUP BY ALL ORDER BY orders DESC, reason LIMIT ?""", [ERROR_REASONS_MAX]),
        "service_lead_times": _rows(con, """
            SELECT priority, count(*) AS orders, round(avg(wait_hours), 2) AS mean_wait_hours,
                   round(avg(lead_time_hours), 2) AS mean_lead_time_hours,
                   round(quantile_cont(lead_time_hours, 0.9), 2) AS p90_lead_time_hours
            FROM service_lead_times GROUP BY ALL ORDER BY priority DESC""")
        if _has(con, "service_lead_times") else [],
        "job_runs": _rows(
            con,
            """SELECT job, component, count(*) AS runs, sum(processed) AS processed,
                      count(*) FILTER (WHERE status = 'Failed') AS failed
               FROM job_runs GROUP BY ALL ORDER BY min(run_no)""",
        ),
        **_billing(con),
        "events": int(con.execute("SELECT count(*) FROM events").fetchall()[0][0]),
    }


def _money(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    """Exact amounts as strings, so the summary is plain JSON and never a float."""
    return [{k: (str(v) if k in keys and v is not None else v) for k, v in r.items()} for r in rows]


def _billing(con) -> dict[str, Any]:
    """Billing runs, invoices, payments, the two ledgers and the probes."""
    if not _has(con, "invoices"):
        return {}
    return {
        "billing_runs": _rows(con, """
            SELECT count(*) AS runs, count(*) FILTER (WHERE status = 'Completed') AS completed,
                   coalesce(list(strftime(run_date, '%Y-%m-%d') || ' at ' || failed_job ORDER BY run_date)
                            FILTER (WHERE status <> 'Completed'), []) AS incomplete
            FROM billing_runs""")[0],
        "invoices": _money(_rows(con, """
            SELECT invoice_type, count(*) AS invoices, sum(lines) AS lines, sum(net_amount) AS net,
                   sum(tax_amount) AS tax, sum(gross_amount) AS gross
            FROM invoices GROUP BY ALL ORDER BY invoice_type"""), "net", "tax", "gross"),
        "statements": int(con.execute("SELECT count(*) FROM statements").fetchall()[0][0]),
        "bill_documents": dict(con.execute("SELECT doc_type, count(*) FROM bill_documents GROUP BY ALL "
                                           "ORDER BY 1").fetchall()),
        "usage": _money(_rows(con, """
            SELECT (SELECT count(*) FROM usage_records) AS hot_records,
                   (SELECT coalesce(sum(records), 0) FROM usage_archives) AS archived_records,
                   (SELECT count(*) FROM usage_archives) AS archive_files,
                   (SELECT coalesce(sum(amount), 0) FROM usage_history) AS rated_amount"""), "rated_amount")[0],
        "payments": _money(_rows(con, """
            SELECT 'payments received' AS what, count(*) AS documents, coalesce(sum(amount), 0) AS amount
            FROM payments
            UNION ALL SELECT 'payments returned', count(*), coalesce(sum(amount), 0) FROM payment_reversals
            UNION ALL SELECT 'refunds requested', count(*), coalesce(sum(amount), 0) FROM refunds
            UNION ALL SELECT 'refunds paid out', count(*), coalesce(sum(amount), 0) FROM refunds WHERE status = 'Paid'
            """), "amount"),
        "postings": _money(_rows(con, """
            SELECT ledger, status, count(*) AS postings, sum(amount) AS amount FROM postings
            GROUP BY ALL ORDER BY ledger, status"""), "amount"),
        "ledgers": _money(_rows(con, """
            SELECT (SELECT coalesce(sum(amount), 0) FROM sl_entries) AS sales_ledger_balance,
                   (SELECT coalesce(sum(debit - credit), 0) FROM gl_entries
                    WHERE gl_account = (SELECT gl_account FROM posting_rules WHERE rule = 'receivables'))
                       AS receivables_control,
                   (SELECT coalesce(sum(debit), 0) FROM gl_entries) AS gl_debits,
                   (SELECT coalesce(sum(credit), 0) FROM gl_entries) AS gl_credits,
                   (SELECT count(*) FROM gl_journals) AS journals,
                   (SELECT count(*) FROM sl_entries) AS sl_entries"""),
                          "sales_ledger_balance", "receivables_control", "gl_debits", "gl_credits")[0],
        "receivables_roll_forward": roll_forward(con).to_dict(),
        "reconciliation": _reconciliation(con),
        "comms": _rows(con, """SELECT channel, status, count(*) AS comms FROM comms GROUP BY ALL
                               ORDER BY channel, status""") if _has(con, "comms") else [],
        "comms_failures": _rows(con, """SELECT channel, regexp_replace(reason, 'CR-[0-9]+', 'CR-…') AS reason,
                                       count(*) AS comms FROM comms WHERE status IN ('Failed', 'Bounced')
                                       GROUP BY ALL ORDER BY comms DESC, channel, reason LIMIT 10""")
        if _has(con, "comms") else [],
        "probes": _rows(con, """
            SELECT r.probe, min(r.kind) AS kind, count(*) AS evaluations,
                   count(*) FILTER (WHERE r.breached) AS breaches,
                   (SELECT count(*) FROM probe_alerts a WHERE a.probe = r.probe) AS alerts
            FROM probe_results r GROUP BY r.probe ORDER BY r.probe""") if _has(con, "probe_results") else [],
    }


def _reconciliation(con) -> dict[str, Any]:
    """The sales ledger against the general ledger at the end of the run (cmpsim.reconcile)."""
    from cmpsim.reconcile import reconcile

    rec = reconcile(con)
    totals = rec.summary()["totals"]
    return {"reconciled": rec.reconciled, "sl_total": totals["sl_total"], "gl_receivables": totals["gl_receivables"],
            "breaks": {t: n for t, n in rec.breaks_by_type().items() if n}}
