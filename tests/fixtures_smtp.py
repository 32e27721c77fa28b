"""A real SMTP server (aiosmtpd) on a free port of 127.0.0.1, with plain, STARTTLS or implicit
TLS transport, optional AUTH, and per-recipient answers, for the email plugin's tests."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.fixtures_server import free_port
from tests.fixtures_tls import Certificate


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    authenticated_as: str | None


@dataclass
class SmtpPeer:
    port: int
    certificate: Certificate
    mails: list[ReceivedMail] = field(default_factory=list)
    # recipient -> SMTP reply to RCPT TO, e.g. "550 5.1.1 No such user"
    rcpt_replies: dict[str, str] = field(default_factory=dict)


class _Handler:
    def __init__(self, peer: SmtpPeer) -> None:
        self.peer = peer

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        reply = self.peer.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content,
                                           policy=email.policy.default)
        login = session.auth_data if session.authenticated else None
        self.peer.mails.append(ReceivedMail(
            envelope.mail_from, list(envelope.rcpt_tos), message,  # type: ignore[arg-type]
            tls=server.transport.get_extra_info("ssl_object") is not None,
            authenticated_as=login.decode() if isinstance(login, bytes) else login,
        ))
        return "250 Message accepted"


def _authenticator(users: dict[str, str]) -> Callable[..., AuthResult]:
    def check(server: Any, session: Any, envelope: Any, mechanism: str,
              auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if users.get(user) == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    return check


def listen(peer: SmtpPeer, **options: Any) -> Controller:
    """Starts answering SMTP for `peer` on its port (again, after a stop: fault tests)."""
    controller = Controller(_Handler(peer), hostname="127.0.0.1", port=peer.port,
                            server_hostname="localhost", **options)
    controller.start()
    return controller


@pytest.fixture
def smtp_peer(localhost_certificate: Certificate) -> Iterator[Callable[..., SmtpPeer]]:
    """Starts SMTP peers: `smtp_peer(security="none"|"starttls"|"tls", users={...})`."""
    controllers: list[Controller] = []

    def start(security: str = "none", users: dict[str, str] | None = None) -> SmtpPeer:
        peer = SmtpPeer(free_port(), localhost_certificate)
        kwargs: dict[str, Any] = {}
        if security == "starttls":
            kwargs.update(tls_context=localhost_certificate.server_context(),
                          require_starttls=True)
        elif security == "tls":
            kwargs.update(ssl_context=localhost_certificate.server_context())
        if users is not None:
            kwargs.update(authenticator=_authenticator(users), auth_required=True)
        controllers.append(listen(peer, **kwargs))
        return peer

    yield start
    for controller in controllers:
        controller.stop()
