"""The Invoice Production job, and invoices for hardware billed at once.

Cycle invoices (the first job of the daily billing run): every account whose bill cycle date has
come (its `bill_cycle_day` of this month, or of last month while this month's is still ahead) and
whose period ending that date is not billed yet gets one invoice for the period [start, end):
- recurring charges of its assets, in arrears, pro-rated by day: a day is charged when the asset
  was Active at the start of it or became Active during it, up to (not including) the day it
  stopped; amount = monthly × days / days in the period, rounded to the cent (half away from
  zero); Suspended periods are not charged;
- one-off charges waiting for the next invoice (hardware dispatched, new services connected)
  dated before the period end;
- rated usage before the period end, one line per asset;
- discounts: a negative line under each line they apply to (percent of its net);
- tax per line: round(net × rate) half away from zero; gross = net + tax; invoice totals are sums
  of lines, never re-rounded.
A period is billed once: `bill_cycles` records it, with or without an invoice, so a run that
failed is caught up by the next day's run without billing anything twice.

Immediate invoices: hardware charges marked "bill at once" are invoiced as soon as the dispatch
job created them, one invoice per order, outside the cycle.
"""

from __future__ import annotations


def invoice_production_step(sim) -> int:
    """Bill every account whose cycle period ended and is not billed yet; returns invoices made."""
    con = sim.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _inv_due AS
        WITH cycle AS (
            SELECT a.account_id,
                   CASE WHEN day(?::DATE) >= a.bill_cycle_day
                        THEN make_date(year(?::DATE), month(?::DATE), a.bill_cycle_day)
                        ELSE (make_date(year(?::DATE), month(?::DATE), a.bill_cycle_day) - INTERVAL 1 MONTH)::DATE
                   END AS period_end
            FROM accounts a)
        SELECT c.account_id, coalesce(b.last_end, (c.period_end - INTERVAL 1 MONTH)::DATE) AS period_start,
               c.period_end, c.account_id AS invoice_key
        FROM cycle c LEFT JOIN (SELECT account_id, max(period_end) AS last_end FROM bill_cycles GROUP BY ALL) b
             USING (account_id)
        WHERE c.period_end >= ?::DATE AND (b.last_end IS NULL OR b.last_end < c.period_end)""",
                [sim.today] * 5 + [sim.start.date()])
    if not sim.store.scalar("SELECT count(*) FROM _inv_due"):
        return 0
    _cycle_lines(sim)
    invoices = _store_invoices(sim, "cycle")
    con.execute("""
        INSERT INTO bill_cycles
        SELECT d.account_id, d.period_start, d.period_end, h.invoice_id, NULL, 'Invoiced', ?
        FROM _inv_due d LEFT JOIN _inv_heads h USING (invoice_key) ORDER BY d.account_id""", [sim.now])
    return invoices


def _cycle_lines(sim) -> None:
    """Every line of the due cycle invoices, discounts included, in `_inv_lines`.

    `sort_key` orders an invoice: recurring charges, usage, then one-off charges; a discount line
    sits right under the line it reduces."""
    con = sim.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _inv_lines AS
        SELECT d.invoice_key, 'recurring' AS line_type, r.asset_id AS source_id,
               sp.name || ' (' || r.price_list || ')' AS description, r.product_id, sp.product_class,
               1::DECIMAL(18,3) AS quantity, f.period_from, f.period_to, f.period_to - f.period_from AS days,
               d.period_end - d.period_start AS period_days,
               prorate(r.monthly_amount, f.period_to - f.period_from, d.period_end - d.period_start) AS net_amount,
               r.tax_rate, '1' || r.asset_id || f.period_from::VARCHAR AS sort_key
        FROM _inv_due d JOIN recurring_charges r USING (account_id) JOIN service_products sp USING (product_id),
             LATERAL (SELECT greatest(r.active_from::DATE, d.period_start) AS period_from,
                             least(coalesce(r.active_to::DATE, d.period_end), d.period_end) AS period_to) f
        WHERE r.state = 'Active' AND f.period_to > f.period_from
        UNION ALL
        SELECT d.invoice_key, 'usage', u.asset_id, sp.name || ' usage: ' || sum(u.units)::VARCHAR || ' ' || min(u.unit),
               u.product_id, 'usage', sum(u.units), min(u.usage_date), max(u.usage_date) + 1, NULL, NULL,
               sum(u.amount), sp.tax_rate, '2' || u.asset_id
        FROM _inv_due d JOIN usage_records u USING (account_id) JOIN service_products sp USING (product_id)
        WHERE u.invoice_id IS NULL AND u.usage_date < d.period_end
        GROUP BY d.invoice_key, u.asset_id, u.product_id, sp.name, sp.tax_rate
        UNION ALL
        SELECT d.invoice_key, CASE c.source_type WHEN 'sales_order' THEN 'hardware' ELSE 'one_off' END, c.charge_id,
               c.description || ' (' || c.source_id || ')', c.product_id, c.product_class, c.quantity,
               c.charge_date::DATE, c.charge_date::DATE + 1, NULL, NULL, c.net_amount, c.tax_rate,
               '3' || c.charge_id
        FROM _inv_due d JOIN charges c USING (account_id)
        WHERE c.status = 'Unbilled' AND c.billing_mode = 'next_invoice' AND c.charge_date < d.period_end""")
    _add_discounts(sim)


def _add_discounts(sim) -> None:
    """A negative line under each line a discount of the account applies to."""
    sim.con.execute("""
        INSERT INTO _inv_lines
        SELECT l.invoice_key, 'discount', x.discount_id || ':' || l.source_id,
               x.description || ' on ' || l.description, l.product_id, l.product_class, l.quantity,
               l.period_from, l.period_to, l.days, l.period_days,
               -round(l.net_amount * x.percent * 0.01, 2)::DECIMAL(18,2), l.tax_rate,
               l.sort_key || '~' || x.discount_id
        FROM _inv_lines l JOIN _inv_due d USING (invoice_key) JOIN account_discounts x USING (account_id)
        WHERE list_contains(x.line_types, l.line_type)
          AND (x.products IS NULL OR list_contains(x.products, l.product_id))""")


def immediate_invoice_step(sim) -> int:
    """Hardware charges billed at once: one invoice per order, as soon as the charges exist."""
    con = sim.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _inv_lines AS
        SELECT c.source_id AS invoice_key, 'hardware' AS line_type, c.charge_id AS source_id,
               c.description || ' (' || c.source_id || ')' AS description, c.product_id, c.product_class,
               c.quantity::DECIMAL(18,3) AS quantity, c.charge_date::DATE AS period_from,
               c.charge_date::DATE + 1 AS period_to, NULL::INTEGER AS days, NULL::INTEGER AS period_days,
               c.net_amount, c.tax_rate, c.charge_id AS sort_key
        FROM charges c WHERE c.status = 'Unbilled' AND c.billing_mode = 'immediate'""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _inv_due AS
        SELECT DISTINCT c.account_id, NULL::DATE AS period_start, NULL::DATE AS period_end, c.source_id AS invoice_key
        FROM charges c WHERE c.status = 'Unbilled' AND c.billing_mode = 'immediate'""")
    return _store_invoices(sim, "immediate")


def _store_invoices(sim, invoice_type: str) -> int:
    """Number and insert the invoices of `_inv_due` that have lines in `_inv_lines`; mark what they bill."""
    con = sim.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _inv_numbered AS
        SELECT *, round(net_amount * tax_rate, 2)::DECIMAL(18,2) AS tax_amount,
               row_number() OVER (PARTITION BY invoice_key ORDER BY sort_key) AS line_no
        FROM _inv_lines WHERE net_amount <> 0""")
    n = sim.store.scalar("SELECT count(DISTINCT invoice_key) FROM _inv_numbered")
    if not n:
        con.execute("CREATE OR REPLACE TEMP TABLE _inv_heads AS SELECT NULL::VARCHAR AS invoice_key, "
                    "NULL::VARCHAR AS invoice_id WHERE false")
        return 0
    base = sim.store.allocate("invoice", n)
    terms = sim.scenario["billing"]["payment_terms_days"]
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _inv_heads AS
        SELECT d.invoice_key, d.account_id, d.period_start, d.period_end,
               'INV-' || lpad((? + row_number() OVER (ORDER BY d.account_id, d.invoice_key))::VARCHAR, 8, '0')
                   AS invoice_id
        FROM _inv_due d WHERE d.invoice_key IN (SELECT invoice_key FROM _inv_numbered)""", [base])
    con.execute("""
        INSERT INTO invoice_lines
        SELECT h.invoice_id, l.line_no::INTEGER, l.line_type, l.source_id, l.description, l.product_id,
               l.product_class, l.quantity, l.period_from, l.period_to, l.days, l.period_days, l.net_amount,
               l.tax_rate, l.tax_amount, l.net_amount + l.tax_amount
        FROM _inv_numbered l JOIN _inv_heads h USING (invoice_key) ORDER BY h.invoice_id, l.line_no""")
    con.execute("""
        INSERT INTO invoices
        SELECT h.invoice_id, h.account_id, ?, ?::DATE, h.period_start, h.period_end, ?::DATE + ?::INTEGER, ?,
               count(*), sum(l.net_amount), sum(l.tax_amount), sum(l.net_amount + l.tax_amount), 'Produced', ?,
               NULL, NULL, NULL
        FROM _inv_heads h JOIN _inv_numbered l USING (invoice_key)
        GROUP BY ALL ORDER BY h.invoice_id""",
                [invoice_type, sim.today, sim.today, terms, sim.scenario["currency"], sim.now])
    _mark_billed(sim)
    sim.store.record_events("""
        SELECT produced_at AS ts, 'invoice' AS object_type, invoice_id AS object_id, 'Invoice Produced' AS activity,
               ? AS job, invoice_type || ' ' || account_id || ' ' || gross_amount::VARCHAR AS detail
        FROM invoices WHERE invoice_id IN (SELECT invoice_id FROM _inv_heads)""", [sim.current_job])
    return n


def _mark_billed(sim) -> None:
    con = sim.con
    con.execute("""
        UPDATE charges SET status = 'Billed', invoice_id = x.invoice_id
        FROM (SELECT l.source_id, h.invoice_id FROM _inv_numbered l JOIN _inv_heads h USING (invoice_key)
              WHERE l.line_type IN ('hardware', 'one_off')) x
        WHERE charges.charge_id = x.source_id""")
    con.execute("""
        UPDATE usage_records SET invoice_id = h.invoice_id
        FROM _inv_heads h JOIN _inv_due d USING (invoice_key)
        WHERE usage_records.account_id = d.account_id AND usage_records.invoice_id IS NULL
          AND usage_records.usage_date < d.period_end
          AND usage_records.asset_id IN (SELECT source_id FROM _inv_numbered n
                                         WHERE n.invoice_key = h.invoice_key AND n.line_type = 'usage')""")
