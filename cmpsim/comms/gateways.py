"""The Comms SMS, Push To Handset and Push To External daemons, and the gateways behind them.

Each daemon takes the communications of its channel that are gathered (or due for another attempt),
merges their text and hands them to its gateway (simulated). The gateway, one draw per attempt:
refuses a target for good (`invalid_rate`: Failed, not retried), is unavailable for a while
(`failure_rate`: retried after `retry.backoff_minutes`, at most `retry.attempts_max` attempts in
all, then Failed with the reason), or accepts the message, which leaves after `latency_seconds`
(Sent). A template that cannot be used fails the communication with the reason. Delivery receipts
come later as status files from the gateway (see status.py).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from cmpsim.comms.data import decode
from cmpsim.comms.render import TemplateRefused, render_message
from cmpsim.randomness import draw
from cmpsim.store import registered

GATEWAY_CHANNELS = ("sms", "push_handset", "push_external")
PROVIDER_OF = {"sms": "sms-gateway", "push_handset": "push-gateway", "push_external": "external-hooks",
               "email": "mail-provider", "letter": "print-vendor"}


def gateway_wake_at(sim, channel: str) -> int | None:
    """The first second a message of the channel is due: gathered, or waiting for another attempt (the
    daemon's look: it is due once that second has come)."""
    return sim.second_of(sim.store.scalar("""SELECT min(coalesce(next_attempt_at, created_at)) FROM comms
                                             WHERE channel = ? AND status IN ('Gathered', 'Retrying')""", [channel]))


def gateway_step(sim, channel: str) -> int:
    """One round of the channel's daemon: every message due is attempted; returns messages attempted."""
    due = sim.store.frame("""
        SELECT c.request_id, c.attempts, c.template, d.data FROM comms c JOIN comms_details d USING (request_id)
        WHERE c.channel = ? AND c.status IN ('Gathered', 'Retrying') AND coalesce(c.next_attempt_at, c.created_at) <= ?
        ORDER BY c.request_id""", [channel, sim.now])
    if due.height == 0:
        return 0
    texts, refused = _texts(sim, channel, due)
    outcomes = _attempt(sim, channel, due.with_columns(text=pl.Series(texts, dtype=pl.Utf8),
                                                        refused=pl.Series(refused, dtype=pl.Utf8)))
    _record(sim, channel, outcomes)
    return due.height


def _texts(sim, channel: str, due: pl.DataFrame) -> tuple[list[str | None], list[str | None]]:
    provider, overrides = dict(sim.scenario["billing"]["provider"]), sim.scenario["comms"]["templates"]
    texts, refused = [], []
    for template, data in due.select("template", "data").rows():
        try:
            texts.append(render_message(template, channel, decode(data, provider), overrides).text)
            refused.append(None)
        except TemplateRefused as exc:
            texts.append(None)
            refused.append(str(exc))
    return texts, refused


def _attempt(sim, channel: str, due: pl.DataFrame) -> pl.DataFrame:
    """The gateway's answer to each attempt, and what becomes of the message."""
    spec, retry = sim.scenario["comms"]["gateways"][channel], sim.scenario["comms"]["retry"]
    rng, n = sim.rng(f"comms.gateway.{channel}"), due.height
    invalid, busy = rng.random(n) < spec["invalid_rate"], rng.random(n) < spec["failure_rate"]
    latency = np.round(draw(spec["latency_seconds"], rng, n)).astype(np.int64)
    attempt = due["attempts"].to_numpy() + 1
    backoff = np.asarray(retry["backoff_minutes"])[np.minimum(attempt - 1, len(retry["backoff_minutes"]) - 1)]
    template_refused = due["refused"].is_not_null().to_numpy()
    last = attempt >= retry["attempts_max"]
    outcome = np.select([template_refused, invalid, busy & ~last, busy & last],
                        ["refused", "invalid", "retry", "gave up"], "accepted")
    return due.with_columns(
        attempt=pl.Series(attempt, dtype=pl.Int32), outcome=pl.Series(outcome),
        latency_s=pl.Series(latency), backoff_min=pl.Series(backoff.astype(np.int64)))


def _record(sim, channel: str, outcomes: pl.DataFrame) -> None:
    con = sim.con
    with registered(con, "_cm_tried", outcomes.to_arrow()):
        gateway = PROVIDER_OF[channel]
        tried = con.execute(f"""
            UPDATE comms SET attempts = t.attempt, updated_at = ?::TIMESTAMP,
                   status = CASE t.outcome WHEN 'accepted' THEN 'Sent' WHEN 'retry' THEN 'Retrying' ELSE 'Failed' END,
                   message = coalesce(t.text, comms.message),
                   next_attempt_at = CASE t.outcome WHEN 'retry' THEN ?::TIMESTAMP + to_minutes(t.backoff_min) END,
                   sent_at = CASE t.outcome WHEN 'accepted' THEN ?::TIMESTAMP + to_seconds(t.latency_s) END,
                   reason = CASE t.outcome
                       WHEN 'refused' THEN t.refused
                       WHEN 'invalid' THEN '{gateway} refused the target for good (invalid)'
                       WHEN 'gave up' THEN '{gateway} unavailable at each of ' || t.attempt || ' attempts'
                       ELSE comms.reason END
            FROM _cm_tried t WHERE comms.request_id = t.request_id
            RETURNING comms.request_id, comms.status, comms.attempts, comms.reason, comms.sent_at""",
                            [sim.now, sim.now, sim.now]).fetchall()
        tried = pl.DataFrame(tried, schema={"request_id": pl.String, "status": pl.String, "attempts": pl.Int32,
                                            "reason": pl.String, "sent_at": pl.Datetime("us")}, orient="row").sort(
            "request_id")
        con.execute(f"""
            INSERT INTO comms_attempts
            SELECT request_id, attempt, ?, outcome, CASE outcome WHEN 'retry' THEN '{gateway} unavailable'
                                                                WHEN 'refused' THEN refused END,
                   CASE outcome WHEN 'accepted' THEN '{gateway}:' || request_id || ':' || attempt END
            FROM _cm_tried ORDER BY request_id""", [sim.now])
    sim.store.record_events_at(
        sim.now, "comm", tried["request_id"].to_list(),
        tried["status"].replace_strict({"Sent": "Comm Sent", "Retrying": "Comm Retry Scheduled"},
                                       default="Comm Failed").to_list(), sim.current_job,
        tried.select(pl.format("attempt {}", "attempts") + pl.format(": {}", "reason").fill_null(""))
        .to_series().to_list())
    provider_outcomes(sim, channel, tried.filter(pl.col("status") == "Sent").select("request_id", "sent_at"))


def provider_outcomes(sim, channel: str, sent: pl.DataFrame) -> None:
    """What the provider will later report for messages of `channel` just sent (request_id, sent_at, in
    request order), drawn now: delivered (e-mail: or bounced; then perhaps read), letters delivered
    after some days."""
    spec = sim.scenario["comms"]["providers"]
    if sent.height == 0:
        return
    sent = sent.with_columns(channel=pl.lit(channel))
    rng, n = sim.rng("comms.providers"), sent.height
    is_email, is_letter = (sent["channel"] == "email").to_numpy(), (sent["channel"] == "letter").to_numpy()
    bounced = is_email & (rng.random(n) < spec["email_bounce_rate"])
    read = is_email & ~bounced & (rng.random(n) < spec["email_read_rate"])
    arrive_s = np.where(is_letter, np.round(draw(spec["letter_days"], rng, n) * 86400),
                        np.round(draw(spec["delivered_minutes"], rng, n) * 60)).astype(np.int64)
    read_s = arrive_s + np.round(draw(spec["read_hours"], rng, n) * 3600).astype(np.int64)
    base = sent.with_columns(provider=pl.col("channel").replace_strict(PROVIDER_OF))
    rows = pl.concat([
        base.with_columns(status=pl.Series(np.where(bounced, "bounced", "delivered")), offset_s=pl.Series(arrive_s)),
        base.filter(pl.Series(read)).with_columns(status=pl.lit("read"), offset_s=pl.Series(read_s[read]))])
    sim.store.insert("prov_outcomes", rows.select(
        "request_id", "provider", "status", status_at=pl.col("sent_at") + pl.duration(seconds=pl.col("offset_s")),
        reported_in=pl.lit(None, pl.Utf8)))


__all__ = ["GATEWAY_CHANNELS", "gateway_step", "gateway_wake_at", "provider_outcomes"]
