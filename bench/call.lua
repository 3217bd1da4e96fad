-- wrk script for bench/run: POST /peers/{id}/call of erlang:node(), the
-- call native.escript makes with peer:call/4. The request is built once.
wrk.method = "POST"
wrk.body = '{"module":"erlang","function":"node","args":[]}'
wrk.headers["Content-Type"] = "application/json"
