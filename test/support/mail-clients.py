#!/usr/bin/env python3
"""Mail clients for test/e2e/mail-protocols.test.ts: Python's own imaplib, poplib and smtplib.

Reads a JSON list of cases on stdin and runs them all at once (one thread each); prints a JSON
list of results, in order: {"ok": true|false, "detail": "..."} where ok means "logged in" (and, for
SMTP, "the message was accepted"). A refused login is ok=false with the server's answer as detail;
anything unexpected (timeout, broken connection) also gives ok=false, with the exception's name.

A case: {"proto": "imap"|"pop3"|"smtp", "port": N, "tls": "none"|"starttls"|"implicit",
         "user": "...", "password": "...", "raw": false, "cafile": "/path/to/ca.crt"}
With "raw": true, user and password are sent as they are (control characters included) in a SASL
PLAIN exchange (AUTHENTICATE PLAIN / AUTH PLAIN), not through the library's quoting; "authzid"
(raw only, optional) is then sent as the SASL authorization identity.
"""
import base64
import imaplib
import json
import poplib
import smtplib
import ssl
import sys
from concurrent.futures import ThreadPoolExecutor

HOST = "127.0.0.1"
TIMEOUT = 15


def tls_context(c):
    # The servers' certificate comes from the test's throwaway CA ("cafile"); chain and name are
    # checked as any real client checks them.
    return ssl.create_default_context(cafile=c["cafile"])


def plain(user, password, authzid=""):
    # RFC 4616: authzid NUL authcid NUL passwd; an empty authzid means "act as authcid".
    return base64.b64encode(authzid.encode("utf-8", "surrogateescape") + b"\0" + user.encode("utf-8", "surrogateescape") + b"\0" + password.encode("utf-8", "surrogateescape")).decode("ascii")


def imap(c):
    if c["tls"] == "implicit":
        m = imaplib.IMAP4_SSL(HOST, c["port"], ssl_context=tls_context(c), timeout=TIMEOUT)
    else:
        m = imaplib.IMAP4(HOST, c["port"], timeout=TIMEOUT)
        if c["tls"] == "starttls":
            m.starttls(ssl_context=tls_context(c))
    try:
        if c.get("raw"):
            blob = base64.b64decode(plain(c["user"], c["password"], c.get("authzid", "")))
            m.authenticate("PLAIN", lambda _challenge: blob)
        else:
            m.login(c["user"], c["password"])
        typ, data = m.list()
        return True, f"{typ} {data[0].decode(errors='replace') if data and data[0] else ''}"
    finally:
        try:
            m.logout()
        except Exception:
            pass


def pop3(c):
    if c["tls"] == "implicit":
        p = poplib.POP3_SSL(HOST, c["port"], context=tls_context(c), timeout=TIMEOUT)
    else:
        p = poplib.POP3(HOST, c["port"], timeout=TIMEOUT)
        if c["tls"] == "starttls":
            p.stls(context=tls_context(c))
    try:
        if c.get("raw"):
            p._shortcmd("AUTH PLAIN " + plain(c["user"], c["password"], c.get("authzid", "")))
        else:
            p.user(c["user"])
            p.pass_(c["password"])
        count, size = p.stat()
        return True, f"STAT {count} {size}"
    finally:
        try:
            p.quit()
        except Exception:
            pass


def smtp(c):
    if c["tls"] == "implicit":
        s = smtplib.SMTP_SSL(HOST, c["port"], context=tls_context(c), timeout=TIMEOUT)
    else:
        s = smtplib.SMTP(HOST, c["port"], timeout=TIMEOUT)
    try:
        s.ehlo("client.test")
        if c["tls"] == "starttls":
            s.starttls(context=tls_context(c))
            s.ehlo("client.test")
        if c.get("raw"):
            code, msg = s.docmd("AUTH", "PLAIN " + plain(c["user"], c["password"], c.get("authzid", "")))
            if code != 235:
                raise smtplib.SMTPAuthenticationError(code, msg)
        else:
            s.login(c["user"], c["password"])
        sender = c["user"] if "@" in c["user"] and len(c["user"]) < 200 else "someone@contoso.test"
        refused = s.sendmail(sender, ["bob@example.org"], f"From: {sender}\r\nTo: bob@example.org\r\nSubject: smtplib via port {c['port']}\r\n\r\nHello from Python.\r\n")
        return True, f"sent, refused={refused}"
    finally:
        try:
            s.quit()
        except Exception:
            pass


def run(c):
    try:
        ok, detail = {"imap": imap, "pop3": pop3, "smtp": smtp}[c["proto"]](c)
        return {"ok": ok, "detail": detail[:300]}
    except (imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPException) as e:
        return {"ok": False, "refused": True, "detail": f"{type(e).__name__}: {e}"[:300]}
    except Exception as e:  # a broken connection, a timeout: not a clean refusal
        return {"ok": False, "refused": False, "detail": f"{type(e).__name__}: {e}"[:300]}


if __name__ == "__main__":
    cases = json.load(sys.stdin)
    with ThreadPoolExecutor(max_workers=max(1, len(cases))) as pool:
        results = list(pool.map(run, cases))
    json.dump(results, sys.stdout)
