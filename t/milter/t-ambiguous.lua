-- SPDX-License-Identifier: BSD-2-Clause
-- t-ambiguous: two scanner headers (one forged by the sender, one from
-- the scanner) under trust = single: nothing is scored or learned.
local t = dofile("lib.lua")
t.run(3, function()
  local conn, reply = t.message({
    { "X-Spamd-Result", "default: False [-20.00 / 15.00];\n\tWHITELIST(-20.00)[]" },
    { "X-Spamd-Result", t.RSPAMD },
  })
  t.ok(t.accepted(reply), "message passes")
  t.ok(mt.eom_check(conn, MT_HDRADD, "X-Neural-Result",
    "+0.00; p=none; model=none; upstream=ambiguous; score=none; learn=none"),
    "two X-Spamd-Result copies give upstream=ambiguous")
  mt.disconnect(conn)
  conn, reply = t.message({
    { "X-Spam-Status", t.SA },
    { "X-Spam-Status", "No, score=-5.0 required=5.0 tests=NONE autolearn=no" },
  })
  t.ok(mt.eom_check(conn, MT_HDRADD, "X-Neural-Result",
    "+0.00; p=none; model=none; upstream=ambiguous; score=none; learn=none"),
    "two X-Spam-Status copies give upstream=ambiguous")
  mt.disconnect(conn)
end)
