#!/usr/bin/python3
"""A small SMTP sink for Seen's tests.

Run it with Debian's Python, which has `aiosmtpd`:

    /usr/bin/python3 tests/support/smtp_sink.py --port 0 --out FILE \
        [--auth USER:PASS] [--tls-cert CERT --tls-key KEY] [--fail-first N] [--exit-on-stdin-eof]

It listens on 127.0.0.1 (port 0 = any free port) and prints exactly one line, `READY <port>`, once it
accepts connections. Every accepted message is appended to FILE as one JSON line
{"mail_from", "rcpt_tos", "data", "message_id", "tls", "auth"} and flushed *before* the 250 reply, so
"accepted" implies "recorded". `message_id` is the Message-ID header without its angle brackets.

What a recipient's local part asks for:
  bounce...   -> 550 5.1.1 no such user      (on RCPT TO)
  tempfail... -> 451 4.3.0 try again later   (on RCPT TO)
  slow...     -> the reply to DATA comes after 2 s
`--fail-first N` answers the first N messages with 421 4.3.2 service not available.
`--auth USER:PASS` requires AUTH PLAIN/LOGIN with those credentials before MAIL FROM.
`--tls-cert/--tls-key` offer STARTTLS and require it before MAIL FROM.
`--exit-on-stdin-eof` exits when stdin closes, so a sink whose test process died does not linger.
"""

import argparse
import asyncio
import json
import logging
import os
import ssl
import sys
import threading
import warnings

from aiosmtpd.smtp import SMTP, AuthResult


def local_part(address):
    return address.rsplit("@", 1)[0].lower()


def header_message_id(data):
    """The Message-ID header of a message, without angle brackets (a cheap scan of the header block)."""
    for line in data.split("\n"):
        if line in ("", "\r"):
            break
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "message-id":
            return value.strip().strip("<>")
    return None


class Sink:
    def __init__(self, out, fail_first):
        self.out = out
        self.fail_first = fail_first
        self.accepted = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = local_part(address)
        if local.startswith("bounce"):
            return "550 5.1.1 no such user"
        if local.startswith("tempfail"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if any(local_part(r).startswith("slow") for r in envelope.rcpt_tos):
            await asyncio.sleep(2)
        if self.fail_first > 0:
            self.fail_first -= 1
            return "421 4.3.2 service not available"
        content = envelope.content
        data = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": data,
            "message_id": header_message_id(data),
            "tls": session.ssl is not None,
            "auth": session.auth_data,
        }
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()
        self.accepted += 1
        return f"250 OK queued as {self.accepted}"


def make_authenticator(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        login = getattr(auth_data, "login", b"")
        secret = getattr(auth_data, "password", b"")
        ok = login == user.encode() and secret == password.encode()
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    return authenticate


async def serve(args):
    loop = asyncio.get_running_loop()
    out = open(args.out, "a", encoding="utf-8")
    handler = Sink(out, args.fail_first)
    options = {"hostname": "seen-sink", "loop": loop, "enable_SMTPUTF8": True}
    if args.auth:
        user, _, password = args.auth.partition(":")
        options.update(
            authenticator=make_authenticator(user, password),
            auth_required=True,
            auth_require_tls=False,
        )
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        options.update(tls_context=context, require_starttls=True)

    server = await loop.create_server(
        lambda: SMTP(handler, **options), host="127.0.0.1", port=args.port, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description="SMTP sink for tests")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--auth", help="USER:PASS required via AUTH PLAIN/LOGIN")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")

    # aiosmtpd warns about AUTH without TLS and logs a deprecation per AUTH: this is a test sink, so
    # keep stderr for real errors.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module="aiosmtpd")

    if args.exit_on_stdin_eof:

        def watch_stdin():
            sys.stdin.read()
            os._exit(0)

        threading.Thread(target=watch_stdin, daemon=True).start()

    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
