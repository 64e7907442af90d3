"""Send one notification over the configured channels: a webhook POST and/or an e-mail.

Plain `requests` and the standard library's smtplib: both are already at hand, the message is
one short text, and a notification library would add a dependency for two calls. Neither
channel ever logs or shows the webhook URL's path (chat hooks carry their secret in it) or the
password: `target` names where a channel sends without them.
"""

from __future__ import annotations

import enum
import os
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import requests

from bridge.settings.alerts import AlertSettings, SmtpSettings


class Status(enum.Enum):
    """Whether a message tells that conditions started or that conditions it told have ended."""

    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    alerts: Sequence[Mapping[str, Any]]  # one dict per alert, for the webhook's JSON
    status: Status = Status.FIRING


class Channel(enum.Enum):
    WEBHOOK = "webhook"
    EMAIL = "e-mail"


class ChannelError(Exception):
    """A channel did not take the message; the text says why (never the URL or password).
    `unreachable`: the server was not reached at all (refused, DNS, time-out), as opposed to a
    server that answered no (a 4xx/5xx, a refused login) or a setting that is missing."""

    def __init__(self, text: str, unreachable: bool = False) -> None:
        super().__init__(text)
        self.unreachable = unreachable


@dataclass(frozen=True)
class Delivery:
    """What one channel did with one message."""

    channel: Channel
    target: str  # where it sends, without secrets
    error: str = ""  # empty: the channel took the message
    unreachable: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


def webhook_target(url: str) -> str:
    """`https://chat.example.com/…`: the host says which hook, the path is its secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"


def smtp_target(smtp: SmtpSettings) -> str:
    return f"{smtp.host}:{smtp.port} to {', '.join(smtp.to)}"


def channels(settings: AlertSettings) -> list[tuple[Channel, str]]:
    """The configured channels and where each sends, in the order they are tried."""
    found = []
    if settings.webhook_url:
        found.append((Channel.WEBHOOK, webhook_target(settings.webhook_url)))
    if settings.smtp is not None:
        found.append((Channel.EMAIL, smtp_target(settings.smtp)))
    return found


def deliver(
    settings: AlertSettings, message: Message, env: Mapping[str, str] | None = None
) -> list[Delivery]:
    """Send over every configured channel; one Delivery each (a channel that fails does not
    stop the others). The caller says what failed: the cron logs it, `bridge alerts test`
    prints it."""
    done = []
    for channel, target in channels(settings):
        try:
            _send_by(channel, settings, message, env)
        except ChannelError as exc:
            done.append(Delivery(channel, target, str(exc), exc.unreachable))
        else:
            done.append(Delivery(channel, target))
    return done


def _send_by(
    channel: Channel, settings: AlertSettings, message: Message, env: Mapping[str, str] | None
) -> None:
    if channel is Channel.WEBHOOK:
        post_webhook(settings, message)
    elif settings.smtp is not None:
        send_mail(settings.smtp, message, env)


def post_webhook(settings: AlertSettings, message: Message) -> None:
    """POST `{"status", "subject", "text", "alerts"}`: `text` is what Slack- and
    Mattermost-style incoming webhooks show; `status` (firing or resolved) and `alerts` are for
    anything that wants the fields."""
    body = {"status": message.status.value, "subject": message.subject, "text": message.text,
            "alerts": list(message.alerts)}  # fmt: skip
    try:
        response = requests.post(
            str(settings.webhook_url), json=body, timeout=settings.timeout, allow_redirects=False
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise ChannelError(
            f"the webhook could not be reached: {type(exc).__name__}", unreachable=True
        ) from None
    except requests.RequestException as exc:
        raise ChannelError(f"the webhook could not be sent: {type(exc).__name__}") from None
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
    where = f"SMTP {smtp.host}:{smtp.port}"
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as server:
            if smtp.starttls:
                server.starttls(context=ssl.create_default_context(cafile=smtp.ca_file))
            if smtp.user and password:
                server.login(smtp.user, password)
            server.send_message(mail)
    except (smtplib.SMTPException, ssl.SSLError) as exc:
        # The server's own words (a refused recipient, a wrong login) say what to fix.
        raise ChannelError(f"{where}: {type(exc).__name__}: {exc}") from None
    except OSError as exc:  # refused, unknown host, time-out: never talked to a server
        raise ChannelError(
            f"{where} could not be reached: {type(exc).__name__}: {exc}", unreachable=True
        ) from None
