-- Sesame passdb for Dovecot 2.3 (package dovecot-auth-lua): asks Sesame whether the password the
-- client typed (an app password, or the main password while the user's MFA is not enforced) is good
-- for this user on this protocol.
--
-- Written as /etc/dovecot/sesame-auth.lua (mode 0640, group dovecot: it holds the integration key) by
--     sesame integration config dovecot --out /etc/dovecot ...
-- which fills in Sesame's URL and a fresh key of the integration "dovecot". (By hand: replace
-- @SESAME_URL@, Sesame's base URL as Dovecot reaches it, no trailing slash, and
-- @SESAME_INTEGRATION_KEY@, the key printed by `sesame integration add dovecot`.)
-- Dovecot 2.3 cannot pass extra passdb args to a Lua script, so they live here.
--
-- Contract: POST <url>/auth/mail, Authorization: Bearer <key>,
--   {"user":..., "password":..., "service":"imap|pop3|submission|smtp|...", "remoteIp":"..."}
--   200 -> the password is good           -> PASSDB_RESULT_OK
--   401 / 403 -> wrong, or refused         -> PASSDB_RESULT_PASSWORD_MISMATCH
--   anything else, or no answer in 5 s     -> PASSDB_RESULT_INTERNAL_FAILURE, so the client sees a
--                                             temporary failure ([UNAVAILABLE]), not "wrong password",
--                                             and mail apps do not ask the user for a new one.
-- `service` is Dovecot's service name: imap, pop3, submission, and smtp when Postfix asks through
-- Dovecot SASL. `remoteIp` is the client's address (the real one behind a proxy that speaks the
-- PROXY protocol or passes it in IMAP ID / XCLIENT from login_trusted_networks).

local SESAME_URL = "@SESAME_URL@"
local INTEGRATION_KEY = "@SESAME_INTEGRATION_KEY@"

local client

-- JSON string: quotes, backslashes and every control character escaped (a CR, LF or NUL typed into
-- a user name or password reaches Sesame as \u000d, \u000a, \u0000 and is refused there).
local function json_string(s)
  s = tostring(s or "")
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == '\\' then return '\\\\' end
    return string.format('\\u%04x', c:byte())
  end)
  return '"' .. s .. '"'
end

function script_init()
  client = dovecot.http.client({
    request_timeout_msecs = 5000,
    max_attempts = 1,
    user_agent = "dovecot-sesame-auth",
  })
  return 0
end

function script_deinit()
end

function auth_password_verify(req, password)
  local request = client:request({ url = SESAME_URL .. "/auth/mail", method = "POST" })
  request:add_header("Content-Type", "application/json")
  request:add_header("Authorization", "Bearer " .. INTEGRATION_KEY)
  request:set_payload("{" ..
    '"user":' .. json_string(req.user) ..
    ',"password":' .. json_string(password) ..
    ',"service":' .. json_string(req.service) ..
    ',"remoteIp":' .. json_string(req.remote_ip or req.rip) ..
    "}")
  local response = request:submit()
  local status = response:status()
  if status == 200 then
    return dovecot.auth.PASSDB_RESULT_OK, {}
  end
  if status == 401 or status == 403 then
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, ""
  end
  req:log_error("Sesame answered HTTP " .. tostring(status) .. " " .. tostring(response:reason()))
  return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, "Sesame unavailable"
end

-- A passdb *lookup* (no password given: `doveadm auth lookup`, a non-plaintext mechanism such as
-- CRAM-MD5, a static userdb without allow_all_users checking that a user exists) asks the passdb for
-- the user's stored password, to compare or hand on. Sesame never gives out a password, and no
-- answer here may stand in for one: OK with `nopassword` would let anyone in with any password, and
-- OK with no password at all is turned into a failure by Dovecot anyway. USER_UNKNOWN would claim
-- that the user does not exist, which Sesame was not asked. SCHEME_NOT_AVAILABLE says what is true,
-- "this passdb cannot supply credentials", exactly as Dovecot answers for a passdb that has no lookup
-- at all; every such lookup fails and only auth_password_verify (a password checked by Sesame) ever
-- logs anyone in. (Without this function Dovecot logs an internal error for every lookup instead.)
function auth_passdb_lookup(req)
  return dovecot.auth.PASSDB_RESULT_SCHEME_NOT_AVAILABLE, "Sesame checks passwords; it does not hand them out"
end
