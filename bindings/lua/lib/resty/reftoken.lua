-- resty.reftoken: IdentityServer reference tokens validated in nginx's Lua module (OpenResty
-- or the distribution's lua-nginx-module), through libreftoken's C ABI with LuaJIT's FFI and
-- no compiled glue. See bindings/lua/README.md.
--
--   init_worker_by_lua_block {
--       local v, err = require("resty.reftoken").new({ store = "sqlite:/var/lib/idsrv/grants.db" })
--       package.loaded.rt = v
--   }
--   access_by_lua_block { package.loaded.rt:access({ api = "api1", scopes = "api1.read" }) }
--
-- One validator per worker (created in init_worker, after the fork). Store lookups happen only
-- on a cache miss; they run on the worker's event loop (see the README for the bound).
local ffi = require "ffi"
local bit = require "bit"

local ngx = ngx
local C_str = ffi.string

ffi.cdef [[
typedef uint32_t reftoken_status;
typedef struct reftoken_grant reftoken_grant;
typedef struct reftoken_keyring reftoken_keyring;
typedef struct reftoken_revocation_listener reftoken_revocation_listener;
typedef struct reftoken_row reftoken_row;
typedef struct reftoken_signing_key reftoken_signing_key;
typedef struct reftoken_validator reftoken_validator;
typedef struct reftoken_str { const char *ptr; size_t len; } reftoken_str;
typedef struct reftoken_caller { uint32_t kind; reftoken_str name; reftoken_str scopes; } reftoken_caller;
typedef struct reftoken_verdict {
    bool active; uint32_t reason; int64_t expiration; reftoken_str subject; reftoken_str client_id;
} reftoken_verdict;
typedef reftoken_status (*reftoken_lookup_fn)(void *ctx, const char *key, size_t key_len, reftoken_row *row);

uint32_t reftoken_abi_version(void);
const char *reftoken_status_str(uint32_t status);
reftoken_status reftoken_last_error(char *out, size_t out_cap, size_t *out_len);
reftoken_status reftoken_keyring_new_from_dir(const char *dir, size_t dir_len, const char *app_name,
                                              size_t app_name_len, reftoken_keyring **out);
void reftoken_keyring_free(reftoken_keyring *keyring);
reftoken_status reftoken_row_set(reftoken_row *row, const char *grant_type, size_t grant_type_len,
                                 const char *data, size_t data_len);
reftoken_status reftoken_validator_new(reftoken_lookup_fn lookup, void *lookup_ctx, const reftoken_keyring *keyring,
                                       size_t cache_capacity, int64_t cache_ttl, reftoken_validator **out);
void reftoken_validator_free(reftoken_validator *validator);
reftoken_status reftoken_validator_validate(const reftoken_validator *validator, const char *handle, size_t handle_len,
                                            const reftoken_caller *caller, int64_t now, const void *options,
                                            reftoken_grant **out_grant, reftoken_verdict *out);
reftoken_status reftoken_validator_check(const reftoken_validator *validator, const char *handle, size_t handle_len,
                                         const reftoken_caller *caller, int64_t now, const void *options,
                                         reftoken_grant **out_grant, reftoken_verdict *out, char *out_json,
                                         size_t out_json_cap, size_t *out_json_len);
void reftoken_grant_free(reftoken_grant *grant);
reftoken_status reftoken_revocation_listener_start_postgres(const reftoken_validator *validator, const char *url,
                                                            size_t url_len, const char *channel, size_t channel_len,
                                                            uint32_t stale_bound_ms,
                                                            reftoken_revocation_listener **out);
reftoken_status reftoken_revocation_listener_start_redis(const reftoken_validator *validator, const char *url,
                                                         size_t url_len, const char *channel, size_t channel_len,
                                                         uint32_t stale_bound_ms, reftoken_revocation_listener **out);
void reftoken_revocation_listener_free(reftoken_revocation_listener *listener);
reftoken_status reftoken_signing_key_new_from_pem(const char *pem, size_t pem_len, uint32_t alg, const char *kid,
                                                  size_t kid_len, reftoken_signing_key **out);
void reftoken_signing_key_free(reftoken_signing_key *key);
reftoken_status reftoken_introspection_jwt(const reftoken_signing_key *key, const char *issuer, size_t issuer_len,
                                           const char *audience, size_t audience_len, int64_t now,
                                           const char *response, size_t response_len, char *out, size_t out_cap,
                                           size_t *out_len);

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs);
int sqlite3_close(sqlite3 *db);
int sqlite3_busy_timeout(sqlite3 *db, int ms);
int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **stmt, const char **tail);
int sqlite3_bind_text(sqlite3_stmt *stmt, int i, const char *text, int n, void (*destructor)(void *));
int sqlite3_step(sqlite3_stmt *stmt);
const unsigned char *sqlite3_column_text(sqlite3_stmt *stmt, int col);
int sqlite3_column_bytes(sqlite3_stmt *stmt, int col);
int sqlite3_reset(sqlite3_stmt *stmt);
int sqlite3_clear_bindings(sqlite3_stmt *stmt);
int sqlite3_finalize(sqlite3_stmt *stmt);
const char *sqlite3_errmsg(sqlite3 *db);

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
PGconn *PQconnectdb(const char *conninfo);
int PQstatus(const PGconn *conn);
void PQfinish(PGconn *conn);
char *PQerrorMessage(const PGconn *conn);
PGresult *PQexecParams(PGconn *conn, const char *command, int nParams, const unsigned int *paramTypes,
                       const char *const *paramValues, const int *paramLengths, const int *paramFormats,
                       int resultFormat);
int PQresultStatus(const PGresult *res);
int PQntuples(const PGresult *res);
char *PQgetvalue(const PGresult *res, int row, int col);
int PQgetlength(const PGresult *res, int row, int col);
void PQclear(PGresult *res);
]]

local OK, NOT_FOUND, IO_ERROR, BUFFER_TOO_SMALL, MALFORMED_INPUT = 0, 13, 31, 3, 10
local CALLER_API = 1
local ABI_VERSION = 1
local INACTIVE = {
    [1] = "The access token expired",
    [2] = "The access token's client is disabled",
    [3] = "The access token is not for this resource",
    [5] = "The access token is not known",
}
local LOOKUP_SQL = 'SELECT "Type", "Data" FROM "PersistedGrants" WHERE "Key" = '
local REOPEN_INTERVAL = 1 -- seconds between attempts to reach a store that is down
local MAX_TOKEN = 4096

local _M = { _VERSION = "0.1.0" }
local mt = { __index = _M }

local function load_lib(names)
    local errs = {}
    for _, n in ipairs(names) do
        local ok, lib = pcall(ffi.load, n)
        if ok then return lib end
        errs[#errs + 1] = tostring(lib)
    end
    return nil, table.concat(errs, "; ")
end

local function last_error(R)
    local buf, n = ffi.new("char[512]"), ffi.new("size_t[1]")
    if R.reftoken_last_error(buf, 512, n) ~= OK then return "" end
    return C_str(buf, n[0])
end

local function status_error(R, what, st)
    return what .. ": " .. C_str(R.reftoken_status_str(st)) .. ": " .. last_error(R)
end

-- Stores: open(), lookup(key) -> status, type, data; error() -> message without credentials.

local function sqlite_store(path)
    local S, err = load_lib({ "sqlite3", "libsqlite3.so.0" })
    if not S then return nil, "cannot load SQLite: " .. err end
    local self = { last_attempt = -math.huge, err = "" }
    local db, stmt
    local function open()
        local now = ngx.now()
        if now - self.last_attempt < REOPEN_INTERVAL then return false end
        self.last_attempt = now
        local pdb = ffi.new("sqlite3*[1]")
        -- Read-only (1), no mutex (0x8000): a validator never writes; one worker, one thread.
        local rc = S.sqlite3_open_v2(path, pdb, bit.bor(0x1, 0x8000), nil)
        if rc ~= 0 then
            self.err = path .. ": " .. (pdb[0] ~= nil and C_str(S.sqlite3_errmsg(pdb[0])) or "cannot open")
            if pdb[0] ~= nil then S.sqlite3_close(pdb[0]) end
            return false
        end
        S.sqlite3_busy_timeout(pdb[0], 1000)
        local pst = ffi.new("sqlite3_stmt*[1]")
        rc = S.sqlite3_prepare_v2(pdb[0], LOOKUP_SQL .. "?1", -1, pst, nil)
        if rc ~= 0 then
            self.err = path .. ": " .. C_str(S.sqlite3_errmsg(pdb[0]))
            S.sqlite3_close(pdb[0])
            return false
        end
        db, stmt = pdb[0], pst[0]
        return true
    end
    function self.lookup(key, key_len)
        if db == nil and not open() then return IO_ERROR end
        S.sqlite3_bind_text(stmt, 1, key, key_len, nil)
        local rc = S.sqlite3_step(stmt)
        local st, typ, data = IO_ERROR, nil, nil
        if rc == 100 then -- SQLITE_ROW
            local t = S.sqlite3_column_text(stmt, 0)
            local tl = S.sqlite3_column_bytes(stmt, 0)
            local d = S.sqlite3_column_text(stmt, 1)
            local dl = S.sqlite3_column_bytes(stmt, 1)
            typ = t ~= nil and C_str(t, tl) or ""
            data = d ~= nil and C_str(d, dl) or ""
            st = OK
        elseif rc == 101 then -- SQLITE_DONE
            st = NOT_FOUND
        else
            self.err = "PersistedGrants lookup: " .. C_str(S.sqlite3_errmsg(db))
        end
        S.sqlite3_reset(stmt)
        S.sqlite3_clear_bindings(stmt)
        return st, typ, data
    end
    open()
    return self
end

local function pg_store(url)
    local P, err = load_lib({ "pq", "libpq.so.5" })
    if not P then return nil, "cannot load libpq: " .. err end
    -- A bound on connecting, unless the URL has one.
    if not url:find("connect_timeout", 1, true) then
        url = url .. (url:find("?", 1, true) and "&" or "?") .. "connect_timeout=2"
    end
    local self = { last_attempt = -math.huge, err = "" }
    local conn
    local values = ffi.new("const char*[1]")
    local lengths = ffi.new("int[1]")
    local function connect()
        local now = ngx.now()
        if now - self.last_attempt < REOPEN_INTERVAL then return false end
        self.last_attempt = now
        local c = P.PQconnectdb(url)
        if c == nil or P.PQstatus(c) ~= 0 then
            -- libpq's message names host and port, never the password.
            self.err = "cannot connect: " .. (c ~= nil and C_str(P.PQerrorMessage(c)):gsub("%s+$", "") or "out of memory")
            if c ~= nil then P.PQfinish(c) end
            return false
        end
        conn = c
        return true
    end
    local function query(key, key_len)
        -- Text parameters are read up to a NUL: pass a Lua string (NUL-terminated), kept
        -- alive by this local during the call.
        local k = C_str(key, key_len)
        values[0] = k
        lengths[0] = key_len
        local r = P.PQexecParams(conn, LOOKUP_SQL .. "$1", 1, nil, values, lengths, nil, 0)
        local rs = r ~= nil and P.PQresultStatus(r) or -1
        if rs ~= 2 then -- PGRES_TUPLES_OK
            self.err = "PersistedGrants lookup: " .. C_str(P.PQerrorMessage(conn)):gsub("%s+$", "")
            if r ~= nil then P.PQclear(r) end
            return IO_ERROR
        end
        if P.PQntuples(r) == 0 then
            P.PQclear(r)
            return NOT_FOUND
        end
        local typ = C_str(P.PQgetvalue(r, 0, 0), P.PQgetlength(r, 0, 0))
        local data = C_str(P.PQgetvalue(r, 0, 1), P.PQgetlength(r, 0, 1))
        P.PQclear(r)
        return OK, typ, data
    end
    function self.lookup(key, key_len)
        if conn == nil and not connect() then return IO_ERROR end
        local st, typ, data = query(key, key_len)
        if st == IO_ERROR and P.PQstatus(conn) ~= 0 then
            -- The connection broke (server restart): connect again once, now.
            P.PQfinish(conn)
            conn = nil
            self.last_attempt = -math.huge
            if not connect() then return IO_ERROR end
            st, typ, data = query(key, key_len)
        end
        return st, typ, data
    end
    connect()
    return self
end

local function read_file(path)
    local f, err = io.open(path, "rb")
    if not f then return nil, err end
    local s = f:read("*a")
    f:close()
    return s
end

-- new(opts): a validator for this worker. opts: store ("sqlite:PATH" or a postgresql:// URL),
-- keyring, app_name, cache_size (10000), cache_ttl (60 s), revocation (postgresql:// or
-- redis:// URL), channel, stale_bound_ms (10000), jwt_key (PEM file), jwt_kid, jwt_issuer,
-- library (path of libreftoken.so; default: the loader's search path).
function _M.new(opts)
    local R, err = load_lib({ opts.library or "reftoken", "libreftoken.so.0" })
    if not R then return nil, "cannot load libreftoken: " .. err end
    if R.reftoken_abi_version() ~= ABI_VERSION then
        return nil, "libreftoken has ABI version " .. R.reftoken_abi_version() .. ", this binding needs " .. ABI_VERSION
    end
    local store = opts.store or ""
    local backend
    if store:sub(1, 7) == "sqlite:" then
        backend, err = sqlite_store(store:sub(8))
    elseif store:match("^postgres") then
        backend, err = pg_store(store)
    else
        return nil, "store must be sqlite:PATH or a postgresql:// URL"
    end
    if not backend then return nil, err end

    local self = setmetatable({ R = R, store = backend, buf_cap = 16384 }, mt)
    self.buf = ffi.new("char[?]", self.buf_cap)
    self.len = ffi.new("size_t[1]")
    self.grant = ffi.new("reftoken_grant*[1]")
    self.verdict = ffi.new("reftoken_verdict[1]")
    self.caller = ffi.new("reftoken_caller[1]")

    -- The lookup callback. An error must not unwind through the library's frames: pcall.
    local function lookup(_, key, key_len, row)
        local ok, st, typ, data = pcall(backend.lookup, key, tonumber(key_len))
        if not ok then
            backend.err = "lookup failed: " .. tostring(st)
            return IO_ERROR
        end
        if st ~= OK then return st end
        return R.reftoken_row_set(row, typ, #typ, data, #data)
    end
    self.lookup_cb = ffi.cast("reftoken_lookup_fn", lookup) -- kept for the validator's life

    local ring
    if opts.keyring then
        local out = ffi.new("reftoken_keyring*[1]")
        local app = opts.app_name or ""
        local st = R.reftoken_keyring_new_from_dir(opts.keyring, #opts.keyring, app, #app, out)
        if st ~= OK then return nil, status_error(R, "keyring " .. opts.keyring, st) end
        ring = out[0]
    end
    local vout = ffi.new("reftoken_validator*[1]")
    local st = R.reftoken_validator_new(self.lookup_cb, nil, ring, opts.cache_size or 10000, opts.cache_ttl or 60, vout)
    if ring then R.reftoken_keyring_free(ring) end -- the validator keeps its own reference
    if st ~= OK then return nil, status_error(R, "validator", st) end
    self.validator = ffi.gc(vout[0], R.reftoken_validator_free)

    if opts.revocation then
        local url, ch = opts.revocation, opts.channel or ""
        local lout = ffi.new("reftoken_revocation_listener*[1]")
        local start = url:match("^redis://") and R.reftoken_revocation_listener_start_redis
            or R.reftoken_revocation_listener_start_postgres
        st = start(self.validator, url, #url, ch, #ch, opts.stale_bound_ms or 10000, lout)
        if st ~= OK then return nil, status_error(R, "revocation listener", st) end
        self.listener = ffi.gc(lout[0], R.reftoken_revocation_listener_free)
    end

    if opts.jwt_key then
        local pem, e = read_file(opts.jwt_key)
        if not pem then return nil, "jwt_key: " .. tostring(e) end
        local kout = ffi.new("reftoken_signing_key*[1]")
        local kid = opts.jwt_kid or ""
        st = R.reftoken_signing_key_new_from_pem(pem, #pem, 0, kid, #kid, kout)
        if st ~= OK then return nil, status_error(R, "jwt_key", st) end
        self.jwt_key = ffi.gc(kout[0], R.reftoken_signing_key_free)
        self.jwt_issuer = opts.jwt_issuer or ""
    end
    return self
end

local function utf8_char(cp)
    if cp < 0x80 then return string.char(cp) end
    if cp < 0x800 then return string.char(0xC0 + bit.rshift(cp, 6), 0x80 + bit.band(cp, 0x3F)) end
    if cp < 0x10000 then
        return string.char(0xE0 + bit.rshift(cp, 12), 0x80 + bit.band(bit.rshift(cp, 6), 0x3F), 0x80 + bit.band(cp, 0x3F))
    end
    return string.char(0xF0 + bit.rshift(cp, 18), 0x80 + bit.band(bit.rshift(cp, 12), 0x3F),
        0x80 + bit.band(bit.rshift(cp, 6), 0x3F), 0x80 + bit.band(cp, 0x3F))
end

local ESC = { n = "\n", t = "\t", r = "\r", b = "\b", f = "\f", ['"'] = '"', ["\\"] = "\\", ["/"] = "/" }

-- The scopes from the response's last member, `"active":true,"scope":"..."}`: the library has
-- no claim accessor; a `"` inside a JSON string is always escaped, so the marker is unique.
local function scope_of(json)
    local marker = '"active":true,"scope":"'
    local s, last = 1, nil
    while true do
        local i = json:find(marker, s, true)
        if not i then break end
        last, s = i, i + 1
    end
    if not last then return "" end
    local raw = json:match('^(.-)"', last + #marker)
    if not raw then return "" end
    raw = raw:gsub("\\u([dD][89abAB]%x%x)\\u([dD][c-fC-F]%x%x)", function(hi, lo)
        return utf8_char(0x10000 + (tonumber(hi, 16) - 0xD800) * 0x400 + (tonumber(lo, 16) - 0xDC00))
    end)
    raw = raw:gsub("\\u(%x%x%x%x)", function(h) return utf8_char(tonumber(h, 16)) end)
    return (raw:gsub("\\(.)", function(c) return ESC[c] or c end))
end

-- validate(token, opts) -> result table, or nil and an error (store unreachable: "store").
-- opts: api, scopes (space-separated), jwt (true: also sign the response).
function _M.validate(self, token, opts)
    local R = self.R
    local c = self.caller[0]
    c.kind = CALLER_API
    c.name.ptr, c.name.len = opts.api, #opts.api
    c.scopes.ptr, c.scopes.len = opts.scopes, #opts.scopes
    local now = ngx.time()
    self.grant[0] = nil
    -- One call: the verdict and the response the validator keeps for a cached token.
    local st = R.reftoken_validator_check(self.validator, token, #token, self.caller, now, nil, self.grant,
        self.verdict, self.buf, self.buf_cap, self.len)
    if st == BUFFER_TOO_SMALL then
        self.buf_cap = tonumber(self.len[0]) + 1
        self.buf = ffi.new("char[?]", self.buf_cap)
        st = R.reftoken_validator_check(self.validator, token, #token, self.caller, now, nil, self.grant,
            self.verdict, self.buf, self.buf_cap, self.len)
    end
    local grant = self.grant[0]
    if st ~= OK then
        if grant ~= nil then R.reftoken_grant_free(grant) end
        if st == IO_ERROR then return nil, "store", self.store.err end
        if st == MALFORMED_INPUT then return { active = false, reason = 0 } end
        return nil, "internal", status_error(R, "validate", st)
    end
    local v = self.verdict[0]
    if not v.active or grant == nil then
        if grant ~= nil then R.reftoken_grant_free(grant) end
        return { active = false, reason = v.reason }
    end
    local res = {
        active = true,
        exp = tonumber(v.expiration),
        sub = v.subject.ptr ~= nil and C_str(v.subject.ptr, v.subject.len) or "",
        client_id = v.client_id.ptr ~= nil and C_str(v.client_id.ptr, v.client_id.len) or "",
    }
    R.reftoken_grant_free(grant)
    res.json = C_str(self.buf, self.len[0])
    res.scope = scope_of(res.json)
    if opts.jwt and self.jwt_key then
        local cap = 4096 + 2 * #res.json
        local out = ffi.new("char[?]", cap)
        st = R.reftoken_introspection_jwt(self.jwt_key, self.jwt_issuer, #self.jwt_issuer, opts.api, #opts.api, now,
            res.json, #res.json, out, cap, self.len)
        if st == OK then res.jwt = C_str(out, self.len[0]) end
    end
    return res
end
-- The lookup callback runs inside this call; LuaJIT must not compile a trace across it.
jit.off(_M.validate)

local function challenge(status, realm, err, desc, scope)
    local h = 'Bearer realm="' .. realm .. '"'
    if err then h = h .. ', error="' .. err .. '"' end
    if desc then h = h .. ', error_description="' .. desc .. '"' end
    if scope then h = h .. ', scope="' .. scope .. '"' end
    ngx.header["WWW-Authenticate"] = h
    return ngx.exit(status)
end

local VARS = {
    reftoken_subject = "sub", reftoken_client_id = "client_id", reftoken_scope = "scope",
    reftoken_expires = "exp", reftoken_introspection = "json", reftoken_jwt = "jwt",
}

local function set_var(var, value)
    ngx.var[var] = value
end

local function has_scope(list, want)
    for s in list:gmatch("[^ ]+") do
        if s == want then return true end
    end
    return false
end

-- During an outage every request fails the same way: a worker logs the first failure, then at
-- most one line per second with how many it left out (as the nginx module does).
local outage = { logged = false, last = 0, suppressed = 0 }
local function log_outage(detail)
    local now = ngx.now()
    if outage.logged and now - outage.last < 1 then
        outage.suppressed = outage.suppressed + 1
        return
    end
    if outage.suppressed > 0 then
        ngx.log(ngx.ERR, "reftoken: store unavailable: ", detail or "", " (and ", outage.suppressed,
            " more since the last line)")
    else
        ngx.log(ngx.ERR, "reftoken: store unavailable: ", detail or "")
    end
    outage.logged, outage.last, outage.suppressed = true, now, 0
end

-- access(opts): the access-phase check, answering as RFC 6750 says (401, 400, 403, 503) and
-- setting $reftoken_subject, $reftoken_client_id, $reftoken_scope, $reftoken_expires,
-- $reftoken_introspection and $reftoken_jwt where the configuration declares them (`set`).
-- opts: api, scopes, require (a list of scopes the location needs), realm ("api"), jwt.
-- Returns the result table when the token is accepted (also in ngx.ctx.reftoken).
function _M.access(self, opts)
    local realm = opts.realm or "api"
    -- One header's value, without building a table of all of them: nginx itself refuses a
    -- request with two Authorization headers (400) before any phase handler runs.
    local auth = ngx.var.http_authorization
    if not auth then return challenge(401, realm) end
    local scheme, rest = auth:match("^([Bb][Ee][Aa][Rr][Ee][Rr])(.*)$")
    if not scheme or (rest ~= "" and rest:sub(1, 1) ~= " ") then return challenge(401, realm) end
    local token, extra = rest:match("^ *([^ ]*) *(.-)$")
    if token == "" or extra ~= "" then
        return challenge(400, realm, "invalid_request", "The Authorization header is malformed")
    end
    if #token > MAX_TOKEN or not token:match("^[%w%-%._~%+/]+=*$") then
        return challenge(401, realm, "invalid_token", "The access token is malformed")
    end
    local res, kind, detail = self:validate(token, opts)
    if not res then
        if kind == "store" then
            log_outage(detail)
            return ngx.exit(503)
        end
        ngx.log(ngx.ERR, "reftoken: validation failed: ", detail or "")
        return ngx.exit(500)
    end
    if not res.active then
        return challenge(401, realm, "invalid_token", INACTIVE[res.reason] or "The access token is not active")
    end
    if opts.require then
        for _, want in ipairs(opts.require) do
            if not has_scope(res.scope, want) then
                return challenge(403, realm, "insufficient_scope", "The access token lacks a required scope",
                    table.concat(opts.require, " "))
            end
        end
    end
    ngx.ctx.reftoken = res
    for var, field in pairs(VARS) do
        local value = res[field]
        if value ~= nil then
            value = tostring(value)
            -- Header values cannot carry CR or LF; such a value is not forwarded.
            -- pcall: a variable the configuration does not declare cannot be set.
            if not value:find("[\r\n]") then pcall(set_var, var, value) end
        end
    end
    return res
end

return _M
