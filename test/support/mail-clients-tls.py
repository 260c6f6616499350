#!/usr/bin/env python3
"""Mail clients for test/e2e/integrations-mail.test.ts: Python's own imaplib, poplib and smtplib,
verifying the server's certificate against the test's CA (never with verification off).

Reads a JSON list of cases on stdin, runs them all at once (one thread each: refused logins wait out
the servers' failure delays side by side), prints a JSON list of results, in order:
{"ok": true|false, "detail": "..."}. ok means "logged in" (SMTP: "the message was accepted"; with
"find": "the message was found"). A refused login is ok=false with the server's answer as detail.

A case: {"proto": "imap"|"pop3"|"smtp", "host": "mail.example.com", "port": N,
         "tls": "none"|"starttls"|"implicit", "user": "...", "password": "...", "cafile": "...",
         "send": {"from": ..., "to": ..., "subject": ...} (smtp), "find": "subject" (imap)}
"""
import email.message
import imaplib
import json
import poplib
import smtplib
import ssl
import sys
from concurrent.futures import ThreadPoolExecutor

TIMEOUT = 15


def context(c):
    return ssl.create_default_context(cafile=c["cafile"])


def imap(c):
    if c["tls"] == "implicit":
        m = imaplib.IMAP4_SSL(c["host"], c["port"], ssl_context=context(c), timeout=TIMEOUT)
    else:
        m = imaplib.IMAP4(c["host"], c["port"], timeout=TIMEOUT)
        if c["tls"] == "starttls":
            m.starttls(ssl_context=context(c))
    try:
        m.login(c["user"], c["password"])
        if c.get("find"):
            m.select("INBOX", readonly=True)
            typ, data = m.search(None, "SUBJECT", json.dumps(c["find"]))
            ids = data[0].split() if data and data[0] else []
            if not ids:
                return False, "logged in, message not found"
            typ, msg = m.fetch(ids[-1], "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            return True, msg[0][1].decode(errors="replace").strip()
        typ, data = m.list()
        return True, f"{typ}"
    finally:
        try:
            m.logout()
        except Exception:
            pass


def pop3(c):
    if c["tls"] == "implicit":
        m = poplib.POP3_SSL(c["host"], c["port"], context=context(c), timeout=TIMEOUT)
    else:
        m = poplib.POP3(c["host"], c["port"], timeout=TIMEOUT)
        if c["tls"] == "starttls":
            m.stls(context=context(c))
    try:
        m.user(c["user"])
        m.pass_(c["password"])
        count, size = m.stat()
        return True, f"{count} messages"
    finally:
        try:
            m.quit()
        except Exception:
            pass


def smtp(c):
    if c["tls"] == "implicit":
        s = smtplib.SMTP_SSL(c["host"], c["port"], context=context(c), timeout=TIMEOUT)
    else:
        s = smtplib.SMTP(c["host"], c["port"], timeout=TIMEOUT)
    try:
        s.ehlo("client.example.net")
        if c["tls"] == "starttls":
            s.starttls(context=context(c))
            s.ehlo("client.example.net")
        s.login(c["user"], c["password"])
        if c.get("send"):
            msg = email.message.EmailMessage()
            msg["From"] = c["send"]["from"]
            msg["To"] = c["send"]["to"]
            msg["Subject"] = c["send"]["subject"]
            msg.set_content("sent by smtplib\n")
            s.send_message(msg)
        return True, "accepted"
    finally:
        try:
            s.quit()
        except Exception:
            pass


def run(c):
    try:
        return {"imap": imap, "pop3": pop3, "smtp": smtp}[c["proto"]](c)
    except (imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPException) as e:
        return False, f"{type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001 - the test reads the detail
        return False, f"{type(e).__name__}: {e}"


cases = json.load(sys.stdin)
with ThreadPoolExecutor(max_workers=max(1, len(cases))) as pool:
    results = list(pool.map(run, cases))
print(json.dumps([{"ok": ok, "detail": detail} for ok, detail in results]))
