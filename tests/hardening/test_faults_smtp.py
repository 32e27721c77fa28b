"""The SMTP server is down for a while, then up: everything queued through an email channel
arrives once it is back, each mail once per delivery (its Message-ID and X-Tocsin-Delivery
derived from the delivery id). A real `tocsin serve` sends to aiosmtpd on 127.0.0.1."""

from __future__ import annotations

import time
from collections import Counter

from tocsin_plugins.email.compose import delivery_message_id

from tests.fixtures_server import free_port, start_server, stop_server
from tests.fixtures_smtp import SmtpPeer, listen
from tests.hardening.served import Admin, wait_until

RECIPIENTS = ["alice@example.org", "bob@example.org"]
INCIDENTS = 3
SETTINGS = {
    # Enough quick tries to outlast the outage; then at most a second between tries.
    "TOCSIN_DELIVERY_RETRY_SCHEDULE": ",".join(["0.3"] * 4 + ["1"] * 20),
    "TOCSIN_DELIVERY_POLL_SECONDS": "0.1",
    "TOCSIN_RATE_LIMIT_PER_TOKEN": "0", "TOCSIN_RATE_LIMIT_PER_ADDRESS": "0",
}


def test_mail_queued_during_an_smtp_outage_arrives_once(database, tmp_path,
                                                        localhost_certificate):
    peer = SmtpPeer(free_port(), localhost_certificate)  # nothing listens there yet
    server = start_server(tmp_path, database, extra_env=SETTINGS)
    controller = None
    try:
        admin = Admin(server.url, server.admin_token)
        channel = admin.create_channel("mail", "email", {
            "host": "127.0.0.1", "port": peer.port, "security": "none",
            "from_address": "tocsin@example.com", "timeout": 2})
        admin.create_rule(channel, ["incident.created", "incident.acknowledged"], RECIPIENTS)
        for n in range(INCIDENTS):
            incident = admin.create_incident(f"mail outage {n}")
            admin.gql("mutation($id: ID!) { acknowledgeIncident(id: $id) { status } }",
                      {"id": incident})
        total = INCIDENTS * 2 * len(RECIPIENTS)

        # The outage: every delivery tried and refused (connection refused), none lost.
        def all_tried_and_waiting() -> bool:
            found = admin.deliveries()
            return len(found) == total and all(
                d["status"] == "RETRYING" and d["attempts"] >= 1 for d in found.values())

        wait_until(all_tried_and_waiting, 60, "every delivery to fail its first try")
        time.sleep(1.0)  # down for a while longer: more failed tries
        waiting = admin.deliveries()
        assert all("connect" in (d["lastError"] or "").lower() for d in waiting.values()), \
            waiting
        assert not peer.mails

        controller = listen(peer)

        def all_delivered() -> bool:
            found = admin.deliveries()
            return all(d["status"] == "DELIVERED" for d in found.values())

        wait_until(all_delivered, 60, "every delivery after the SMTP server came back")
        deliveries = admin.deliveries()
        time.sleep(0.5)  # a duplicate send would land now
    finally:
        stop_server(server)
        if controller is not None:
            controller.stop()

    assert len(deliveries) == total
    assert all(d["attempts"] >= 2 for d in deliveries.values()), "sent before the outage?"
    by_delivery = Counter(int(m.message["X-Tocsin-Delivery"]) for m in peer.mails)
    assert by_delivery == Counter(set(deliveries)), "each delivery is one mail, exactly once"
    for mail in peer.mails:
        delivery = deliveries[int(mail.message["X-Tocsin-Delivery"])]
        assert mail.rcpt_tos == [delivery["recipient"]]
        message_id = mail.message["Message-ID"]
        if delivery["eventType"] == "incident.acknowledged":
            assert message_id == delivery_message_id(
                mail.message["X-Tocsin-Delivery"], "example.com")
            assert mail.message["In-Reply-To"].startswith("<tocsin.thread.")
        else:  # the mail that opens an incident's thread carries the thread's id
            assert message_id.startswith("<tocsin.thread.") and message_id.endswith(
                "@example.com>")
    assert len({m.message["Message-ID"] for m in peer.mails
                if m.message["X-Tocsin-Event"] == "incident.acknowledged"}) == INCIDENTS * 2
