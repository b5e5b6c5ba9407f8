-- SPDX-License-Identifier: BSD-2-Clause
-- t-trust-last: with trust = last the last copy (appended by the scanner
-- after the sender's forged one) is used; a custom header name and the
-- adjusted header work.
-- ini: [upstream]
-- ini: trust = last
-- ini: [header]
-- ini: name = X-NM
-- ini: adjusted_name = X-NM-Score
local t = dofile("lib.lua")
t.run(4, function()
  local conn, reply = t.message({
    { "X-Spamd-Result", "default: False [-20.00 / 15.00];\n\tWHITELIST(-20.00)[]" },
    { "X-NM-Score", "-100.00" },
    { "X-Spamd-Result", t.RSPAMD },
  })
  t.ok(t.accepted(reply), "message passes")
  t.ok(mt.eom_check(conn, MT_HDRADD, "X-NM",
    "+0.00; p=none; model=none; upstream=rspamd; score=7.50; learn=none"),
    "the last copy is used, under the configured name")
  t.ok(mt.eom_check(conn, MT_HDRADD, "X-NM-Score", "7.50"),
    "adjusted header carries upstream score + adjustment")
  t.ok(mt.eom_check(conn, MT_HDRDELETE, "X-NM-Score"),
    "a forged adjusted header is deleted")
  mt.disconnect(conn)
end)
