/*
 * hosts.c — nodes on other hosts, and the network between them failing.
 * A host here is a network namespace behind a veth pair on one bridge, with
 * its own address, host name (a UTS namespace), name resolution
 * (/etc/netns/NS/hosts, which `ip netns exec` puts in place), epmd
 * (running, as Debian's erlang-base keeps it) and sshd. peerd reaches them
 * as a user would: ssh to run erl there, over standard_io, over TCP back to
 * peerd's address, and over distribution. A partition is the host's link
 * set down; an impaired link is netem on it.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MAX_HOSTS 3

typedef struct {
    int n, net;                 /* hosts; the third octet of 10.214.NET.0/24 */
    char dir[64];               /* keys, configs, and home/ with the cookie */
    char cookie[40];            /* in home/.erlang.cookie, as a host's own user would have it */
    char bridge[16], gateway[32];   /* peerd's side: the bridge and its address */
    char ns[MAX_HOSTS][32], name[MAX_HOSTS][16], ip[MAX_HOSTS][32], host_if[MAX_HOSTS][24];   /* host_if: 15 chars at most */
    pid_t sshd[MAX_HOSTS];
    int lock_fd;                /* held while the hosts are up */
} hosts;

/* The hosts of the test running (one a process): taken down after it,
 * whether it passed or not. */
static hosts H;
static void hosts_down(hosts *h);
static void take_down(void) { if (H.n) hosts_down(&H); }

static void hosts_down(hosts *h)
{
    for (int i = 0; i < h->n; i++) {
        if (h->sshd[i] > 0) { kill(h->sshd[i], SIGTERM); child_wait(h->sshd[i], 3000); }
        sh("ip netns pids %s 2>/dev/null | xargs -r kill -9 2>/dev/null; ip link del %s 2>/dev/null; ip netns del %s 2>/dev/null; "
           "rm -rf /etc/netns/%s", h->ns[i], h->host_if[i], h->ns[i], h->ns[i]);
    }
    sh("ip link del %s 2>/dev/null; rm -rf %s", h->bridge, h->dir);
    h->n = 0;
    close(h->lock_fd);
}

/* One test's hosts at a time: this suite runs two tests at once, and two
 * tests' bridges, routes and link changes on one machine at once make a
 * failure hard to pin on either (an ssh wait that failed twice in ten runs
 * looked like the partition test's doing; it was a bridge left behind, see
 * hosts_up); it also keeps two tests off one subnet. Released by
 * hosts_down, or by the process ending. */
static int hosts_lock(void)
{
    int fd = open("/tmp/peerd-hosts.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0, "/tmp/peerd-hosts.lock");
    cr_assert_eq(flock(fd, LOCK_EX), 0, "flock /tmp/peerd-hosts.lock");
    return fd;
}

/* n hosts h1..hn at 10.214.NET.11.., peerd's side at 10.214.NET.1; each
 * resolves every host as hI and hI.peerd.test, and peerd's address as this
 * machine's name. */
static void hosts_up(hosts *h, int n)
{
    needs(sh("command -v ip iptables unshare ssh-keygen >/dev/null") == 0 && !access("/usr/sbin/sshd", X_OK),
          "iproute2, iptables, unshare, ssh-keygen or sshd");
    if (geteuid() != 0) cr_skip_test("hosts in network namespaces need root");
    memset(h, 0, sizeof *h);
    h->lock_fd = hosts_lock();
    /* What a crashed run left (its fini did not run) goes first: its
     * namespaces and its bridge, whose route to its subnet would otherwise
     * stay in the table and win over a new bridge's (ssh then read "No
     * route to host" for 30 s). */
    sh("for ns in $(ip netns list | awk '/^peerd-h[0-9]+-/{print $1}'); do p=${ns##*-}; "
       "[ -d /proc/$p ] || { ip netns pids $ns | xargs -r kill -9; ip netns del $ns; rm -rf /etc/netns/$ns; }; done 2>/dev/null; "
       "for b in $(ip -br link show type bridge | awk '/^pdb[0-9]+ /{print $1}'); do "
       "[ -d /proc/${b#pdb} ] || ip link del $b; done 2>/dev/null");
    h->n = n;
    /* Under the lock no other test's hosts are up: any link still holding
     * an address in the subnet is left over (a pid % 100000 alive again
     * under a bridge's name). */
    h->net = getpid() % 200 + 20;
    drop_links_in(214, h->net);
    snprintf(h->dir, sizeof h->dir, "/tmp/peerd-hosts-XXXXXX");
    cr_assert(mkdtemp(h->dir));
    snprintf(h->bridge, sizeof h->bridge, "pdb%d", (int)getpid() % 100000);
    snprintf(h->gateway, sizeof h->gateway, "10.214.%d.1", h->net);
    cr_assert_eq(sh("ip link add %s type bridge && ip addr add %s/24 dev %s && ip link set %s up", h->bridge, h->gateway,
                    h->bridge, h->bridge), 0);
    cr_assert_eq(sh("ssh-keygen -q -t ed25519 -N '' -f %s/host_key && ssh-keygen -q -t ed25519 -N '' -f %s/client_key && "
                    "cp %s/client_key.pub %s/authorized_keys && mkdir -p /run/sshd", h->dir, h->dir, h->dir, h->dir), 0);
    /* The cookie a user puts on each host for its nodes: peerd never sends
     * one across (not on a command line, and ssh does not carry HOME). */
    snprintf(h->cookie, sizeof h->cookie, "hosts-cookie-%d", (int)getpid());
    cr_assert_eq(sh("mkdir -p %s/home && printf %%s %s > %s/home/.erlang.cookie && chmod 400 %s/home/.erlang.cookie",
                    h->dir, h->cookie, h->dir, h->dir), 0);
    char me[128] = "localhost";
    gethostname(me, sizeof me);
    for (int i = 0; i < n; i++) {
        snprintf(h->ns[i], sizeof h->ns[i], "peerd-h%d-%d", i + 1, (int)getpid());
        snprintf(h->name[i], sizeof h->name[i], "h%d", i + 1);
        snprintf(h->ip[i], sizeof h->ip[i], "10.214.%d.%d", h->net, 11 + i);
        snprintf(h->host_if[i], sizeof h->host_if[i], "pd%d-%d", i + 1, (int)getpid() % 100000);
        cr_assert_eq(sh("ip netns add %s && ip link add %s type veth peer name eth0 netns %s && ip link set %s master %s up && "
                        "ip -n %s addr add %s/24 dev eth0 && ip -n %s link set eth0 up && ip -n %s link set lo up",
                        h->ns[i], h->host_if[i], h->ns[i], h->host_if[i], h->bridge, h->ns[i], h->ip[i], h->ns[i], h->ns[i]), 0);
        cr_assert_eq(sh("mkdir -p /etc/netns/%s", h->ns[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        char path[128];
        snprintf(path, sizeof path, "/etc/netns/%s/hosts", h->ns[i]);
        FILE *f = fopen(path, "w");
        cr_assert(f);
        fprintf(f, "127.0.0.1 localhost\n%s %s\n", h->gateway, me);
        for (int j = 0; j < n; j++) fprintf(f, "%s %s.peerd.test %s\n", h->ip[j], h->name[j], h->name[j]);
        fclose(f);
        char conf[128];
        snprintf(conf, sizeof conf, "%s/sshd_%d", h->dir, i);
        f = fopen(conf, "w");
        fprintf(f, "Port 22\nListenAddress %s\nHostKey %s/host_key\nAuthorizedKeysFile %s/authorized_keys\n"
                   "StrictModes no\nPermitRootLogin yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                   "UsePAM no\nPidFile %s/sshd_%d.pid\nAcceptEnv HOME\n", h->ip[i], h->dir, h->dir, h->dir, i);
        fclose(f);
        pid_t s = fork();
        if (s == 0) {
            char cmd[512];
            snprintf(cmd, sizeof cmd, "hostname %s && exec /usr/sbin/sshd -D -e -f %s >%s/sshd_%d.log 2>&1", h->name[i], conf, h->dir, i);
            execlp("ip", "ip", "netns", "exec", h->ns[i], "unshare", "--uts", "sh", "-c", cmd, (char *)NULL);
            _exit(127);
        }
        h->sshd[i] = s;
    }
    for (int i = 0; i < n; i++) {
        /* Each try bounded (a try that reaches a starting sshd must not
         * wait on it for good), and all of them within 30 s. */
        bool up = false;
        double until = now_s() + 30;
        while (!up && now_s() < until) {
            up = sh("ssh -i %s/client_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes "
                    "-o ConnectTimeout=5 -o LogLevel=ERROR root@%s 'test $(hostname) = %s' 2>%s/ssh_try.err",
                    h->dir, h->ip[i], h->name[i], h->dir) == 0;
            if (!up) usleep(100000);
        }
        if (up) continue;
        /* What the network looked like then: sshd's log, the last try's
         * error, a TCP connection tried, what listens in the namespace and the
         * links. */
        sh("{ echo '-- sshd:'; cat %1$s/sshd_%2$d.log; echo '-- ssh:'; cat %1$s/ssh_try.err; echo '-- tcp:'; timeout 3 bash -c '</dev/tcp/%3$s/22' && echo connects || echo 'does not connect'; "
           "echo '-- listening:'; ip netns exec %4$s ss -tan; echo '-- links:'; ip -br link show master %5$s; ip -n %4$s -br addr; "
           "ip -br addr show %5$s; ip route get %3$s; } > %1$s/why 2>&1", h->dir, i, h->ip[i], h->ns[i], h->bridge);
        char path[128];
        snprintf(path, sizeof path, "%s/why", h->dir);
        char *why = slurp(path, NULL);
        cr_assert(up, "sshd on %s (%s) answers as %s within 30 s:\n%s", h->ns[i], h->ip[i], h->name[i], why ? why : "");
    }
    for (int i = 0; i < n; i++) epmd_up_in(h->ns[i]);
}

/* "exec" for a node on host i, through ssh, run with the HOME that holds
 * the hosts' cookie. */
static void exec_on(const hosts *h, int i, char *out, size_t len)
{
    snprintf(out, len, "[\"ssh\",\"-i\",\"%s/client_key\",\"-o\",\"StrictHostKeyChecking=no\",\"-o\",\"UserKnownHostsFile=/dev/null\","
                       "\"-o\",\"BatchMode=yes\",\"-o\",\"LogLevel=ERROR\",\"root@%s\",\"env\",\"HOME=%s/home\",\"erl\"]",
             h->dir, h->ip[i], h->dir);
}

/* The options of a node on host i over connection c (0 standard_io, 1 TCP,
 * 2 distribution), named NAME@hI.peerd.test, with more options after. */
static void node_opts(const hosts *h, int i, int c, const char *name, const char *more, char *out, size_t len)
{
    char exec[600], conn[128];
    exec_on(h, i, exec, sizeof exec);
    if (c == 0) snprintf(conn, sizeof conn, "\"standard_io\"");
    else if (c == 1) snprintf(conn, sizeof conn, "{\"ip\":\"%s\",\"port\":0}", h->gateway);
    else snprintf(conn, sizeof conn, "\"distribution\"");
    char cookie[80] = "";
    if (c == 2 || (more && strstr(more, "\"cluster\""))) snprintf(cookie, sizeof cookie, "\"cookie\":\"%s\",", h->cookie);
    snprintf(out, len, "{\"name\":\"%s\",\"longnames\":true,\"host\":\"%s.peerd.test\",\"connection\":%s,%s%s"
                       "\"exec\":%s%s%s}", name, h->name[i], conn, c == 1 ? "\"detached\":false," : "", cookie, exec, more ? "," : "",
             more ? more : "");
}

/* A CI pipeline across three hosts: a node on each (ssh and standard_io,
 * TCP, distribution), members of one cluster that meet as a full mesh
 * through their own names and resolution; the code under test loaded on
 * all, a multicall answered from each host, every console followed, the
 * group deleted and nothing left running on any host. */
Test(hosts, a_pipeline_across_three_hosts, .timeout = 180, .fini = take_down)
{
    hosts_up(&H, 3);
    hosts h = H;
    const char *args[] = { "--dist-address", h.gateway, NULL };
    peerd *d = peerd_start(args);
    char *id[3], opts[1400];
    const char *cluster = unique_name("x");
    for (int i = 0; i < 3; i++) {
        char name[32], more[200];
        snprintf(name, sizeof name, "n%d", i + 1);
        snprintf(more, sizeof more, "\"cluster\":\"%s\",\"labels\":{\"job\":\"pipe\",\"host\":\"h%d\"},\"wait_boot\":false", cluster, i + 1);
        node_opts(&h, i, i, name, more, opts, sizeof opts);
        resp *r = http(d, "POST", "/peers", opts);
        cr_assert_eq(r->status, 202, "%s", r->body);
        id[i] = strdup(jstr(r, "id"));
        resp_free(r);
    }
    for (int i = 0; i < 3; i++) {
        resp *r = wait_state(d, id[i], "running", 60000);
        cr_assert_eq(r->status, 200, "%s", r->body);
        resp_free(r);
    }
    char path[256];
    snprintf(path, sizeof path, "/clusters/%s", cluster);
    resp *r = http_until(d, "GET", path, NULL, has_text, "\"full_mesh\":true", 20000);
    cr_assert(strstr(r->body, "\"full_mesh\":true"), "%s", r->body);
    resp_free(r);

    /* Every console followed, as a dashboard would. */
    const char *out[3];
    pid_t follower[3];
    for (int i = 0; i < 3; i++) {
        char o[64];
        snprintf(o, sizeof o, "/tmp/peerd-hosts-%d-%d.out", (int)getpid(), i);
        out[i] = strdup(o);
        snprintf(path, sizeof path, "/peers/%s/console?follow=1", id[i]);
        follower[i] = curl_spawn(d, path, out[i], NULL);
    }
    /* The code under test, compiled here, loaded everywhere by selector. */
    char dir[] = "/tmp/peerd-hosts-erlc-XXXXXX";
    cr_assert(mkdtemp(dir));
    cr_assert_eq(sh("printf '%%s\\n' '-module(across).' '-export([where/0]).' "
                    "'where() -> {ok, H} = inet:gethostname(), io:format(\"hello from ~s~n\", [H]), {node(), H}.' "
                    "> %s/across.erl && erlc -o %s %s/across.erl", dir, dir, dir), 0);
    char beam_path[128];
    snprintf(beam_path, sizeof beam_path, "%s/across.beam", dir);
    size_t blen;
    char *beam = slurp(beam_path, &blen);
    r = http_body(d, "PUT", "/modules/across?selector=job=pipe", beam, blen, "application/octet-stream", NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert(!strstr(r->body, "\"outcome\":\"error\""), "%s", r->body);
    resp_free(r);
    free(beam);
    r = http(d, "POST", "/calls", "{\"selector\":\"job=pipe\",\"module\":\"across\",\"function\":\"where\"}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    for (int i = 0; i < 3; i++) {
        char want[96];
        snprintf(want, sizeof want, "{'n%d@h%d.peerd.test',\\\"h%d\\\"}", i + 1, i + 1, i + 1);
        cr_assert(strstr(r->body, want), "%s not in %s", want, r->body);
    }
    resp_free(r);
    for (int i = 0; i < 3; i++) {
        char want[32];
        snprintf(want, sizeof want, "hello from h%d", i + 1);
        cr_assert(file_has(out[i], want, 10000), "console of h%d followed", i + 1);
    }
    /* The group deleted: down, and nothing of it left on any host. */
    pid_t nodes[3];
    for (int i = 0; i < 3; i++) nodes[i] = os_pid_of(d, id[i]);
    r = http(d, "DELETE", "/peers?selector=job=pipe", NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    for (int i = 0; i < 3; i++) {
        cr_expect(process_gone(nodes[i], 10000), "the node on h%d halted", i + 1);
        kill(follower[i], SIGKILL);
        child_wait(follower[i], 3000);
        unlink(out[i]);
        free((char *)out[i]);
        free(id[i]);
    }
    sh("rm -rf %s", dir);
    cr_assert_eq(peerd_stop(d), 0);
}

/* A host cut off, then back: each of its nodes is unreachable (and a call
 * says so at once), then reachable with its console whole; cut off again
 * and peerd killed meanwhile: every node there halts by itself within the
 * limit, the link still down — no rogue node on the far side. */
Test(hosts, a_partition_loses_nothing_and_leaves_no_rogue_node, .timeout = 180, .fini = take_down)
{
    hosts_up(&H, 1);
    hosts h = H;
    const char *args[] = { "--dist-address", h.gateway, "--heartbeat", "0.3", "--unreachable", "4", NULL };
    peerd *d = peerd_start(args);
    char *id[3], opts[1400];
    pid_t nodes[3];
    for (int c = 0; c < 3; c++) {
        char name[32];
        snprintf(name, sizeof name, "p%d", c);
        node_opts(&h, 0, c, name, NULL, opts, sizeof opts);
        id[c] = start_peer(d, opts);
        nodes[c] = os_pid_of(d, id[c]);
    }
    /* A chatty process on the TCP node: numbered lines and messages to
     * the origin, 50 ms apart. */
    resp *r = node_eval(d, id[1], "spawn(fun() -> [begin io:format(user, \"tick ~b~n\", [N]), user ! {message, inbox, N}, "
                                  "timer:sleep(50) end || N <- lists:seq(1, 120)] end), ok", false);
    cr_assert_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    usleep(300000);

    cr_assert_eq(sh("ip link set %s down", h.host_if[0]), 0);
    for (int c = 0; c < 3; c++) {
        char want[200];
        snprintf(want, sizeof want, "\"type\":\"unreachable\",\"peer\":\"%s\"", id[c]);
        r = http_until(d, "GET", "/events?follow=0", NULL, has_text, want, 3000);
        cr_assert(strstr(r->body, want), "%s", r->body);
        resp_free(r);
    }
    r = call(d, id[0], "erlang", "node", "[]");
    cr_assert_eq(r->status, 409, "%s", r->body);
    resp_free(r);
    usleep(1000000);
    cr_assert_eq(sh("ip link set %s up", h.host_if[0]), 0);
    for (int c = 0; c < 3; c++) {
        char want[200];
        snprintf(want, sizeof want, "\"type\":\"reachable\",\"peer\":\"%s\"", id[c]);
        r = http_until(d, "GET", "/events?follow=0", NULL, has_text, want, 10000);
        cr_assert(strstr(r->body, want), "%s", r->body);
        resp_free(r);
    }
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/console", id[1]);
    r = http_until(d, "GET", path, NULL, has_text, "tick 120\n", 15000);
    expect_in_order(r->body, "tick %1$d\n", 1, 120);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/messages?to=inbox", id[1]);
    r = http_until(d, "GET", path, NULL, has_text, "\"seq\":120,", 15000);
    expect_in_order(r->body, "\"seq\":%1$d,\"to\":\"inbox\",\"result\":\"%1$d\"", 1, 120);
    resp_free(r);
    r = http(d, "GET", "/events?follow=0", NULL);
    cr_assert(!strstr(r->body, "\"type\":\"down\""), "a partition shorter than the limit downs nothing: %s", r->body);
    resp_free(r);
    for (int c = 0; c < 3; c++) {
        r = call(d, id[c], "erlang", "abs", "[-1]");
        cr_assert_eq(r->status, 200, "%s", r->body);
        resp_free(r);
    }

    /* Cut off again, and peerd killed: the far nodes halt by themselves. */
    cr_assert_eq(sh("ip link set %s down", h.host_if[0]), 0);
    peerd_kill(d);
    double t0 = now_s();
    for (int c = 0; c < 3; c++)
        cr_expect(process_gone(nodes[c], 9000), "node %d (connection %d) still runs %.1f s after peerd died across the partition",
                  (int)nodes[c], c, now_s() - t0);
    cr_expect_lt(now_s() - t0, 8, "within the limit (4 s) and some");
    for (int c = 0; c < 3; c++) free(id[c]);
}

/* netem's impairments on host i's traffic with peerd, both ways: its
 * kernel may have no sch_netem, so iptables queues those packets to
 * tests/hosts/impair (NFQUEUE), which drops and delays them. Returns the
 * helper's pid. */
static pid_t impair(const hosts *h, int i, int loss, int delay_ms, int jitter_ms)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s", PEERD_BIN);
    char *slash = strrchr(bin, '/');
    snprintf(slash + 1, sizeof bin - (size_t)(slash + 1 - bin), "tests/impair");
    needs(!access(bin, X_OK), "tests/impair (libnetfilter-queue-dev, at build time)");
    pid_t pid = fork();
    if (pid == 0) {
        char l[16], d[16], j[16];
        snprintf(l, sizeof l, "%d", loss);
        snprintf(d, sizeof d, "%d", delay_ms);
        snprintf(j, sizeof j, "%d", jitter_ms);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execlp("ip", "ip", "netns", "exec", h->ns[i], bin, "7", l, d, j, (char *)NULL);
        _exit(127);
    }
    usleep(200000);
    cr_assert_eq(sh("ip netns exec %s iptables -A INPUT -s %s -j NFQUEUE --queue-num 7 --queue-bypass && "
                    "ip netns exec %s iptables -A OUTPUT -d %s -j NFQUEUE --queue-num 7 --queue-bypass",
                    h->ns[i], h->gateway, h->ns[i], h->gateway), 0);
    return pid;
}

/* 20 % loss, 100 ms of delay and reordering on the round trip (10 % and
 * 50 ± 25 ms each way): calls answer right, the console arrives whole and
 * in order, a batch of 10,000 calls completes in order, and nothing that is
 * only slow is declared down. (The plain build's run only: it is about the
 * network, and takes a minute.) */
Test(hosts, an_impaired_link_is_slow_not_down, .timeout = 300, .fini = take_down)
{
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("the impaired link is checked by the plain build's suite");
#endif
    hosts_up(&H, 1);
    hosts h = H;
    const char *args[] = { "--heartbeat", "2", "--unreachable", "20", NULL };
    peerd *d = peerd_start(args);
    char opts[1400];
    node_opts(&h, 0, 1, "slow", NULL, opts, sizeof opts);
    char *id = start_peer(d, opts);
    pid_t impairer = impair(&h, 0, 10, 50, 25);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/call", id);
    for (int i = 1; i <= 20; i++) {
        char body_json[160], want[32];
        snprintf(body_json, sizeof body_json, "{\"module\":\"erlang\",\"function\":\"abs\",\"args\":[%d],\"timeout_ms\":60000}", -i);
        snprintf(want, sizeof want, "%d", i);
        resp *r = http(d, "POST", path, body_json);
        cr_assert_eq(r->status, 200, "%s", r->body);
        cr_assert_str_eq(jstr(r, "result"), want);
        resp_free(r);
    }
    snprintf(path, sizeof path, "/peers/%s/eval", id);
    /* 50 writes, then one of 2000 lines (each write waits for its reply). */
    resp *r = http(d, "POST", path, "{\"expr\":\"[io:format(user, \\\"row ~b~n\\\", [N]) || N <- lists:seq(1, 50)], "
                                    "io:put_chars(user, [io_lib:format(\\\"row ~b~n\\\", [N]) || N <- lists:seq(51, 2000)]).\","
                                    "\"timeout_ms\":100000}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s/console", id);
    r = http_until(d, "GET", path, NULL, has_text, "row 2000\n", 60000);
    expect_in_order(r->body, "row %1$d\n", 1, 2000);
    resp_free(r);
    enum { N = 10000 };
    size_t cap = (size_t)N * 96, len = 0;
    char *body = malloc(cap);
    for (int i = 1; i <= N; i++)
        len += (size_t)snprintf(body + len, cap - len, "{\"module\":\"erlang\",\"function\":\"abs\",\"args\":[%d],\"timeout_ms\":120000}\n", -i);
    snprintf(path, sizeof path, "/peers/%s/calls", id);
    double t0 = now_s();
    r = http_body(d, "POST", path, body, len, "application/x-ndjson", NULL);
    cr_assert_eq(r->status, 200, "%.300s", r->body);
    int n = 0;
    for (char *p = r->body, *nl; (nl = strchr(p, '\n')); p = nl + 1, n++) {
        *nl = 0;
        cJSON *o = cJSON_Parse(p);
        cr_assert(o, "%s", p);
        const cJSON *line = cJSON_GetObjectItemCaseSensitive(o, "line");
        cr_assert(cJSON_IsNumber(line) && (int)line->valuedouble == n + 1, "line %d: %s", n + 1, p);
        char want[32];
        snprintf(want, sizeof want, "%d", n + 1);
        const char *res = field(o, "result");
        cr_assert(res && !strcmp(res, want), "line %d: %s", n + 1, p);
        cJSON_Delete(o);
    }
    cr_assert_eq(n, N);
    cr_log_info("a batch of 10,000 calls over the impaired link: %.1f s", now_s() - t0);
    resp_free(r);
    free(body);
    r = http(d, "GET", "/events?follow=0", NULL);
    cr_assert(!strstr(r->body, "\"type\":\"down\""), "%s", r->body);
    resp_free(r);
    snprintf(path, sizeof path, "/peers/%s", id);
    r = http(d, "GET", path, NULL);
    cr_assert_str_eq(jstr(r, "state"), "running", "%s", r->body);
    resp_free(r);
    sh("ip netns exec %s iptables -F", h.ns[0]);
    kill(impairer, SIGTERM);
    child_wait(impairer, 3000);
    delete_peer(d, id);
    free(id);
    cr_assert_eq(peerd_stop(d), 0);
}
