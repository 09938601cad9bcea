"""SPEC 8: held mail still expires. A message older than --max_queue_lifetime
bounces to its sender (RFC 3464, Status 4.4.7) and leaves the queue, even for
a `hold` domain that never sent ETRN."""

import time

import harness
from delivery_helpers import TEST_FLAGS, build_message, nothing_waiting, send_one
from delivery_helpers import sink_factory  # noqa: F401 (a fixture)

LIFETIME_S = 2


def test_held_mail_expires_and_bounces_to_sender(etrnd_factory, sink_factory):
    home = sink_factory("home")  # the sender's own mail host
    held = sink_factory("held")  # the customer's host: never asks (no ETRN)
    table = (f"held.test {held.next_hop} hold\n"
             f"home.test {home.next_hop}\n")
    server = etrnd_factory(domains=table,
                           flags=list(TEST_FLAGS) + ["--max_queue_lifetime=%ds" % LIFETIME_S])
    token = harness.unique_token()
    sender = "alice@home.test"
    data = build_message(token, "carol@held.test", sender)
    sent_at = time.monotonic()
    assert send_one(server.port, sender, ["carol@held.test"], data)[0] == 250
    assert server.etrn("home.test")[0] in (251, 253)  # a harmless look at another domain

    bounce = home.wait_for_messages(1, timeout_s=30)[0]
    assert time.monotonic() - sent_at >= LIFETIME_S * 0.9  # not before its time
    assert bounce.mail_from == ""
    assert bounce.rcpts == [sender]
    assert b"4.4.7" in bounce.data
    assert b"carol@held.test" in bounce.data
    assert token.encode() in bounce.data  # the original headers come back
    assert server.etrn("held.test")[1] == nothing_waiting("held.test")
    assert held.messages() == []  # expired mail is bounced, never delivered late
