-- wrk script for bench_otp.py --wrk: POST /v1/otp, each wrk thread to its own range of numbers (the per-number
-- limits stay at their defaults and are never reached). Usage: wrk -s bench/otp_send.lua URL -- TOKEN
-- each wrk thread sends to its own range of numbers, one number per request
counter = 0


local threads = {}
function setup(thread)
  thread:set("base", #threads * 100000)
  table.insert(threads, thread)
end
function init(args)
  token = args[1]
  base = base + tonumber(args[2] or "0")
end
request = function()
  counter = counter + 1
  local body = string.format('{"to":"+4915112%06d"}', base + counter)
  return wrk.format("POST", "/v1/otp", {["Content-Type"]="application/json", ["Authorization"]="Bearer " .. token}, body)
end
