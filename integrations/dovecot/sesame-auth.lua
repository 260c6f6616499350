-- Sesame passdb for Dovecot 2.3 (packages dovecot-auth-lua and lua-socket): asks Sesame whether the
-- password the client typed (an app password, or the main password while the user's MFA is not
-- enforced) is good for this user on this protocol.
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
--
-- How it asks. For an http:// URL (Sesame on this host or the local network) the script speaks
-- HTTP/1.1 itself over one TCP connection per auth-worker process, kept open between checks, with
-- LuaSocket (Debian package lua-socket): one write (head and body together, Content-Length) and one
-- answer per check. Dovecot 2.3's own Lua HTTP client (dovecot.http) is slower (0.16-0.38 ms more
-- per check at p50, measured in the auth-worker): it sends every body with `Expect: 100-continue`,
-- so each check waits one extra round trip for Sesame's `100 Continue`, and its blocking submit()
-- runs a private event loop per request (docs/performance.md, "IMAP LOGIN through Dovecot"). For an https:// URL, which LuaSocket cannot
-- speak, and when lua-socket is missing (logged as a warning when the script loads), the script
-- uses dovecot.http as before. blocking=yes (99-sesame.conf) keeps the waiting in auth-worker
-- processes, one check at a time each, never in Dovecot's auth process.

local SESAME_URL = "@SESAME_URL@"
local INTEGRATION_KEY = "@SESAME_INTEGRATION_KEY@"

-- The whole check, connecting included, has this long; then Dovecot answers a temporary failure.
local TIMEOUT_S = 5

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

-- ---------------------------------------------------------------------------------------------
-- http:// : HTTP/1.1 over a kept TCP connection (LuaSocket)

local socket    -- LuaSocket, when installed and SESAME_URL is http://
local target    -- { host, port, authority, path } of SESAME_URL .. "/auth/mail"
local conn      -- this worker's kept connection to Sesame, or nil

-- http://HOST[:PORT][/PREFIX] -> host to connect to, port, the Host header, the request path.
local function parse_http_url(url)
  local authority, prefix = url:match("^[Hh][Tt][Tt][Pp]://([^/?#]+)([^?#]*)$")
  if not authority then return nil end
  local host, port = authority:match("^%[([^%]]+)%]:?(%d*)$")
  if not host then host, port = authority:match("^([^:]+):?(%d*)$") end
  if not host then return nil end
  return { host = host, port = tonumber(port) or 80, authority = authority, path = prefix .. "/auth/mail" }
end

local function remaining(deadline)
  return math.max(0, deadline - socket.gettime())
end

local function drop()
  if conn then conn:close() end
  conn = nil
end

local function connect(deadline)
  local c, err = socket.tcp()
  if not c then return nil, err end
  c:settimeout(remaining(deadline))
  local ok, cerr = c:connect(target.host, target.port)
  if not ok then
    c:close()
    return nil, cerr
  end
  c:setoption("tcp-nodelay", true)
  return c
end

-- A kept connection that has something to read while no request is out was closed by Sesame (its
-- keep-alive or idle timeout, a restart) or is out of step: it must not carry the next check.
local function stale(c)
  if c:dirty() then return true end
  local readable = socket.select({ c }, nil, 0)
  return readable ~= nil and #readable > 0
end

-- One request and its answer on `c`. Returns the status and whether the connection can carry the
-- next check; or nil, the error, and whether any byte of an answer had arrived.
local function exchange(c, request, deadline)
  c:settimeout(remaining(deadline))
  local sent, err = c:send(request)
  if not sent then return nil, err, false end
  c:settimeout(remaining(deadline))
  local line
  line, err = c:receive("*l")
  if not line then return nil, err, false end
  local version, status = line:match("^HTTP/1%.([01]) (%d%d%d)")
  if not status then return nil, "not an HTTP answer: " .. line:sub(1, 80), true end
  local length, chunked, reusable = nil, false, version == "1"
  while true do
    c:settimeout(remaining(deadline))
    local h
    h, err = c:receive("*l")
    if not h then return nil, err, true end
    if h == "" then break end
    local name, value = h:match("^([^:]+):%s*(.-)%s*$")
    name = name and name:lower()
    if name == "content-length" then
      length = tonumber(value)
    elseif name == "transfer-encoding" then
      chunked = value:lower() == "chunked"
      reusable = reusable and chunked
    elseif name == "connection" and value:lower():find("close", 1, true) then
      reusable = false
    end
  end
  -- The body (Sesame's JSON) is not needed, only read to its end so that the next answer on this
  -- connection starts clean; a connection whose answer has no known end is not used again.
  if not reusable then return tonumber(status), false end
  c:settimeout(remaining(deadline))
  if chunked then
    repeat
      local size_line = c:receive("*l")
      local size = size_line and tonumber(size_line:match("^%x+"), 16)
      if not size or (size > 0 and c:receive(size + 2) == nil) then return tonumber(status), false end
    until size == 0
    repeat
      local trailer = c:receive("*l")
      if not trailer then return tonumber(status), false end
    until trailer == ""
  elseif length == nil then
    return tonumber(status), false
  elseif length > 0 and c:receive(length) == nil then
    return tonumber(status), false
  end
  return tonumber(status), true
end

-- Sesame's status for `body`, or nil and why there is none.
local function ask_socket(body)
  local request = "POST " .. target.path .. " HTTP/1.1\r\n" ..
    "Host: " .. target.authority .. "\r\n" ..
    "User-Agent: dovecot-sesame-auth\r\n" ..
    "Authorization: Bearer " .. INTEGRATION_KEY .. "\r\n" ..
    "Content-Type: application/json\r\n" ..
    "Content-Length: " .. #body .. "\r\n\r\n" .. body
  local deadline = socket.gettime() + TIMEOUT_S
  for _ = 1, 2 do
    local reused = conn ~= nil
    if reused and stale(conn) then
      drop()
      reused = false
    end
    if not conn then
      local err
      conn, err = connect(deadline)
      if not conn then return nil, "cannot connect to " .. target.authority .. ": " .. tostring(err) end
    end
    local status, reusable_or_err, answered = exchange(conn, request, deadline)
    if status then
      if not reusable_or_err then drop() end
      return status
    end
    drop()
    -- Once more, on a new connection, only when a kept connection failed before any byte of an
    -- answer and not by our timeout: Sesame closed it between the staleness check and the request,
    -- and did not act on the request. (Were it to have acted, the same wrong password again is
    -- recognized as a repeat by Sesame and not counted twice.) A new connection is never retried.
    if not reused or answered or reusable_or_err == "timeout" or remaining(deadline) <= 0 then
      return nil, tostring(reusable_or_err)
    end
  end
end

-- ---------------------------------------------------------------------------------------------
-- https://, or no LuaSocket: Dovecot's HTTP client

local client

local function ask_dovecot_http(body)
  local request = client:request({ url = SESAME_URL .. "/auth/mail", method = "POST" })
  request:add_header("Content-Type", "application/json")
  request:add_header("Authorization", "Bearer " .. INTEGRATION_KEY)
  request:set_payload(body)
  local response = request:submit()
  local status = response:status()
  if status == 200 or status == 401 or status == 403 then return status end
  -- Dovecot reports its own failures (no connection, timeout) as statuses of 9000 and more.
  return status, tostring(status) .. " " .. tostring(response:reason())
end

function script_init()
  target = parse_http_url(SESAME_URL)
  if target then
    local ok, lib = pcall(require, "socket")
    if ok then
      socket = lib
      return 0
    end
    dovecot.i_warning("sesame-auth.lua: LuaSocket is not installed (apt-get install lua-socket), " ..
      "so every login waits for Dovecot's slower HTTP client: " .. tostring(lib))
    target = nil
  end
  client = dovecot.http.client({
    request_timeout_msecs = TIMEOUT_S * 1000,
    max_attempts = 1,
    user_agent = "dovecot-sesame-auth",
  })
  return 0
end

function script_deinit()
  if socket then drop() end
end

function auth_password_verify(req, password)
  local body = "{" ..
    '"user":' .. json_string(req.user) ..
    ',"password":' .. json_string(password) ..
    ',"service":' .. json_string(req.service) ..
    ',"remoteIp":' .. json_string(req.remote_ip or req.rip) ..
    "}"
  local status, problem
  if target then
    status, problem = ask_socket(body)
  else
    status, problem = ask_dovecot_http(body)
  end
  if status == 200 then
    return dovecot.auth.PASSDB_RESULT_OK, {}
  end
  if status == 401 or status == 403 then
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, ""
  end
  if status then
    req:log_error("Sesame answered HTTP " .. (problem or tostring(status)))
  else
    req:log_error("Sesame unreachable: " .. tostring(problem))
  end
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
