"""Tables of customer communications (seed 003).

`comms` (public) is the Comms Request Header: one row per communication, to exactly one target, with
its state; `comms_details` holds what the Comms Monitor gathered for it; attempts, documents and
status updates follow. `wf_cases` are the workflow events (customer service cases) that raise
communications. `prov_*` tables are the simulated gateways and providers: outside parties that meet
CMP only through their answers and status files.
"""

DDL = """
CREATE TABLE IF NOT EXISTS comms_preferences (
    account_id VARCHAR NOT NULL, channel VARCHAR NOT NULL, email VARCHAR, phone VARCHAR, device_token VARCHAR,
    postal_address VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS comms (
    request_id VARCHAR, channel VARCHAR NOT NULL, status VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
    trigger VARCHAR NOT NULL, template VARCHAR NOT NULL, account_id VARCHAR, object_type VARCHAR NOT NULL,
    object_id VARCHAR NOT NULL, target VARCHAR, attempts INTEGER NOT NULL, next_attempt_at TIMESTAMP,
    sent_at TIMESTAMP, delivered_at TIMESTAMP, read_at TIMESTAMP, reason VARCHAR, document VARCHAR,
    stored_uri VARCHAR, updated_at TIMESTAMP NOT NULL, rule_no INTEGER NOT NULL, message VARCHAR);
CREATE TABLE IF NOT EXISTS comms_details (
    request_id VARCHAR NOT NULL, gathered_at TIMESTAMP NOT NULL, data VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS comms_attempts (
    request_id VARCHAR NOT NULL, attempt INTEGER NOT NULL, attempted_at TIMESTAMP NOT NULL,
    outcome VARCHAR NOT NULL, reason VARCHAR, gateway_ref VARCHAR);
CREATE TABLE IF NOT EXISTS comms_documents (
    request_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, path VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
    bytes BIGINT NOT NULL, rendered_at TIMESTAMP NOT NULL, refused_urls VARCHAR[]);
CREATE TABLE IF NOT EXISTS comms_status_updates (
    update_key VARCHAR NOT NULL, request_id VARCHAR NOT NULL, status VARCHAR NOT NULL, status_at TIMESTAMP NOT NULL,
    source VARCHAR NOT NULL, file_id VARCHAR, received_at TIMESTAMP NOT NULL, applied VARCHAR);
CREATE TABLE IF NOT EXISTS comms_cursor (name VARCHAR NOT NULL, value BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS wf_cases (
    case_id VARCHAR, account_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, object_id VARCHAR NOT NULL,
    subject VARCHAR NOT NULL, when_to_create VARCHAR NOT NULL, opened_at TIMESTAMP NOT NULL,
    resolve_at TIMESTAMP NOT NULL, resolved_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS prov_outcomes (
    request_id VARCHAR NOT NULL, provider VARCHAR NOT NULL, status VARCHAR NOT NULL, status_at TIMESTAMP NOT NULL,
    reported_in VARCHAR);
"""


def cursor_sql(reader: str) -> str:
    """SQL: the last event `reader` (the Comms Trigger's 'events', Customer Service's 'workflow') has
    read of the log; NULL before its first read."""
    return f"(SELECT max(value) FROM comms_cursor WHERE name = '{reader}')"


def move_cursor(con, reader: str, seq: int) -> None:
    """`reader` has read the log up to event `seq`."""
    con.execute("DELETE FROM comms_cursor WHERE name = ?", [reader])
    con.execute("INSERT INTO comms_cursor VALUES (?, ?)", [reader, seq])
