#!/usr/bin/env bash
# The whole test suite (`npm test`): checks the system packages the tests need (installing them
# when missing and running as root), builds, starts a throwaway PostgreSQL cluster on loopback,
# runs every test file with Node's test runner, and removes the cluster whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian package -> a command it provides, or an absolute path to a file it installs.
# The mail packages are for test/e2e/mail-protocols.test.ts (private Dovecot, nginx and Postfix on loopback;
# lua-socket is what the shipped Lua passdb speaks HTTP with, test/e2e/dovecot-lua-socket.test.ts)
# and the integrations tests (test/e2e/integrations-*.test.ts: the stock servers, Radicale and Caddy
# in a sandbox host, test/support/sandbox-host.ts, used by the mail and DAV clients listed);
# wrk is for test/bench/legacy-auth-bench.test.ts (bench/legacy-auth.ts); the FreeRADIUS packages
# (the server, its REST module, radtest and eapol_test) for test/e2e/integrations-radius.test.ts;
# ldap-utils (ldapwhoami, ldapsearch) and python3-ldap3 are the LDAP clients of test/e2e/ldap.test.ts;
# apache2 (mod_authnz_ldap) and dovecot-ldap (Dovecot's LDAP passdb) are the LDAP consumers of
# test/e2e/ldap-consumers.test.ts; slapd (OpenLDAP, with slapadd and slappasswd) is the anchor of
# test/bench/ldap-bind-bench.test.ts (bench/ldap-bind.ts), a private instance on a free loopback port;
# nslcd and libnss-ldapd are the Linux host (and NAS) of test/e2e/ldap-devices.test.ts, configured only
# inside its sandbox.
declare -A NEED=(
  [postgresql]=initdb [chromium]=chromium [oathtool]=oathtool [zbar-tools]=zbarimg
  [curl]=curl [python3]=python3 [swaks]=swaks [openssl]=openssl [wrk]=wrk
  [dovecot-core]=/usr/sbin/dovecot [dovecot-imapd]=/usr/lib/dovecot/imap [dovecot-pop3d]=/usr/lib/dovecot/pop3
  [dovecot-submissiond]=/usr/lib/dovecot/submission [dovecot-auth-lua]=/usr/lib/dovecot/modules/auth/libauthdb_lua.so
  [lua-socket]=/usr/share/lua/5.4/socket.lua
  [nginx]=/usr/sbin/nginx [libnginx-mod-mail]=/usr/lib/nginx/modules/ngx_mail_module.so [postfix]=/usr/sbin/postfix
  [radicale]=/usr/bin/radicale [caddy]=/usr/bin/caddy [fetchmail]=fetchmail [isync]=mbsync [s-nail]=s-nail
  [getmail6]=getmail [python3-caldav]=/usr/lib/python3/dist-packages/caldav
  [python3-authlib]=/usr/lib/python3/dist-packages/authlib [util-linux]=nsenter [iproute2]=/usr/sbin/ip
  [python3-yaml]=/usr/lib/python3/dist-packages/yaml
  [dovecot-lmtpd]=/usr/lib/dovecot/lmtp
  [freeradius]=/usr/sbin/freeradius [freeradius-rest]=/usr/lib/freeradius/rlm_rest.so
  [freeradius-utils]=radtest [eapoltest]=eapol_test
  [ldap-utils]=ldapwhoami [python3-ldap3]=/usr/lib/python3/dist-packages/ldap3
  [apache2]=/usr/lib/apache2/modules/mod_authnz_ldap.so [dovecot-ldap]=/usr/lib/dovecot/modules/auth/libauthdb_ldap.so
  [slapd]=/usr/sbin/slapd [nslcd]=/usr/sbin/nslcd [libnss-ldapd]=/lib/x86_64-linux-gnu/libnss_ldap.so.2
)

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
have() {
  case "$1" in
    initdb) [ -n "$(pg_bindir)" ] && [ -x "$(pg_bindir)/initdb" ] ;;
    /*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing=()
for pkg in "${!NEED[@]}"; do have "${NEED[$pkg]}" || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing ${missing[*]}"
    # Installing must not start system daemons (Dovecot on 143/110/587, nginx and Apache on 80,
    # Postfix on 25, FreeRADIUS on 1812, slapd on 389):
    # the tests run private instances on free loopback ports. policy-rc.d answering 101 forbids
    # invoke-rc.d to start anything; Postfix is told not to write a system configuration.
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      made_policy=1
    fi
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    # Nor should slapd's postinst make a system directory (the bench writes its own slapd.conf).
    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
    # Nor should libnss-ldapd add ldap to this machine's /etc/nsswitch.conf (the test's sandbox does).
    echo "libnss-ldapd libnss-ldapd/nsswitch multiselect" | debconf-set-selections
    rc=0
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } || rc=$?
    [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" = 0 ] || { echo "test.sh: apt-get install failed ($rc)" >&2; exit "$rc"; }
  else
    echo "test.sh: the tests need these Debian packages: ${missing[*]}" >&2
    echo "  install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

[ -d node_modules ] || npm install --no-audit --no-fund
npm run --silent build

PGBIN="$(pg_bindir)"
TMP="$(mktemp -d /tmp/sesame-test.XXXXXX)"
chmod 755 "$TMP"
PGDATA="$TMP/pg"
PGPORT="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
as_pg() {
  # PostgreSQL refuses to run as root: use the postgres account that Debian's package creates.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

mkdir -p "$PGDATA"
[ "$(id -u)" = 0 ] && chown postgres: "$PGDATA" "$TMP"
as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust --no-sync -E UTF8 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -w -l "$TMP/pg.log" \
  -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $TMP -c fsync=off -c max_connections=300" start >/dev/null
export SESAME_TEST_PG_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"
export SESAME_TEST_PG_BIN="$PGBIN"
echo "test.sh: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT"

# Every test file, on both stores, whatever the calling shell had set (test/tiers.txt; the fast tier
# is scripts/test-fast.sh).
export SESAME_TEST_STORES=sqlite,postgres
unset SESAME_TEST_TIER
# A hung test or hook fails with its name after TEST_TIMEOUT_MS, a file that never exits after
# FILE_TIMEOUT_MS (scripts/run-tests.sh). Measured alone on this 2-core machine under load 3-8, the
# slowest test took 20 s (SQLite held busy), the slowest files about 50 s (accessibility in
# Chromium, the mail servers); the benchmarks' smoke runs bound their own child processes at 120 s.
TEST_TIMEOUT_MS=180000
FILE_TIMEOUT_MS=600000
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
rc=0
bash scripts/run-tests.sh "$TEST_TIMEOUT_MS" "$FILE_TIMEOUT_MS" "${files[@]}" || rc=$?
# The accessibility walk saves every page it visits, at 390 and 1280 px (test/e2e/accessibility.test.ts).
[ -d screenshots ] && echo "test.sh: screenshots of every page, phone and laptop width: screenshots/"
exit "$rc"
