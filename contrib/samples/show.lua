-- SPDX-License-Identifier: BSD-2-Clause
-- show.lua - miltertest script: send each message named in NM_FILES
-- (space-separated) to the milter at NM_SOCKET and print the header it
-- added. Header values must stay under ~1 KiB (a miltertest limit).
local sock = os.getenv("NM_SOCKET")
local name = os.getenv("NM_HEADER") or "X-Neural-Result"

local function headers_of(path)
  local list, cur = {}, nil
  for line in io.lines(path) do
    line = line:gsub("\r$", "")
    if line == "" then break end
    if line:match("^[ \t]") and cur then
      cur[2] = cur[2] .. "\n" .. line
    else
      local n, v = line:match("^([^:]+):%s?(.*)$")
      if n then cur = { n, v }; table.insert(list, cur) end
    end
  end
  return list
end

for path in string.gmatch(os.getenv("NM_FILES") or "", "%S+") do
  local conn = mt.connect(sock, 40, 0.25)
  assert(conn, "cannot connect to " .. sock)
  mt.conninfo(conn, "client.example.org", "192.0.2.10")
  mt.mailfrom(conn, "sender@example.org")
  if not mt.test_option(conn, SMFIP_NORCPT) then mt.rcptto(conn, "user@example.net") end
  for _, h in ipairs(headers_of(path)) do mt.header(conn, h[1], h[2]) end
  if not mt.test_option(conn, SMFIP_NOEOH) then mt.eoh(conn) end
  if not mt.test_option(conn, SMFIP_NOBODY) then mt.bodystring(conn, "x\r\n") end
  mt.eom(conn)
  local value = mt.getheader(conn, name, 0)
  print(path .. ":\n  " .. name .. ": " .. tostring(value))
  mt.disconnect(conn)
end
