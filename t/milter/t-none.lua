-- SPDX-License-Identifier: BSD-2-Clause
-- t-none: no scanner header (or only Rspamd's short X-Spam-Status, or
-- garbage) gives upstream=none and the mail passes.
local t = dofile("lib.lua")
local NONE = "+0.00; p=none; model=none; upstream=none; score=none; learn=none"
t.run(4, function()
  local conn, reply = t.message({ { "Subject", "hello" } })
  t.ok(t.accepted(reply), "message passes")
  t.ok(mt.eom_check(conn, MT_HDRADD, "X-Neural-Result", NONE),
    "no scanner header gives upstream=none")
  mt.disconnect(conn)
  conn, reply = t.message({ { "X-Spam-Status", "No, score=0.90" } })
  t.ok(mt.eom_check(conn, MT_HDRADD, "X-Neural-Result", NONE),
    "Rspamd's short X-Spam-Status is not SpamAssassin's")
  mt.disconnect(conn)
  conn, reply = t.message({ { "X-Spamd-Result", "garbage ((( [[[ ;;;" } })
  t.ok(mt.eom_check(conn, MT_HDRADD, "X-Neural-Result", NONE),
    "an unparsable header gives upstream=none")
  mt.disconnect(conn)
end)
