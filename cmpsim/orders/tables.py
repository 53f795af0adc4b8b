"""Tables of the hardware sales-order process, and of the outside parties it talks to.

`wh_*` and `mf_*` tables hold the state of the simulated warehouses and device manufacturers:
outside systems whose only contact with CMP is the files they exchange.
"""

DDL = """
CREATE TABLE IF NOT EXISTS warehouses (
    warehouse_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, preference INTEGER NOT NULL,
    daily_capacity_units INTEGER NOT NULL, dispatch_time VARCHAR NOT NULL, error_rate DOUBLE NOT NULL,
    connected BOOLEAN NOT NULL);
CREATE TABLE IF NOT EXISTS stock (
    warehouse_id VARCHAR NOT NULL, product_id VARCHAR NOT NULL, on_hand INTEGER NOT NULL,
    reserved INTEGER NOT NULL, PRIMARY KEY (warehouse_id, product_id));
CREATE TABLE IF NOT EXISTS stock_checks (
    check_id VARCHAR, checked_at TIMESTAMP NOT NULL, order_id VARCHAR,
    product_id VARCHAR NOT NULL, quantity INTEGER NOT NULL, warehouse_id VARCHAR,
    available INTEGER NOT NULL, in_stock BOOLEAN NOT NULL, source VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS sales_order_details (
    order_id VARCHAR, delivery_name VARCHAR NOT NULL, delivery_line1 VARCHAR NOT NULL,
    delivery_city VARCHAR NOT NULL, delivery_postcode VARCHAR NOT NULL,
    delivery_country VARCHAR NOT NULL, generate_at TIMESTAMP, enrol_devices BOOLEAN NOT NULL,
    fraud_check VARCHAR NOT NULL, fraud_draw DOUBLE NOT NULL);
CREATE TABLE IF NOT EXISTS generation_queue (
    order_id VARCHAR NOT NULL, generate_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS warehouse_batches (
    batch_id VARCHAR, warehouse_id VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL, lines INTEGER NOT NULL, file_id VARCHAR);
CREATE TABLE IF NOT EXISTS request_lines (
    request_line_id VARCHAR, order_id VARCHAR NOT NULL, line_no INTEGER NOT NULL,
    unit_no INTEGER NOT NULL, product_id VARCHAR NOT NULL, quantity INTEGER NOT NULL,
    warehouse_id VARCHAR NOT NULL, batch_id VARCHAR NOT NULL, status VARCHAR NOT NULL,
    serial_no VARCHAR, error_code VARCHAR, error_text VARCHAR, dispatched_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS dispatch_batches (
    batch_id VARCHAR, file_id VARCHAR NOT NULL, warehouse_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL, status VARCHAR NOT NULL, lines INTEGER NOT NULL,
    processed_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS dispatch_lines (
    batch_id VARCHAR NOT NULL, request_line_id VARCHAR NOT NULL, order_id VARCHAR NOT NULL,
    product_id VARCHAR NOT NULL, quantity INTEGER NOT NULL, outcome VARCHAR NOT NULL,
    serial_numbers VARCHAR[], error_code VARCHAR, error_text VARCHAR, dispatched_at TIMESTAMP,
    applied VARCHAR);
CREATE TABLE IF NOT EXISTS devices (
    serial_no VARCHAR, order_id VARCHAR NOT NULL, line_no INTEGER NOT NULL,
    product_id VARCHAR NOT NULL, manufacturer VARCHAR NOT NULL, account_id VARCHAR NOT NULL,
    dispatched_at TIMESTAMP NOT NULL, enrolment_status VARCHAR NOT NULL,
    status_changed_at TIMESTAMP NOT NULL, unenrol_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS enrolment_batches (
    batch_id VARCHAR, manufacturer VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
    instructions INTEGER NOT NULL, file_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS enrolment_instructions (
    instruction_id VARCHAR, serial_no VARCHAR NOT NULL, action VARCHAR NOT NULL,
    manufacturer VARCHAR NOT NULL, batch_id VARCHAR NOT NULL, status VARCHAR NOT NULL,
    reason VARCHAR, requested_at TIMESTAMP NOT NULL, answered_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS enrolment_responses (
    file_id VARCHAR NOT NULL, instruction_id VARCHAR NOT NULL, serial_no VARCHAR NOT NULL,
    action VARCHAR NOT NULL, outcome VARCHAR NOT NULL, reason_code VARCHAR,
    answered_at TIMESTAMP NOT NULL, applied VARCHAR);
CREATE TABLE IF NOT EXISTS party_files_seen (
    party VARCHAR NOT NULL, file_name VARCHAR NOT NULL, received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (party, file_name));
CREATE TABLE IF NOT EXISTS wh_requests (
    warehouse_id VARCHAR NOT NULL, file_name VARCHAR NOT NULL, request_line_id VARCHAR NOT NULL,
    order_id VARCHAR NOT NULL, product_id VARCHAR NOT NULL, quantity INTEGER NOT NULL,
    serialised BOOLEAN NOT NULL, received_at TIMESTAMP NOT NULL, ready_at TIMESTAMP NOT NULL,
    fail_draw DOUBLE NOT NULL, dispatched_at TIMESTAMP, outcome VARCHAR,
    serial_numbers VARCHAR[], error_code VARCHAR, answered_in VARCHAR);
CREATE TABLE IF NOT EXISTS wh_stock (
    warehouse_id VARCHAR NOT NULL, product_id VARCHAR NOT NULL, on_hand INTEGER NOT NULL,
    PRIMARY KEY (warehouse_id, product_id));
CREATE TABLE IF NOT EXISTS mf_requests (
    manufacturer VARCHAR NOT NULL, file_name VARCHAR NOT NULL, instruction_id VARCHAR NOT NULL,
    serial_no VARCHAR NOT NULL, action VARCHAR NOT NULL, received_at TIMESTAMP NOT NULL,
    answer_at TIMESTAMP NOT NULL, outcome VARCHAR NOT NULL, reason_code VARCHAR,
    answered_in VARCHAR);
"""
