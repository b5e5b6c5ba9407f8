-- SPDX-License-Identifier: BSD-2-Clause
-- t-spamassassin: SpamAssassin's X-Spam-Status is read; with format =
-- rspamd it is ignored.
local t = dofile("lib.lua")
t.run(2, function()
  local conn, reply = t.message({
    { "X-Spam-Checker-Version", "SpamAssassin 4.0.1 (2024-03-25) on scanner" },
    { "X-Spam-Status", t.SA },
  })
  t.ok(t.accepted(reply), "message passes")
  t.ok(mt.eom_check(conn, MT_HDRADD, "X-Neural-Result",
    "+0.00; p=none; model=none; upstream=spamassassin; score=10.50; learn=none"),
    "upstream=spamassassin score=10.50")
  mt.disconnect(conn)
end)
