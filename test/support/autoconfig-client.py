#!/usr/bin/env python3
"""A mail app that sets itself up, for test/e2e/mail-protocols.test.ts (issue #18, items 2, 3 and 5).

Reads JSON on stdin: {"xml": "...", "address": "...", "password": "...", "cafile": "..."} where xml
is a Mozilla autoconfiguration document or an Autodiscover POX response as Sesame served it. Parses
it with xml.etree.ElementTree and signs in to every server it lists, using only what the document
says (host name, port, socketType / Encryption, user name) plus the password, with Python's
imaplib, poplib and smtplib; the certificate is checked against the throwaway CA, for the host
name in the document. SMTP signs in and quits without sending (the test counts messages elsewhere).
Prints a JSON list: {"type", "host", "port", "tls", "user", "ok", "detail"} per server.

With {"profile": "...", "cafile": "..."} instead, it is an iPhone's Mail reading an Apple
configuration profile: plistlib reads it, and it signs in with the user names and the passwords the
profile holds (none from outside), to the incoming server, and to the outgoing server only when the
profile gives it a login (EmailAuthPassword). As Apple's Mail does, "use SSL" on 993, 995 or 465 is
implicit TLS and on any other port STARTTLS.
"""
import imaplib
import json
import plistlib
import poplib
import smtplib
import ssl
import sys
import xml.etree.ElementTree as ET

TIMEOUT = 15


def servers(xml, address):
    root = ET.fromstring(xml)
    local = address.rsplit("@", 1)[0]
    if root.tag == "clientConfig":
        provider = root.find("emailProvider")
        for s in list(provider.findall("incomingServer")) + list(provider.findall("outgoingServer")):
            user = s.findtext("username").replace("%EMAILADDRESS%", address).replace("%EMAILLOCALPART%", local)
            tls = {"SSL": "implicit", "STARTTLS": "starttls"}[s.findtext("socketType")]
            yield s.get("type"), s.findtext("hostname"), int(s.findtext("port")), tls, user
        return
    ns = {"r": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
    for p in root.findall("r:Response/r:Account/r:Protocol", ns):
        kind = {"IMAP": "imap", "POP3": "pop3", "SMTP": "smtp"}[p.findtext("r:Type", namespaces=ns)]
        tls = {"SSL": "implicit", "TLS": "starttls"}[p.findtext("r:Encryption", namespaces=ns)]
        host = p.findtext("r:Server", namespaces=ns)
        yield kind, host, int(p.findtext("r:Port", namespaces=ns)), tls, p.findtext("r:LoginName", namespaces=ns)


IMPLICIT_PORTS = {993, 995, 465}


def profile_servers(xml):
    """(type, host, port, tls, user, password) for each login the profile's mail accounts hold."""
    profile = plistlib.loads(xml.encode(), fmt=plistlib.FMT_XML)
    for p in profile["PayloadContent"]:
        if p["PayloadType"] != "com.apple.mail.managed":
            continue
        kind = {"EmailTypeIMAP": "imap", "EmailTypePOP": "pop3"}[p["EmailAccountType"]]
        port = p["IncomingMailServerPortNumber"]
        assert p["IncomingMailServerUseSSL"] is True
        tls = "implicit" if port in IMPLICIT_PORTS else "starttls"
        yield kind, p["IncomingMailServerHostName"], port, tls, p["IncomingMailServerUsername"], p["IncomingPassword"]
        if p["OutgoingMailServerAuthentication"] == "EmailAuthPassword":
            port = p["OutgoingMailServerPortNumber"]
            tls = "implicit" if port in IMPLICIT_PORTS else "starttls"
            yield "smtp", p["OutgoingMailServerHostName"], port, tls, p["OutgoingMailServerUsername"], p["OutgoingPassword"]


def sign_in(kind, host, port, tls, user, password, ctx):
    if kind == "imap":
        m = imaplib.IMAP4_SSL(host, port, ssl_context=ctx, timeout=TIMEOUT) if tls == "implicit" else imaplib.IMAP4(host, port, timeout=TIMEOUT)
        if tls == "starttls":
            m.starttls(ssl_context=ctx)
        m.login(user, password)
        typ, _ = m.list()
        m.logout()
        return typ
    if kind == "pop3":
        p = poplib.POP3_SSL(host, port, context=ctx, timeout=TIMEOUT) if tls == "implicit" else poplib.POP3(host, port, timeout=TIMEOUT)
        if tls == "starttls":
            p.stls(context=ctx)
        p.user(user)
        p.pass_(password)
        count, _ = p.stat()
        p.quit()
        return f"STAT {count}"
    s = smtplib.SMTP_SSL(host, port, context=ctx, timeout=TIMEOUT) if tls == "implicit" else smtplib.SMTP(host, port, timeout=TIMEOUT)
    s.ehlo("client.test")
    if tls == "starttls":
        s.starttls(context=ctx)
        s.ehlo("client.test")
    code, _ = s.login(user, password)
    s.quit()
    return f"AUTH {code}"


if __name__ == "__main__":
    c = json.load(sys.stdin)
    ctx = ssl.create_default_context(cafile=c["cafile"])
    out = []
    if "profile" in c:
        logins = list(profile_servers(c["profile"]))
    else:
        logins = [(*s, c["password"]) for s in servers(c["xml"], c["address"])]
    for kind, host, port, tls, user, password in logins:
        r = {"type": kind, "host": host, "port": port, "tls": tls, "user": user}
        try:
            r.update(ok=True, detail=str(sign_in(kind, host, port, tls, user, password, ctx)))
        except Exception as e:
            r.update(ok=False, detail=f"{type(e).__name__}: {e}"[:300])
        out.append(r)
    json.dump(out, sys.stdout)
