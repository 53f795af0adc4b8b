"""TMF681 out: every communication of the run as a CommunicationMessage.

One query over `comms` (docs/exchange.md): the channel becomes `messageType` (Email, SMS,
MobileAppPush, Push, Letter); the status becomes `state` (Requested and Waiting: initial; Gathered,
Retrying and Rendered: inProgress; Sent, Delivered and Read: completed; Bounced, Returned and
Failed: failed); the one target goes to the receiver's e-mail, phone number or app user id; the
rendered documents (e-mail, PDF letter, print data) are attachments, named by their path in the run
folder. The text of an SMS or push is the `content`; an e-mail's or letter's `subject` is its
subject line and its body is the attached document.
"""

from __future__ import annotations

from cmpsim.exchange.jsontext import array, json_str, moment, obj

API = "/tmf-api/communicationManagement/v4/communicationMessage/"
MESSAGE_TYPES = "CASE c.channel WHEN 'email' THEN 'Email' WHEN 'sms' THEN 'SMS' WHEN 'push_handset' THEN " \
    "'MobileAppPush' WHEN 'push_external' THEN 'Push' WHEN 'letter' THEN 'Letter' ELSE c.channel END"
STATES = """CASE WHEN c.status IN ('Requested', 'Waiting') THEN 'initial'
                 WHEN c.status IN ('Sent', 'Delivered', 'Read') THEN 'completed'
                 WHEN c.status IN ('Bounced', 'Returned', 'Failed') THEN 'failed' ELSE 'inProgress' END"""
MIME_TYPES = "CASE d.kind WHEN 'eml' THEN 'message/rfc822' WHEN 'pdf' THEN 'application/pdf' " \
    "ELSE 'application/json' END"


def communication_messages_sql() -> str:
    """One CommunicationMessage (JSON text) per communication, ordered by request id."""
    texts = "c.channel IN ('sms', 'push_handset', 'push_external')"
    party = f"""CASE WHEN c.account_id IS NOT NULL THEN {obj(
        ("id", json_str("c.account_id")), ("name", json_str("a.name")), ("role", json_str("'customer'")),
        ("@referredType", json_str("'Customer'")))} END"""
    receiver = obj(
        ("id", json_str("coalesce(c.account_id, c.target)")), ("name", json_str("coalesce(a.name, c.target)")),
        ("email", json_str("CASE c.channel WHEN 'email' THEN c.target END")),
        ("phoneNumber", json_str("CASE c.channel WHEN 'sms' THEN c.target END")),
        ("appUserId", json_str("CASE c.channel WHEN 'push_handset' THEN c.target END")),
        ("party", party))
    characteristic = "'[' || concat_ws(',', " + ", ".join(
        f"CASE WHEN {value} IS NOT NULL THEN "
        + obj(("name", json_str(f"'{name}'")), ("valueType", json_str("'string'")), ("value", json_str(value)))
        + " END"
        for name, value in (("channel", "c.channel"), ("trigger", "c.trigger"), ("template", "c.template"),
                            ("about", "c.object_type || ' ' || c.object_id"), ("reason", "c.reason"),
                            ("storedAt", "c.stored_uri"))) + ") || ']'"
    return f"""
        WITH cfg AS (
            SELECT json_extract_string(value, '$.comms.sender') AS sender,
                   json_extract_string(value, '$.billing.provider.name') AS provider
            FROM run_info WHERE key = 'scenario_json'),
        documents AS (
            SELECT d.request_id, {array(obj(
                ("name", json_str("d.path")), ("mimeType", json_str(MIME_TYPES)),
                ("size", obj(("amount", "d.bytes::VARCHAR"), ("units", json_str("'bytes'"))))), "d.path")} AS items
            FROM comms_documents d GROUP BY d.request_id)
        SELECT {obj(
            ("id", json_str("c.request_id")),
            ("href", json_str(f"'{API}' || c.request_id")),
            ("content", json_str(f"CASE WHEN {texts} THEN c.message END")),
            ("description", json_str("c.template || ' (' || c.trigger || ')'")),
            ("messageType", json_str(MESSAGE_TYPES)),
            ("scheduledSendTime", moment("c.created_at")),
            ("sendTime", moment("c.sent_at")),
            ("sendTimeComplete", moment("c.delivered_at")),
            ("subject", json_str(f"CASE WHEN NOT {texts} THEN c.message END")),
            ("tryTimes", "c.attempts::VARCHAR"),
            ("attachment", "documents.items"),
            ("characteristic", characteristic),
            ("receiver", f"'[' || {receiver} || ']'"),
            ("sender", obj(("name", json_str("cfg.provider")),
                           ("email", json_str("CASE c.channel WHEN 'email' THEN cfg.sender END")))),
            ("state", json_str(STATES)),
            ("@type", json_str("'CommunicationMessage'")))}
        FROM comms c LEFT JOIN accounts a USING (account_id) LEFT JOIN documents USING (request_id)
             LEFT JOIN cfg ON true
        ORDER BY c.request_id"""
