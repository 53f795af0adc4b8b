"""Tables of service order fulfilment (seed 004), beside the public `orders` and `order_lines`."""

DDL = """
CREATE TABLE IF NOT EXISTS service_products (
    product_id VARCHAR NOT NULL, name VARCHAR NOT NULL, is_bundle BOOLEAN NOT NULL, tax_rate DECIMAL(6,4) NOT NULL,
    product_class VARCHAR NOT NULL, usage_unit VARCHAR, usage_rate DECIMAL(18,4));
CREATE TABLE IF NOT EXISTS service_prices (
    product_id VARCHAR NOT NULL, price_list VARCHAR NOT NULL, recurring DECIMAL(18,2) NOT NULL,
    one_off DECIMAL(18,2) NOT NULL);
CREATE TABLE IF NOT EXISTS service_orders (
    order_id VARCHAR NOT NULL, external_id VARCHAR, seq BIGINT NOT NULL, base_order_id VARCHAR,
    processed_as VARCHAR NOT NULL, submitted_at TIMESTAMP NOT NULL, due_at TIMESTAMP NOT NULL,
    released_at TIMESTAMP, started_at TIMESTAMP, revision_status VARCHAR, queue_status VARCHAR, message_s BIGINT,
    dequeued_at TIMESTAMP, received_at TIMESTAMP, queue_consumer INTEGER, crm_status VARCHAR,
    crm_updated_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS queue_consumers (consumer INTEGER NOT NULL, busy_until TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS service_lines (
    order_id VARCHAR NOT NULL, line_no INTEGER NOT NULL, line_ref VARCHAR NOT NULL, parent_ref VARCHAR,
    product_id VARCHAR NOT NULL, is_bundle BOOLEAN NOT NULL, action VARCHAR NOT NULL,
    requested_price_list VARCHAR, resolved_price_list VARCHAR, price_list_source VARCHAR,
    price_list_from_header BOOLEAN, asset_id VARCHAR, location VARCHAR, depends_on_order VARCHAR,
    depends_on_line VARCHAR, quantity INTEGER NOT NULL, status VARCHAR NOT NULL, reason VARCHAR,
    price_override DECIMAL(18,2));
CREATE TABLE IF NOT EXISTS fulfilment_jobs (
    job_no BIGINT NOT NULL, order_id VARCHAR NOT NULL, line_no INTEGER NOT NULL, kind VARCHAR NOT NULL,
    priority INTEGER NOT NULL, seq BIGINT NOT NULL, release_at TIMESTAMP NOT NULL, duration_s BIGINT NOT NULL,
    steps VARCHAR[] NOT NULL, step_durations_s BIGINT[] NOT NULL, ponr_offset_s BIGINT,
    status VARCHAR NOT NULL, worker INTEGER, started_at TIMESTAMP, ended_at TIMESTAMP, interrupted_at TIMESTAMP,
    fallout_step VARCHAR);
CREATE TABLE IF NOT EXISTS fallout_tasks (
    task_no BIGINT NOT NULL, order_id VARCHAR NOT NULL, line_no INTEGER NOT NULL, job_no BIGINT NOT NULL,
    step VARCHAR NOT NULL, step_index INTEGER NOT NULL, priority INTEGER NOT NULL, seq BIGINT NOT NULL,
    queued_at TIMESTAMP NOT NULL, handling_s BIGINT NOT NULL, outcome VARCHAR NOT NULL, status VARCHAR NOT NULL,
    operator INTEGER, started_at TIMESTAMP, ended_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS fallout_operators (operator INTEGER NOT NULL, busy_until TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS fulfilment_workers (worker INTEGER NOT NULL, busy_until TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS assets (
    asset_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL, product_id VARCHAR NOT NULL, state VARCHAR NOT NULL,
    location VARCHAR, price_list VARCHAR NOT NULL, price_list_from_header BOOLEAN NOT NULL,
    created_by VARCHAR NOT NULL, changed_at TIMESTAMP NOT NULL, price_override DECIMAL(18,2));
CREATE TABLE IF NOT EXISTS recurring_charges (
    asset_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL, product_id VARCHAR NOT NULL, price_list VARCHAR NOT NULL,
    monthly_amount DECIMAL(18,2) NOT NULL, tax_rate DECIMAL(6,4) NOT NULL, state VARCHAR NOT NULL,
    active_from TIMESTAMP NOT NULL, active_to TIMESTAMP, order_id VARCHAR NOT NULL, line_no INTEGER NOT NULL);
CREATE OR REPLACE VIEW service_lead_times AS
SELECT o.order_id, o.order_type, o.priority, s.submitted_at, s.released_at, s.started_at, o.completed_at,
       (epoch(s.started_at) - epoch(s.released_at)) / 3600 AS wait_hours,
       (epoch(o.completed_at) - epoch(s.released_at)) / 3600 AS lead_time_hours
FROM orders o JOIN service_orders s USING (order_id)
WHERE o.kind = 'service' AND o.status = 'Complete' AND s.released_at IS NOT NULL;
"""
