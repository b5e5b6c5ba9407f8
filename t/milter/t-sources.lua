-- SPDX-License-Identifier: BSD-2-Clause
-- t-sources: mail that is not ours to judge, and the label sources of the
-- mail path. A message scored but not learned is kept; a reply to it
-- from a local network makes it a ham example (in Redis); authenticated
-- and local mail gets no header and no example; a client of
-- skip_networks passes unjudged, forged copies of our header removed; a
-- message only for spam traps is learned as spam, one also for a person
-- is not.
-- redis: yes
-- ini: [milter]
-- ini: skip_networks = 198.51.100.0/24
-- ini: [learn]
-- ini: local_networks = 203.0.113.0/24, 2001:db8:1::/48
-- ini: spamtrap_recipients = trap@example.net, @traps.example.org
local t = dofile("lib.lua")

local SA_UNSURE = "No, score=1.0 required=5.0 tests=FREEMAIL_FROM,\n" ..
  "\tHTML_MESSAGE autolearn=no version=4.0.1"

local function redis(cmd)
  local f = io.popen("redis-cli -s " .. os.getenv("NM_REDIS_SOCK") .. " " ..
                     cmd .. " 2>&1")
  local v = f:read("*l")
  f:close()
  return v
end

-- wait until redis(cmd) says want (the writer gathers for 100 ms)
local function wait_for(cmd, want)
  for _ = 1, 100 do
    if redis(cmd) == want then return true end
    os.execute("sleep 0.1")
  end
  return false
end

-- one message from ip to rcpts with headers; auth: the {auth_authen}
local function send(ip, rcpts, headers, auth, qid)
  local conn = mt.connect(os.getenv("NM_SOCKET"), 40, 0.25)
  assert(conn, "mt.connect failed")
  assert(mt.conninfo(conn, "client.example.org", ip) == nil, "conninfo")
  mt.macro(conn, SMFIC_MAIL, "i", qid, "{auth_authen}", auth or "")
  assert(mt.mailfrom(conn, "sender@example.org") == nil, "mailfrom failed")
  if not mt.test_option(conn, SMFIP_NORCPT) then
    for _, r in ipairs(rcpts) do
      assert(mt.rcptto(conn, r) == nil, "rcptto failed")
    end
  end
  return conn, t.finish(conn, headers, qid)
end

local function added(conn)
  return mt.eom_check(conn, MT_HDRADD, "X-Neural-Result")
end

t.run(13, function()
  local conn, reply = send("192.0.2.10", { "user@example.net" }, {
    { "X-Spam-Status", SA_UNSURE },
    { "Message-ID", "<orig-1@example.org>" },
  }, nil, "SRCQ1")
  t.ok(t.accepted(reply) and mt.eom_check(conn, MT_HDRADD, "X-Neural-Result",
    "+0.00; p=none; model=none; upstream=spamassassin; score=1.00; learn=none"),
    "an unsure message is scored, not learned")
  mt.disconnect(conn)
  t.ok(wait_for("zcard nmtest:replies:exp", "1"),
    "... and kept for a reply to name it")

  conn, reply = send("203.0.113.5", { "friend@example.com" }, {
    { "X-Spam-Status", SA_UNSURE },
    { "Message-ID", "<reply-1@example.net>" },
    { "In-Reply-To", "<orig-1@example.org>" },
  }, nil, "SRCQ2")
  t.ok(t.accepted(reply) and not added(conn),
    "a reply from local_networks passes unjudged: no header")
  mt.disconnect(conn)
  t.ok(wait_for("llen nmtest:ex:ham", "1"),
    "the message it replies to is a ham example now")
  t.ok(redis("zcard nmtest:replies:exp") == "0", "... and no longer kept")

  conn, reply = send("192.0.2.10", { "friend@example.com" }, {
    { "X-Spam-Status", SA_UNSURE },
    { "References", "<a@b> <orig-1@example.org>" },
  }, "alice", "SRCQ3")
  t.ok(t.accepted(reply) and not added(conn),
    "authenticated mail (skip_authenticated) gets no header")
  mt.disconnect(conn)

  conn, reply = send("198.51.100.7", { "user@example.net" }, {
    { "X-Neural-Result", "-9.99; forged" },
    { "X-Spam-Status", t.SA },
  }, nil, "SRCQ4")
  t.ok(t.accepted(reply) and not added(conn),
    "a client of skip_networks: no header added")
  t.ok(mt.eom_check(conn, MT_HDRDELETE, "X-Neural-Result"),
    "... and the forged copy of ours removed")
  mt.disconnect(conn)

  conn, reply = send("192.0.2.10", { "trap@example.net", "x@traps.example.org" }, {
    { "X-Spam-Status", SA_UNSURE },
    { "Message-ID", "<trap-1@example.org>" },
  }, nil, "SRCQ5")
  t.ok(mt.eom_check(conn, MT_HDRADD, "X-Neural-Result",
    "+0.00; p=none; model=none; upstream=spamassassin; score=1.00; learn=spam"),
    "a message only for spam traps is learned as spam")
  mt.disconnect(conn)
  t.ok(wait_for("llen nmtest:ex:spam", "1"), "... and stored")

  conn, reply = send("192.0.2.10", { "trap@example.net", "user@example.net" }, {
    { "X-Spam-Status", SA_UNSURE },
    { "Message-ID", "<trap-2@example.org>" },
  }, nil, "SRCQ6")
  t.ok(mt.eom_check(conn, MT_HDRADD, "X-Neural-Result",
    "+0.00; p=none; model=none; upstream=spamassassin; score=1.00; learn=none"),
    "a trap and a person: not learned")
  mt.disconnect(conn)

  -- the same message from a trap again: one example (one key)
  conn, reply = send("192.0.2.10", { "TRAP@EXAMPLE.NET" }, {
    { "X-Spam-Status", SA_UNSURE },
    { "Message-ID", "<trap-1@example.org>" },
  }, nil, "SRCQ7")
  t.ok(mt.eom_check(conn, MT_HDRADD, "X-Neural-Result",
    "+0.00; p=none; model=none; upstream=spamassassin; score=1.00; learn=spam"),
    "the trap again (any case)")
  mt.disconnect(conn)
  t.ok(wait_for("get nmtest:ex:new", "3") and
       redis("llen nmtest:ex:spam") == "1",
    "... replaces its example: still one spam example, 3 stored in all")
end)
