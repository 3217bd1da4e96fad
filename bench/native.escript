#!/usr/bin/env escript
%% The native side of bench/run: OTP's own peer module driven from an Erlang
%% origin, doing what bench/driver does through peerd. Prints one line per
%% figure: "native CONN METRIC VALUE".
%%   native.escript standard_io|tcp|distribution
%% Interpreted (no -mode(compile)) so that funs sent to peers are erl_eval funs.
%% Over distribution the origin is a node itself (OTP's default connection),
%% and calls are erpc:call, as peer:call makes them in that mode (OTP 25's
%% peer:call over distribution answers noconnection on this Debian build,
%% while erpc:call to the same node works).

main(["distribution" = ConnS]) ->
    os:cmd("epmd -daemon"),
    {ok, _} = net_kernel:start([list_to_atom("bench_origin_" ++ os:getpid()), shortnames]),
    run(ConnS, dist);
main([ConnS]) ->
    run(ConnS, case ConnS of "tcp" -> 0; _ -> standard_io end).

%% The options of a start: a name for distribution (as peerd needs one too).
opts(dist) -> #{name => peer:random_name()};
opts(Conn) -> #{connection => Conn}.

run(ConnS, Conn) ->
    %% The origin's group leader: an I/O server that takes output and drops it,
    %% as the HTTP side's follower drops what it reads.
    Sink = spawn(fun() -> sink() end),
    group_leader(Sink, self()),
    boot(ConnS, Conn),
    {ok, Peer, Node} = peer:start_link(opts(Conn)),
    P = case Conn of dist -> {node, Node}; _ -> Peer end,
    latency(ConnS, P),
    throughput(ConnS, P),
    console(ConnS, P),
    format_lines(ConnS, P),
    peer:stop(Peer).

call(P, M, F, A) -> call(P, M, F, A, 5000).
call({node, Node}, M, F, A, T) -> erpc:call(Node, M, F, A, T);
call(P, M, F, A, T) -> peer:call(P, M, F, A, T).

sink() ->
    receive
        {io_request, From, Ref, _} -> From ! {io_reply, Ref, ok}, sink();
        _ -> sink()
    end.

out(Conn, Metric, Value) -> io:format(standard_error, "native ~s ~s ~p~n", [Conn, Metric, Value]).

median(L) -> lists:nth((length(L) + 1) div 2, lists:sort(L)).
pct(L, P) -> S = lists:sort(L), lists:nth(max(1, round(length(S) * P)), S).

boot(ConnS, Conn) ->
    Ts = [begin
              T0 = erlang:monotonic_time(microsecond),
              {ok, P, _} = peer:start_link(opts(Conn)),
              T = erlang:monotonic_time(microsecond) - T0,
              peer:stop(P),
              T
          end || _ <- lists:seq(1, 7)],
    out(ConnS, boot_ms, median(Ts) / 1000).

latency(ConnS, P) ->
    [call(P, erlang, node, []) || _ <- lists:seq(1, 200)],
    Ts = [begin
              T0 = erlang:monotonic_time(microsecond),
              _ = call(P, erlang, node, []),
              erlang:monotonic_time(microsecond) - T0
          end || _ <- lists:seq(1, 5000)],
    out(ConnS, call_median_us, median(Ts)),
    out(ConnS, call_p99_us, pct(Ts, 0.99)).

%% 16 callers, as peerd's 16 clients; then 4, for the node's CPU per call
%% at a lower rate (a node's CPU per call grows as its calls thin out:
%% fewer calls share each wake-up).
throughput(ConnS, P) ->
    throughput(ConnS, P, 16, ""),
    throughput(ConnS, P, 4, "_4").

throughput(ConnS, P, Callers, Suffix) ->
    Self = self(),
    Dur = 3000,
    Node = call(P, os, getpid, []),
    O0 = cpu_ticks(os:getpid()), N0 = cpu_ticks(Node),
    End = erlang:monotonic_time(millisecond) + Dur,
    Pids = [spawn_link(fun() -> Self ! {done, caller(P, End, 0)} end) || _ <- lists:seq(1, Callers)],
    N = lists:sum([receive {done, C} -> C end || _ <- Pids]),
    O1 = cpu_ticks(os:getpid()), N1 = cpu_ticks(Node),
    out(ConnS, list_to_atom("calls_per_s" ++ Suffix), round(N * 1000 / Dur)),
    %% CPU per call from /proc (user + system, in 1/100 s): the origin's
    %% and the node's, beside peerd's and its node's in bench/run.
    out(ConnS, list_to_atom("origin_cpu_us" ++ Suffix), round((O1 - O0) * 10000 / N * 10) / 10),
    out(ConnS, list_to_atom("node_cpu_us" ++ Suffix), round((N1 - N0) * 10000 / N * 10) / 10).

cpu_ticks(Pid) ->
    {ok, Stat} = file:read_file("/proc/" ++ Pid ++ "/stat"),
    [_, After] = binary:split(Stat, <<") ">>),
    Fields = binary:split(After, <<" ">>, [global]),
    binary_to_integer(lists:nth(12, Fields)) + binary_to_integer(lists:nth(13, Fields)).

caller(P, End, N) ->
    case erlang:monotonic_time(millisecond) < End of
        true -> call(P, erlang, node, []), caller(P, End, N + 1);
        false -> N
    end.

%% 20 MB printed by the node with io:put_chars(user, ...), 64 KiB at a time.
console(ConnS, P) ->
    Chunk = binary:copy(<<"x">>, 65536),
    T0 = erlang:monotonic_time(microsecond),
    ok = call(P, lists, foreach, [fun(_) -> io:put_chars(user, Chunk) end, lists:seq(1, 320)], 120000),
    T = erlang:monotonic_time(microsecond) - T0,
    out(ConnS, console_mb_per_s, round(20.0 * 1000000 / T * 10) / 10).

%% 20000 lines printed with io:format(user, "line ~p~n", [I]).
format_lines(ConnS, P) ->
    T0 = erlang:monotonic_time(microsecond),
    ok = call(P, lists, foreach, [fun(I) -> io:format(user, "line ~p~n", [I]) end, lists:seq(1, 20000)], 300000),
    T = erlang:monotonic_time(microsecond) - T0,
    out(ConnS, format_lines_per_s, round(20000 * 1000000 / T)).
