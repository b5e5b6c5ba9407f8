-- SPDX-License-Identifier: BSD-2-Clause
-- t-header: a message with one Rspamd header gets one fresh
-- X-Neural-Result saying what the milter understood, and passes.
local t = dofile("lib.lua")
t.run(5, function()
  local conn, reply = t.message({
    { "From", "a@example.org" },
    { "X-Spamd-Result", t.RSPAMD },
    { "X-Rspamd-Action", "add header" },
  })
  t.ok(t.accepted(reply), "message passes")
  t.ok(mt.eom_check(conn, MT_HDRADD, "X-Neural-Result",
    "+0.00; p=none; model=none; upstream=rspamd; score=7.50; learn=none"),
    "header added with upstream=rspamd score=7.50")
  t.ok(not mt.eom_check(conn, MT_HDRDELETE, "X-Neural-Result"),
    "nothing deleted when the message had no copy")
  t.ok(mt.test_option(conn, SMFIP_NOBODY), "body step skipped")
  t.ok(mt.test_option(conn, SMFIP_NORCPT), "recipient step skipped")
  mt.disconnect(conn)
end)
