"""Send one notification over the configured channels: a webhook POST and/or an e-mail.

Plain `requests` and the standard library's smtplib: both are already at hand, the message is
one short text, and a notification library would add a dependency for two calls. Neither
channel ever logs the webhook URL (chat hooks carry their secret in it) or the password.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import requests

from bridge.ops.alert_settings import AlertSettings, SmtpSettings

log = logging.getLogger("bridge")


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    alerts: Sequence[Mapping[str, Any]]  # one dict per alert, for the webhook's JSON


class ChannelError(Exception):
    """A channel did not take the message; the text says why (never the URL or password)."""


def send(settings: AlertSettings, message: Message, env: Mapping[str, str] | None = None) -> int:
    """Send over every configured channel; returns how many took it (a channel that fails is
    logged, the others are still tried)."""
    delivered = 0
    channels = []
    if settings.webhook_url:
        channels.append(("webhook", lambda: post_webhook(settings, message)))
    if settings.smtp is not None:
        smtp = settings.smtp
        channels.append(("e-mail", lambda: send_mail(smtp, message, env)))
    for name, deliver in channels:
        try:
            deliver()
            delivered += 1
        except ChannelError as exc:
            log.warning("alert not sent by %s: %s", name, exc)
    return delivered


def post_webhook(settings: AlertSettings, message: Message) -> None:
    """POST `{"text", "subject", "alerts"}`: `text` is what Slack- and Mattermost-style
    incoming webhooks show; `alerts` is for anything that wants the fields."""
    body = {"subject": message.subject, "text": message.text, "alerts": list(message.alerts)}
    try:
        response = requests.post(
            str(settings.webhook_url), json=body, timeout=settings.timeout, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise ChannelError(f"the webhook could not be reached: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise ChannelError(f"the webhook answered {response.status_code}")


def send_mail(smtp: SmtpSettings, message: Message, env: Mapping[str, str] | None = None) -> None:
    environ = os.environ if env is None else env
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = smtp.sender
    mail["To"] = ", ".join(smtp.to)
    mail.set_content(message.text)
    password = None
    if smtp.user:
        password = environ.get(smtp.password_env or "")
        if not password:
            raise ChannelError(f"the SMTP password variable {smtp.password_env} is not set")
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as server:
            if smtp.starttls:
                server.starttls(context=ssl.create_default_context(cafile=smtp.ca_file))
            if smtp.user and password:
                server.login(smtp.user, password)
            server.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        # The server's own words (a refused recipient, a wrong login) say what to fix.
        raise ChannelError(f"SMTP {smtp.host}:{smtp.port}: {type(exc).__name__}: {exc}") from None
