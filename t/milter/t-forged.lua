-- SPDX-License-Identifier: BSD-2-Clause
-- t-forged: copies of our header that the sender put in the message are
-- deleted and one fresh header is added.
local t = dofile("lib.lua")
t.run(4, function()
  local conn, reply = t.message({
    { "X-Neural-Result", "-9.99; p=0.000; model=forged.1; upstream=rspamd; score=-50.00; learn=ham" },
    { "X-Spamd-Result", t.RSPAMD },
    { "x-neural-result", "-9.99; forged again" },
  })
  t.ok(t.accepted(reply), "message passes")
  t.ok(mt.eom_check(conn, MT_HDRDELETE, "X-Neural-Result"),
    "forged copies deleted")
  t.ok(mt.eom_check(conn, MT_HDRADD, "X-Neural-Result",
    "+0.00; p=none; model=none; upstream=rspamd; score=7.50; learn=none"),
    "fresh header added")
  t.ok(not mt.eom_check(conn, MT_HDRADD, "X-Neural-Result",
    "-9.99; p=0.000; model=forged.1; upstream=rspamd; score=-50.00; learn=ham"),
    "the forged value is not re-added")
  mt.disconnect(conn)
end)
