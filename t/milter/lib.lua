-- SPDX-License-Identifier: BSD-2-Clause
-- lib.lua - TAP output and message helpers for the miltertest scripts.
-- miltertest exits 1 silently on an uncaught Lua error, so each script's
-- body runs under pcall and a death becomes a failing TAP line.
local M = {}
local n, failed = 0, 0

function M.ok(cond, name)
  n = n + 1
  if cond then
    print("ok " .. n .. " - " .. name)
  else
    failed = failed + 1
    print("not ok " .. n .. " - " .. name)
  end
  return cond
end

function M.run(plan, body)
  print("1.." .. plan)
  local good, err = pcall(body)
  if not good then
    n = n + 1
    print("not ok " .. n .. " - script died: " .. tostring(err))
    failed = failed + 1
  end
  if n ~= plan then
    print("# planned " .. plan .. " tests but ran " .. n)
    failed = failed + 1
  end
  io.stdout:flush()
  if failed > 0 then os.exit(1) end
end

-- connect to the daemon under test (its socket is in NM_SOCKET) and
-- start a message up to the headers; the queue id is qid, else NM_QID
-- (the script's name: all.sh sets it), else TESTQID
function M.begin(qid)
  local conn = mt.connect(os.getenv("NM_SOCKET"), 40, 0.25)
  assert(conn, "mt.connect failed")
  assert(mt.conninfo(conn, "client.example.org", "192.0.2.10") == nil,
         "conninfo failed")
  mt.macro(conn, SMFIC_MAIL, "i", qid or os.getenv("NM_QID") or "TESTQID")
  assert(mt.mailfrom(conn, "sender@example.org") == nil, "mailfrom failed")
  if not mt.test_option(conn, SMFIP_NORCPT) then
    assert(mt.rcptto(conn, "user@example.net") == nil, "rcptto failed")
  end
  return conn
end

-- send the headers (a list of {name, value}) and end the message;
-- returns the reply to end of message
function M.finish(conn, headers, qid)
  for _, h in ipairs(headers) do
    assert(mt.header(conn, h[1], h[2]) == nil, "header " .. h[1] .. " failed")
  end
  if not mt.test_option(conn, SMFIP_NOEOH) then
    assert(mt.eoh(conn) == nil, "eoh failed")
  end
  if not mt.test_option(conn, SMFIP_NOBODY) then
    assert(mt.bodystring(conn, "body\r\n") == nil, "body failed")
  end
  assert(mt.eom(conn) == nil, "eom failed")
  return mt.getreply(conn)
end

-- the whole message on a fresh connection; returns conn and the reply
function M.message(headers)
  local conn = M.begin()
  local reply = M.finish(conn, headers)
  return conn, reply
end

M.RSPAMD = "default: False [7.50 / 15.00];\n\tFORGED_MUA_OUTLOOK(3.00)[];\n" ..
  "\tOLD_X_MAILER(2.00)[];\n\tFAKE_REPLY(1.00)[];\n\tDATE_IN_PAST(1.00)[212691];\n" ..
  "\tMV_CASE(0.50)[];\n\tRCVD_NO_TLS_LAST(0.10)[];\n\tMIME_GOOD(-0.10)[text/plain];\n" ..
  "\tFROM_HAS_DN(0.00)[];\n\tARC_NA(0.00)[]"
M.SA = "Yes, score=10.5 required=5.0 tests=EXCUSE_24,FAKE_REPLY_C,\n" ..
  "\tFORGED_MUA_OUTLOOK,FREEMAIL_FROM autolearn=disabled version=4.0.1"

function M.accepted(reply)
  return reply == SMFIR_CONTINUE or reply == SMFIR_ACCEPT
end

return M
