"""``RedisState``: the ``StateStore`` on Redis (or a Redis Cluster), for N stateless workers.

Needs the ``redis`` extra (``pip install 'omadm_codec[redis]'``): ``hiredis`` for the lean
client of ``_resp`` (one server), the ``redis`` package's asyncio client for a Redis Cluster
or TLS. Every change that must be atomic is one Lua script on the
keys of one hash tag, so it is one shard's single step on a cluster too:

- ``omadm:{T}:s:<token>``  a session: hash ``ver dev tier lock lock_until``, PEXPIRE ttl
- ``omadm:{T}:p:<token>``  its snapshot (a string, the same TTL), written by renaming
  ``omadm:{T}:p:<token>:<random>``, staged by the commit's pipeline
- ``omadm:{T}:d:<device>`` a device: hash ``seq owner`` and per entry ``c:<id>`` (command XML),
  ``m:<id>`` (JSON ``[key, repeatable, enqueued_at]``), ``s:<id>`` (state), ``t:<id>`` (its
  session's token), ``h:<id>`` (history, JSON lines), ``o:<id>`` (outcome JSON), ``r:<id>``
  (repeatable); ``k:<key>`` (ids of an idempotency key); ``f:<token>`` (ids in flight in that
  session)
- ``omadm:{T}:q:<device>`` the device's queued entry ids (a sorted set by id: a command put
  back goes back to its place)
- ``omadm:{A}:a:<user>``   an account: hash ``secret devices bound n:CLCRED n:SRVCRED``
- ``omadm:t:<kind>:<key>`` a throttle record (PEXPIRE: forgotten after its window)
- ``omadm:{A}:trust:<user>:<address>`` an (account, address) trusted after a success
- ``omadm:tier:<tier>``    live session tokens by expiry (the session caps count them)
- ``omadm:reap``           ``<token> <device>`` of sessions with commands in flight, by when
  to look at them again (a hint: ``reap`` checks each device atomically)

``T`` is ``device_tag(device)`` (the token ends with it), ``A`` ``account_tag(user)``. Lock
deadlines use the Redis server's clock (``TIME``), so workers' clocks need not agree; history
times are the workers' wall clocks. A connection error or a command slower than
``timeout`` seconds is ``StateUnavailable``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from ..security.nonces import LEVELS
from .state import (
    MAX_CLAIM,
    Account,
    AuthState,
    DeviceOwned,
    Entry,
    EntryState,
    NonceSwap,
    SessionBusy,
    SessionCommit,
    SessionConflict,
    SessionRecord,
    StartReads,
    StateStore,
    StateUnavailable,
    ThrottleRule,
    ThrottleState,
    account_tag,
    check_throttle_kind,
    device_tag,
    documented_by,
    nonce_from_json,
    nonce_to_json,
    session_ref,
    token_tag,
)

T = TypeVar("T")

_STAGED_MS = 60_000
"""How long a staged snapshot stays if its commit never runs (the connection dropped)."""

# A history line, built in Lua: [time, state, detail].
_LUA_HISTORY = """
local function hist(d, id, now, state, detail)
  local line = '[' .. now .. ',' .. cjson.encode(state) .. ',' .. cjson.encode(detail) .. ']'
  local old = redis.call('HGET', d, 'h:' .. id)
  if old then line = old .. '\\n' .. line end
  redis.call('HSET', d, 'h:' .. id, line)
end
local function server_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: session. ARGV: owner lock_ms. The snapshot is read by a GET after it, in the same
# pipeline: once the lock is taken nothing else changes it. ('snap': a session stored before the
# snapshot had its own key.)
_OPEN = _LUA_HISTORY + """
local v = redis.call('HMGET', KEYS[1], 'ver', 'dev', 'lock', 'lock_until', 'snap')
if not v[1] then return false end
local now = server_ms()
if v[3] and v[3] ~= ARGV[1] and tonumber(v[4]) > now then
  return {'busy', tostring(tonumber(v[4]) - now)}
end
redis.call('HSET', KEYS[1], 'lock', ARGV[1], 'lock_until', now + tonumber(ARGV[2]))
return {'ok', v[1], v[2], v[5] or ''}
"""

_RELEASE = """
if redis.call('HGET', KEYS[1], 'lock') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'lock', 'lock_until')
end
return 1
"""

# KEYS: session, device, queue, snapshot, staged snapshot. ARGV: token version owner has_snap
# (unused) ttl_ms device tier now nclaim ids... ncomplete (id outcome)... nrelease (id to
# reason)... The new snapshot was SET to the staged key just before, in the same pipeline: a
# commit that wins renames it, one that loses deletes it (its bytes never enter Lua, which
# hashes every byte of every string it makes).
# Every entry field it reads is read in one HMGET and every field it writes is written in one
# HSET (chunked): the rules run on Lua tables in the order claim, complete, release, exactly as
# one command per field would (a command claimed and answered in one commit is done).
_COMMIT = _LUA_HISTORY + """
local s, d, q = KEYS[1], KEYS[2], KEYS[3]
local token, version, owner = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local dev, tier, now = ARGV[7], ARGV[8], ARGV[9]
local function lost(reason)
  if ARGV[4] == '1' then redis.call('DEL', KEYS[5]) end
  return {'conflict', reason}
end
local ms = server_ms()
local cur = redis.call('HMGET', s, 'ver', 'dev', 'lock', 'lock_until')
if version == 0 then
  if cur[1] then return lost('exists') end
else
  if not cur[1] then return lost('gone') end
  if tonumber(cur[1]) ~= version then return lost('version') end
  if cur[3] ~= owner or tonumber(cur[4]) <= ms then return lost('lock') end
end
if cur[2] and cur[2] ~= dev then return lost('device') end
local CHUNK = 1000
local ci = 10
local nclaim = tonumber(ARGV[ci])
local ki = ci + nclaim + 1
local ncomplete = tonumber(ARGV[ki])
local ri = ki + 1 + 2 * ncomplete
local nrelease = tonumber(ARGV[ri])
-- every entry this commit touches, by its place i in ids, read at once: state and history,
-- the session it was sent in where a completion or release checks it, repeatable where a
-- release asks (arrays by place, not tables by id: fewer Lua table rehashes)
local ids, pos, need = {}, {}, {}
local function touch(id, level)
  local i = pos[id]
  if not i then
    i = #ids + 1
    ids[i], pos[id], need[i] = id, i, level
  elseif level > need[i] then
    need[i] = level
  end
end
for k = 1, nclaim do touch(ARGV[ci + k], 0) end
for k = 0, ncomplete - 1 do touch(ARGV[ki + 1 + 2 * k], 1) end
for k = 0, nrelease - 1 do touch(ARGV[ri + 1 + 3 * k], 2) end
local S, T, H, R = {}, {}, {}, {}
local a = 1
while a <= #ids do
  local fields, b = {}, a
  while b <= #ids and #fields < CHUNK do
    local id, n = ids[b], #fields
    fields[n + 1], fields[n + 2] = 's:' .. id, 'h:' .. id
    if need[b] >= 1 then fields[n + 3] = 't:' .. id end
    if need[b] == 2 then fields[n + 4] = 'r:' .. id end
    b = b + 1
  end
  local got = redis.call('HMGET', d, unpack(fields))
  local o = 1
  for i = a, b - 1 do
    S[i], H[i] = got[o], got[o + 1]
    o = o + 2
    if need[i] >= 1 then T[i] = got[o]; o = o + 1 end
    if need[i] == 2 then R[i] = got[o]; o = o + 1 end
  end
  a = b
end
for k = 1, nclaim do
  if S[pos[ARGV[ci + k]]] ~= 'queued' then return lost('claimed') end
end
if ARGV[4] == '1' then
  redis.call('RENAME', KEYS[5], KEYS[4])  -- first write: if it fails, nothing changed
  redis.call('HSET', s, 'ver', version + 1, 'dev', dev, 'tier', tier)
  redis.call('HDEL', s, 'lock', 'lock_until', 'snap')
  redis.call('PEXPIRE', s, ARGV[6])
  redis.call('PEXPIRE', KEYS[4], ARGV[6])
else
  redis.call('DEL', s, KEYS[4])
end
local out = {}  -- field, value, ... for the one HSET at the end
local dirty, sent = {}, {}
local lines = {}  -- each history line once per commit: by state, then detail
local function hist_line(i, state, detail)
  local of = lines[state]
  if not of then of = {}; lines[state] = of end
  local line = of[detail]
  if not line then
    line = '[' .. now .. ',' .. cjson.encode(state) .. ',' .. cjson.encode(detail) .. ']'
    of[detail] = line
  end
  local h = H[i]
  if h then H[i] = h .. '\\n' .. line else H[i] = line end
  dirty[i] = true
end
local fkey = 'f:' .. token
local inflight = {}
local old = redis.call('HGET', d, fkey)
if old then for id in string.gmatch(old, '%S+') do inflight[id] = true end end
if nclaim > 0 then
  local ref = string.sub(redis.sha1hex(token), 1, 12)
  for k = 1, nclaim do
    local id = ARGV[ci + k]
    local i = pos[id]
    S[i], T[i] = 'sent', token
    sent[i] = true
    hist_line(i, 'sent', ref)
    inflight[id] = true
  end
  for a = ci + 1, ci + nclaim, CHUNK do
    redis.call('ZREM', q, unpack(ARGV, a, math.min(a + CHUNK - 1, ci + nclaim)))
  end
end
for k = 0, ncomplete - 1 do
  local id, outcome = ARGV[ki + 1 + 2 * k], ARGV[ki + 2 + 2 * k]
  local i = pos[id]
  if S[i] == 'sent' and T[i] == token then
    S[i] = 'done'
    local n = #out
    out[n + 1], out[n + 2] = 'o:' .. id, outcome
    -- as state.outcome_detail: the refusal, else the status, off the front of the JSON
    local detail = ''
    local status, rest = string.match(outcome, '^{"status":(%-?%d+)()')
    if status then
      detail = string.match(outcome, '^,"refused":"([^"\\\\]*)"', rest) or status
    end
    hist_line(i, 'done', detail)
    inflight[id] = nil
  end
end
for k = 0, nrelease - 1 do
  local id, to, reason = ARGV[ri + 1 + 3 * k], ARGV[ri + 2 + 3 * k], ARGV[ri + 3 + 3 * k]
  local i = pos[id]
  if S[i] == 'sent' and T[i] == token then
    if R[i] then to = 'queued' end
    S[i] = to
    if to == 'queued' then redis.call('ZADD', q, tonumber(id), id) end
    hist_line(i, to, reason)
    inflight[id] = nil
  end
end
for i = 1, #ids do
  if dirty[i] then
    local id, n = ids[i], #out
    out[n + 1], out[n + 2], out[n + 3], out[n + 4] = 's:' .. id, S[i], 'h:' .. id, H[i]
    -- the session changes only when claimed (a completion or release keeps it)
    if sent[i] then out[n + 5], out[n + 6] = 't:' .. id, token end
  end
end
if #out > 0 then
  for a = 1, #out, CHUNK do
    redis.call('HSET', d, unpack(out, a, math.min(a + CHUNK - 1, #out)))
  end
end
local left = {}
for id, _ in pairs(inflight) do table.insert(left, id) end
if #left > 0 then
  redis.call('HSET', d, fkey, table.concat(left, ' '))
else
  redis.call('HDEL', d, fkey)
end
return {'ok', tostring(#left)}
"""

# KEYS: device, queue. ARGV: key meta repeatable now n commands...
_ENQUEUE = _LUA_HISTORY + """
local d, q = KEYS[1], KEYS[2]
if ARGV[1] ~= '' then
  local known = redis.call('HGET', d, 'k:' .. ARGV[1])
  if known then return cjson.decode(known) end
end
local ids = {}
for k = 1, tonumber(ARGV[5]) do
  local id = tostring(redis.call('HINCRBY', d, 'seq', 1))
  redis.call('HSET', d, 'c:' .. id, ARGV[5 + k], 'm:' .. id, ARGV[2], 's:' .. id, 'queued')
  if ARGV[3] == '1' then redis.call('HSET', d, 'r:' .. id, '1') end
  redis.call('ZADD', q, tonumber(id), id)
  hist(d, id, ARGV[4], 'queued', ARGV[1])
  table.insert(ids, id)
end
if ARGV[1] ~= '' then redis.call('HSET', d, 'k:' .. ARGV[1], cjson.encode(ids)) end
return ids
"""

_QUEUED = """
local ids = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', KEYS[1], 'c:' .. id, 'm:' .. id, 'h:' .. id)
  table.insert(out, id)
  table.insert(out, v[1] or '')
  table.insert(out, v[2] or '[null,false,0]')
  table.insert(out, v[3] or '')
end
return out
"""

_CLAIMABLE = """
local ids = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1)
if #ids == 0 then return {} end
local out = {}
for a = 1, #ids, 1000 do  -- (unpack's stack limit)
  local fields = {}
  for k = a, math.min(a + 999, #ids) do table.insert(fields, 'c:' .. ids[k]) end
  local got = redis.call('HMGET', KEYS[1], unpack(fields))
  for k = a, math.min(a + 999, #ids) do
    out[2 * k - 1], out[2 * k] = ids[k], got[k - a + 1] or ''
  end
end
return out
"""

_FORGET = """
local n = 0
for k = 1, #ARGV do
  local id = ARGV[k]
  local st = redis.call('HGET', KEYS[1], 's:' .. id)
  if st == 'done' or st == 'unknown' then
    redis.call('HDEL', KEYS[1], 'c:' .. id, 'm:' .. id, 's:' .. id, 't:' .. id, 'h:' .. id,
               'o:' .. id, 'r:' .. id)
    n = n + 1
  end
end
return n
"""

# KEYS: session, device, queue. ARGV: token now. -> {'alive', pttl} | {'reaped', n}
_REAP = _LUA_HISTORY + """
local pttl = redis.call('PTTL', KEYS[1])
if pttl > 0 then return {'alive', tostring(pttl)} end
local fkey = 'f:' .. ARGV[1]
local ids = redis.call('HGET', KEYS[2], fkey)
local n = 0
if ids then
  for id in string.gmatch(ids, '%S+') do
    if redis.call('HGET', KEYS[2], 's:' .. id) == 'sent'
        and redis.call('HGET', KEYS[2], 't:' .. id) == ARGV[1] then
      local to = 'unknown'
      if redis.call('HEXISTS', KEYS[2], 'r:' .. id) == 1 then
        to = 'queued'
        redis.call('ZADD', KEYS[3], tonumber(id), id)
      end
      redis.call('HSET', KEYS[2], 's:' .. id, to)
      hist(KEYS[2], id, ARGV[2], to, 'session_expired')
      n = n + 1
    end
  end
  redis.call('HDEL', KEYS[2], fkey)
end
return {'reaped', tostring(n)}
"""

# KEYS: account. ARGV: (level expected new)... ('' = none)
_SWAP = """
for k = 1, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[1], 'n:' .. ARGV[k]) or ''
  if cur ~= ARGV[k + 1] then return 0 end
end
for k = 1, #ARGV, 3 do
  if ARGV[k + 2] == '' then redis.call('HDEL', KEYS[1], 'n:' .. ARGV[k])
  else redis.call('HSET', KEYS[1], 'n:' .. ARGV[k], ARGV[k + 2]) end
end
return 1
"""

# KEYS: device. ARGV: user. Claims the DevId for user; returns the other owner or ''.
_OWN = """
local cur = redis.call('HGET', KEYS[1], 'owner')
if cur and cur ~= ARGV[1] then return cur end
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
if cur then return '=' end
return ''
"""

# KEYS: account. ARGV: device. Binds the device to an account created without devices;
# returns 'new' (bound now), 'same' (already its device), 'fixed:<json>' (the account has a set)
# or 'no' (no such account, or bound to another device).
_BIND = """
local f = redis.call('HMGET', KEYS[1], 'secret', 'devices', 'bound')
if not f[1] then return 'no' end
if f[2] and f[2] ~= '*' then return 'fixed:' .. f[2] end
if f[3] then
  if f[3] == ARGV[1] then return 'same' end
  return 'no'
end
redis.call('HSET', KEYS[1], 'bound', ARGV[1])
return 'new'
"""

# KEYS: account. ARGV: device. Undoes a binding of _BIND (the device was another's).
_UNBIND = """
if redis.call('HGET', KEYS[1], 'bound') == ARGV[1] then redis.call('HDEL', KEYS[1], 'bound') end
return 1
"""

_DISOWN = """
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then redis.call('HDEL', KEYS[1], 'owner') end
return 1
"""

# KEYS: record. ARGV: now window free_failures base_lock max_lock (as ThrottleRule)
_THROTTLE = """
local now, window, free = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local base, max_lock = tonumber(ARGV[4]), tonumber(ARGV[5])
local v = redis.call('HMGET', KEYS[1], 'failures', 'last', 'locked')
local failures, locked = 0, 0
if v[1] and now < math.max(tonumber(v[2]) + window, tonumber(v[3])) then
  failures, locked = tonumber(v[1]), tonumber(v[3])
end
failures = failures + 1
local over = failures - free
if over > 0 then
  locked = math.max(locked, now + math.min(base * 2 ^ math.min(over - 1, 64), max_lock))
end
local l, n = string.format('%.6f', locked), string.format('%.6f', now)
redis.call('HSET', KEYS[1], 'failures', failures, 'last', n, 'locked', l)
-- Forgotten with its window (never before its lock ends), as MemoryState forgets it.
local keep = math.max(window, locked - now)
redis.call('PEXPIRE', KEYS[1], math.ceil(keep * 1000))
return {tostring(failures), n, l}
"""


def _session_keys(token: str) -> tuple[str, str]:
    """The session's hash and its snapshot (a string beside it: same tag, same TTL)."""
    tag = token_tag(token)
    if tag is None:
        raise ValueError("not a session token of this store")
    return f"omadm:{{{tag}}}:s:{token}", f"omadm:{{{tag}}}:p:{token}"


def _session_key(token: str) -> str:
    return _session_keys(token)[0]


_DEVICE_KEYS: dict[str, tuple[str, str]] = {}


def _device_keys(device_id: str) -> tuple[str, str]:
    keys = _DEVICE_KEYS.get(device_id)
    if keys is None:
        if len(_DEVICE_KEYS) >= 4096:  # (a cache of the SHA-256 tags, bounded)
            _DEVICE_KEYS.clear()
        tag = device_tag(device_id)
        keys = _DEVICE_KEYS[device_id] = (f"omadm:{{{tag}}}:d:{device_id}",
                                          f"omadm:{{{tag}}}:q:{device_id}")
    return keys


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class _RedisPy:
    """The ``redis`` package's client (a Redis Cluster, or TLS) behind the two calls
    ``RedisState`` makes; replies raw, errors as instances in pipelines."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def execute_command(self, *args: Any) -> Any:
        return await self.client.execute_command(*args)

    async def execute_many(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        async with self.client.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            return list(await pipe.execute(raise_on_error=False))

    async def aclose(self) -> None:
        await self.client.aclose()


def _unavailable() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [ConnectionError, TimeoutError, OSError,
                                        asyncio.TimeoutError]
    try:
        import redis.exceptions as rex
    except ImportError:  # pragma: no cover - the lean client needs only hiredis
        return tuple(kinds)
    return (*kinds, rex.ConnectionError, rex.TimeoutError, rex.BusyLoadingError,
            rex.ClusterDownError, rex.TryAgainError)


def _pairs(reply: Any) -> dict[str, str]:
    """HGETALL as text (a dict from the redis package, a flat list from the lean client)."""
    items = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2],
                                                                strict=True)
    return {_text(k): _text(v) for k, v in items}


@documented_by(StateStore)
class RedisState:
    """The ``StateStore`` on Redis. ``client`` has ``execute_command(*args)``,
    ``execute_many([args, ...])`` and ``aclose()`` (the lean ``RespClient``, or the
    ``redis`` package's client wrapped); ``from_url`` builds the right one."""

    local = False

    def __init__(self, client: Any, *, timeout: float = 2.0) -> None:
        self.client = client
        self.timeout = timeout
        self._scripts = {name: (text, hashlib.sha1(text.encode("utf-8")).hexdigest())
                         for name, text in (
            ("open", _OPEN), ("release", _RELEASE), ("commit", _COMMIT),
            ("enqueue", _ENQUEUE), ("queued", _QUEUED), ("claimable", _CLAIMABLE),
            ("forget", _FORGET), ("reap", _REAP), ("swap", _SWAP), ("own", _OWN),
            ("bind", _BIND), ("unbind", _UNBIND),
            ("disown", _DISOWN), ("throttle", _THROTTLE))}
        self._down = _unavailable()
        # Staged snapshot names: unique per commit, per process (no random bytes per commit).
        self._stage_prefix = secrets.token_hex(4)
        self._staged = 0

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 2.0, **options: Any) -> RedisState:
        """``redis://[user:password@]HOST:PORT/DB`` or ``unix:///PATH?db=N`` (the lean
        client, ``hiredis``), ``rediss://`` (TLS) or ``redis+cluster://HOST:PORT`` (a Redis
        Cluster, any node as the seed; both through the ``redis`` package)."""
        try:
            if url.startswith(("redis://", "unix://")) and not options:
                import hiredis  # noqa: F401

                from ._resp import RespClient

                return cls(RespClient(url, timeout=timeout), timeout=timeout)
            import redis.asyncio as aioredis
        except ImportError as exc:  # said plainly to the operator
            raise StateUnavailable(
                "the Redis store needs the redis extra: pip install 'omadm_codec[redis]'"
            ) from exc
        common = dict(socket_timeout=timeout, socket_connect_timeout=timeout, **options)
        if url.startswith("redis+cluster://"):
            from redis.asyncio.cluster import RedisCluster

            client: Any = RedisCluster.from_url("redis://" + url[len("redis+cluster://"):],
                                                **common)
        else:
            client = aioredis.Redis.from_url(url, **common)
        return cls(_RedisPy(client), timeout=timeout)

    async def _run(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except self._down as exc:
            raise StateUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            text = str(exc)
            if text.startswith(("OOM", "READONLY", "MASTERDOWN", "LOADING", "CLUSTERDOWN",
                                "TRYAGAIN")):
                raise StateUnavailable(f"redis: {exc}") from exc
            raise

    async def _command(self, *args: Any) -> Any:
        return await self._run(self.client.execute_command(*args))

    async def _load_scripts(self) -> None:
        """Load every script on every primary (after NOSCRIPT: a new or restarted server,
        or a cluster node that never saw them)."""
        inner: Any = getattr(self.client, "client", None)
        nodes = inner.get_primaries() if hasattr(inner, "get_primaries") else [None]
        for text, _ in self._scripts.values():
            for node in nodes:
                if node is None:
                    await self._command("SCRIPT", "LOAD", text)
                else:
                    await self._run(inner.execute_command("SCRIPT LOAD", text,
                                                          target_nodes=node))

    @staticmethod
    def _no_script(reply: Any) -> bool:
        # The lean client keeps Redis's error code; the redis package turns it into a class.
        return isinstance(reply, Exception) and (
            str(reply).startswith("NOSCRIPT") or type(reply).__name__ == "NoScriptError")

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        _, sha = self._scripts[name]
        command = ("EVALSHA", sha, len(keys), *keys, *args)
        try:
            reply = await self._command(*command)
        except Exception as exc:
            if not self._no_script(exc):
                raise
            await self._load_scripts()
            reply = await self._command(*command)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def _many(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """A pipeline; a NOSCRIPT among its replies loads the scripts and runs it all
        again (a script that is not loaded did not run; the other commands are hints, reads
        or a staged snapshot, which may run twice)."""
        replies: list[Any] = await self._run(self.client.execute_many(commands))
        for reply in replies:
            if isinstance(reply, Exception):
                break
        else:
            return replies
        if any(self._no_script(r) for r in replies):
            await self._load_scripts()
            replies = await self._run(self.client.execute_many(commands))
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    # -- sessions ------------------------------------------------------------------------------

    async def session_open(self, token: str, owner: str, lock_ms: int) -> SessionRecord | None:
        if token_tag(token) is None:
            return None
        session, snapshot_key = _session_keys(token)
        got, snapshot = await self._many([
            ("EVALSHA", self._scripts["open"][1], 1, session, owner, lock_ms),
            ("GET", snapshot_key)])
        if not got:
            return None
        if _text(got[0]) == "busy":
            raise SessionBusy(token, int(got[1]) / 1000)
        if got[3]:
            snapshot = got[3]  # stored before the snapshot had its own key
        if snapshot is None:
            return None  # expired (or evicted) a moment before; the lock lapses with it
        return SessionRecord(bytes(snapshot), int(got[1]), _text(got[2]), owner)

    async def session_release(self, token: str, owner: str) -> None:
        if token_tag(token) is not None:
            await self._script("release", [_session_key(token)], [owner])

    async def session_commit(self, token: str, commit: SessionCommit) -> None:
        device, queue = _device_keys(commit.device_id)
        tag = token_tag(token)
        if tag is None or not device.startswith(f"omadm:{{{tag}}}:"):
            raise ValueError("the token does not belong to this device")
        ttl_ms = max(1, int(commit.ttl * 1000))
        args: list[Any] = [
            token, commit.version, commit.owner, "1" if commit.snapshot is not None else "0",
            "", ttl_ms, commit.device_id, commit.tier or "", repr(float(commit.now)),
            len(commit.claim), *commit.claim, len(commit.complete)]
        for entry_id, outcome in commit.complete:
            args += [entry_id, outcome]
        args.append(len(commit.release))
        for release in commit.release:
            args += [release.entry_id, release.to, release.reason]
        session = f"omadm:{{{tag}}}:s:{token}"
        snapshot = f"omadm:{{{tag}}}:p:{token}"
        self._staged += 1
        staged = f"{snapshot}:{self._stage_prefix}{self._staged}"
        keys = [session, device, queue, snapshot, staged]
        expires_ms = int((commit.now + commit.ttl) * 1000)
        commands: list[tuple[Any, ...]] = []
        if commit.snapshot is not None:
            # Renamed by the commit if it wins, deleted if it loses; PX: if it never runs.
            commands.append(("SET", staged, commit.snapshot, "PX", _STAGED_MS))
        if commit.claim:
            # Before the commit: a hint for ``reap`` that costs nothing if it loses.
            commands.append(("ZADD", "omadm:reap", expires_ms, f"{token} {commit.device_id}"))
        at = len(commands)
        commands.append(("EVALSHA", self._scripts["commit"][1], len(keys), *keys, *args))
        if commit.tier is not None:
            for tier in ("preauth", "auth"):
                if tier == commit.tier and commit.snapshot is not None:
                    commands.append(("ZADD", f"omadm:tier:{tier}", expires_ms, token))
                else:
                    commands.append(("ZREM", f"omadm:tier:{tier}", token))
        got = (await self._many(commands))[at]
        if _text(got[0]) == "conflict":
            raise SessionConflict(_text(got[1]))

    @staticmethod
    def _count_commands(tier: str) -> list[tuple[Any, ...]]:
        """Forget the tier's expired sessions, then count the rest (two replies)."""
        import time

        key = f"omadm:tier:{tier}"
        return [("ZREMRANGEBYSCORE", key, "-inf", int(time.time() * 1000)), ("ZCARD", key)]

    async def session_count(self, tier: str) -> int:
        _, count = await self._many(self._count_commands(tier))
        return int(count)

    async def start_reads(self, username: str, device_id: str,
                          tiers: Sequence[str] = ()) -> StartReads:
        device, queue = _device_keys(device_id)
        commands: list[tuple[Any, ...]] = [
            ("HGETALL", self._account_key(username)),
            ("EVALSHA", self._scripts["claimable"][1], 2, device, queue, MAX_CLAIM)]
        for tier in tiers:
            commands += self._count_commands(tier)
        replies = await self._many(commands)
        flat = replies[1]
        return StartReads(
            self._auth_from(username, replies[0]),
            [(_text(flat[k]), _text(flat[k + 1])) for k in range(0, len(flat), 2)],
            {tier: int(replies[3 + 2 * n]) for n, tier in enumerate(tiers)})

    async def session_evict(self, tier: str) -> str | None:
        """Drop the live session of ``tier`` whose TTL ends first (``StateStore``): the
        tier's sorted set is scored by expiry, so that is its first member."""
        import time

        key = f"omadm:tier:{tier}"
        _, popped = await self._many([("ZREMRANGEBYSCORE", key, "-inf",
                                       int(time.time() * 1000)), ("ZPOPMIN", key)])
        if not popped:
            return None
        first = popped[0]  # [member, score] (RESP), or [(member, score)] (redis-py)
        token = _text(first[0] if isinstance(first, (tuple, list)) else first)
        if token_tag(token) is not None:
            # Its own slot (a cluster): a request of it in flight then loses its commit.
            await self._many([("DEL", *_session_keys(token))])
        return token

    # -- device queues --------------------------------------------------------------------------

    async def enqueue(self, device_id: str, commands: Sequence[str], *, key: str | None = None,
                      repeatable: bool = False, now: float) -> list[str]:
        device, queue = _device_keys(device_id)
        meta = json.dumps([key, repeatable, now], separators=(",", ":"))
        got = await self._script("enqueue", [device, queue], [
            key or "", meta, "1" if repeatable else "0", repr(float(now)), len(commands),
            *commands])
        return [_text(x) for x in got]

    @staticmethod
    def _history(text: str) -> tuple[tuple[float, str, str], ...]:
        out = []
        for line in text.split("\n") if text else ():
            when, state, detail = json.loads(line)
            out.append((float(when), str(state), str(detail)))
        return tuple(out)

    async def queued(self, device_id: str, limit: int = MAX_CLAIM) -> list[Entry]:
        device, queue = _device_keys(device_id)
        flat = await self._script("queued", [device, queue], [limit])
        out = []
        for k in range(0, len(flat), 4):
            entry_id, command, meta, history = (_text(x) for x in flat[k:k + 4])
            key, repeatable, enqueued = json.loads(meta)
            out.append(Entry(entry_id, device_id, command, "queued", None, key,
                             bool(repeatable), float(enqueued), self._history(history), None))
        return out

    async def claimable(self, device_id: str, limit: int = MAX_CLAIM) -> list[tuple[str, str]]:
        device, queue = _device_keys(device_id)
        flat = await self._script("claimable", [device, queue], [limit])
        return [(_text(flat[k]), _text(flat[k + 1])) for k in range(0, len(flat), 2)]

    async def entries(self, device_id: str) -> list[Entry]:
        device, _ = _device_keys(device_id)
        fields = _pairs(await self._command("HGETALL", device))
        ids = sorted((k[2:] for k in fields if k.startswith("c:")), key=int)
        out = []
        for entry_id in ids:
            key, repeatable, enqueued = json.loads(fields.get(f"m:{entry_id}",
                                                              "[null,false,0]"))
            state = fields.get(f"s:{entry_id}", "queued")
            outcome = fields.get(f"o:{entry_id}")
            out.append(Entry(entry_id, device_id, fields[f"c:{entry_id}"],
                             state if state in ("queued", "sent", "done", "unknown")
                             else "unknown",  # type: ignore[arg-type]
                             session_ref(fields.get(f"t:{entry_id}")), key, bool(repeatable),
                             float(enqueued), self._history(fields.get(f"h:{entry_id}", "")),
                             None if outcome is None else json.loads(outcome)))
        return out

    async def forget(self, device_id: str, entry_ids: Sequence[str]) -> int:
        if not entry_ids:
            return 0
        device, _ = _device_keys(device_id)
        return int(await self._script("forget", [device], list(entry_ids)))

    async def reap(self, now: float, limit: int = 256) -> int:
        due = await self._command("ZRANGEBYSCORE", "omadm:reap", "-inf", int(now * 1000),
                                  "LIMIT", 0, limit)
        changed = 0
        for raw in due:
            member = _text(raw)
            token, _, device_id = member.partition(" ")
            if token_tag(token) is None or token_tag(token) != device_tag(device_id):
                await self._command("ZREM", "omadm:reap", member)
                continue
            device, queue = _device_keys(device_id)
            got = await self._script("reap", [_session_key(token), device, queue],
                                     [token, repr(float(now))])
            if _text(got[0]) == "alive":
                again = int(now * 1000) + int(got[1])
                await self._command("ZADD", "omadm:reap", again, member)
            else:
                changed += int(got[1])
                await self._command("ZREM", "omadm:reap", member)
        return changed

    # -- nonces and accounts --------------------------------------------------------------------

    @staticmethod
    def _account_key(username: str) -> str:
        return f"omadm:{{{account_tag(username)}}}:a:{username}"

    async def load_auth(self, username: str) -> AuthState:
        return self._auth_from(username,
                               await self._command("HGETALL", self._account_key(username)))

    @staticmethod
    def _auth_from(username: str, reply: Any) -> AuthState:
        """The ``AuthState`` of an account hash's HGETALL reply."""
        fields = _pairs(reply)
        nonces = {}
        for level in LEVELS:
            slot = nonce_from_json(fields.get(f"n:{level}"))
            if slot is not None:
                nonces[level] = slot
        account = None
        if "secret" in fields:
            devices = fields.get("devices", "*")
            account = Account(username, fields["secret"],
                              None if devices == "*" else frozenset(json.loads(devices)))
        return AuthState(account, nonces)

    async def swap_nonces(self, username: str, swaps: Sequence[NonceSwap]) -> bool:
        args: list[str] = []
        for swap in swaps:
            if swap.level not in LEVELS:
                raise ValueError(f"level must be one of {LEVELS}")
            args += [swap.level, nonce_to_json(swap.expected) or "",
                     nonce_to_json(swap.new) or ""]
        return bool(await self._script("swap", [self._account_key(username)], args))

    async def put_account(self, account: Account) -> None:
        # Cross-shard: claim each DevId first (undone on a refusal), then write the account.
        claimed: list[str] = []
        for device_id in sorted(account.devices or ()):
            got = _text(await self._script("own", [_device_keys(device_id)[0]],
                                           [account.username]))
            if got not in ("", "="):
                for undo in claimed:
                    await self._script("disown", [_device_keys(undo)[0]], [account.username])
                raise DeviceOwned(device_id, got)
            if got == "":
                claimed.append(device_id)
        old = await self.load_auth(account.username)
        if old.account is not None:
            for device_id in (old.account.devices or ()):
                if device_id not in (account.devices or ()):
                    await self._script("disown", [_device_keys(device_id)[0]],
                                       [account.username])
        key = self._account_key(account.username)
        if account.devices is not None:
            # A fixed set replaces the binding of an account created without one.
            bound = await self._command("HGET", key, "bound")
            if bound is not None:
                await self._command("HDEL", key, "bound")
                if _text(bound) not in account.devices:
                    await self._script("disown", [_device_keys(_text(bound))[0]],
                                       [account.username])
        devices = "*" if account.devices is None else json.dumps(sorted(account.devices))
        await self._command("HSET", key, "secret", account.secret, "devices", devices)

    async def delete_account(self, username: str) -> None:
        old = await self.load_auth(username)
        if old.account is not None:
            for device_id in (old.account.devices or ()):
                await self._script("disown", [_device_keys(device_id)[0]], [username])
        bound = await self._command("HGET", self._account_key(username), "bound")
        if bound is not None:
            await self._script("disown", [_device_keys(_text(bound))[0]], [username])
        await self._command("DEL", self._account_key(username))

    async def device_owner(self, device_id: str) -> str | None:
        got = await self._command("HGET", _device_keys(device_id)[0], "owner")
        return None if got is None else _text(got)

    async def claim_device(self, username: str, device_id: str) -> bool:
        # Cross-shard: bind on the account first, then own the device (the account's
        # binding undone if the device is another's).
        key = self._account_key(username)
        got = _text(await self._script("bind", [key], [device_id]))
        if got.startswith("fixed:"):
            return device_id in json.loads(got[len("fixed:"):])
        if got == "no":
            return False
        owner = _text(await self._script("own", [_device_keys(device_id)[0]], [username]))
        if owner in ("", "="):
            return True
        if got == "new":
            await self._script("unbind", [key], [device_id])
        return False

    # -- throttling ----------------------------------------------------------------------------

    @staticmethod
    def _throttle_key(kind: str, key: str) -> str:
        check_throttle_kind(kind)
        return f"omadm:t:{kind}:{key}"

    async def throttle_fail(self, kind: str, key: str, now: float,
                            rule: ThrottleRule) -> ThrottleState:
        got = await self._script("throttle", [self._throttle_key(kind, key)], [
            repr(float(now)), repr(float(rule.window)), rule.free_failures,
            repr(float(rule.base_lock)), repr(float(rule.max_lock))])
        return ThrottleState(int(got[0]), float(got[1]), float(got[2]))

    @staticmethod
    def _throttle_state(got: list[Any]) -> ThrottleState | None:
        if got[0] is None:
            return None
        return ThrottleState(int(got[0]), float(got[1]), float(got[2]))

    async def throttle_get(self, kind: str, key: str) -> ThrottleState | None:
        return self._throttle_state(await self._command(
            "HMGET", self._throttle_key(kind, key), "failures", "last", "locked"))

    async def throttle_reads(self, keys: Sequence[tuple[str, str]],
                             pair: tuple[str, str] | None = None
                             ) -> tuple[list[ThrottleState | None], float]:
        commands: list[tuple[Any, ...]] = [
            ("HMGET", self._throttle_key(kind, key), "failures", "last", "locked")
            for kind, key in keys]
        if pair is not None:
            commands.append(("GET", self._trust_key(*pair)))
        replies = await self._many(commands) if commands else []
        records = [self._throttle_state(got) for got in replies[:len(keys)]]
        trusted = replies[-1] if pair is not None else None
        return records, 0.0 if trusted is None else float(trusted)

    async def throttle_clear(self, kind: str, key: str) -> None:
        await self._command("DEL", self._throttle_key(kind, key))

    async def throttle_trust(self, account: str, address: str, until: float) -> None:
        import time

        ttl_ms = int((until - time.time()) * 1000)
        key = self._trust_key(account, address)
        if ttl_ms > 0:
            await self._command("SET", key, repr(float(until)), "PX", ttl_ms)
        else:
            await self._command("DEL", key)

    async def throttle_trusted_until(self, account: str, address: str) -> float:
        got = await self._command("GET", self._trust_key(account, address))
        return 0.0 if got is None else float(got)

    @staticmethod
    def _trust_key(account: str, address: str) -> str:
        return f"omadm:{{{account_tag(account)}}}:trust:{account}:{address}"

    async def close(self) -> None:
        await self.client.aclose()


__all__ = ["RedisState"]

_ = EntryState  # re-exported type used in annotations of entries()
