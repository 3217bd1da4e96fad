/*
 * remote.c — peers on other hosts, as users run them: over ssh (a real sshd
 * on a loopback port with throwaway keys, standard_io through it), and in
 * another network namespace with its own address (a veth pair), where the
 * node connects back to peerd over TCP.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

Test(remote, ssh, .timeout = 90)
{
    needs(!access("/usr/sbin/sshd", X_OK) && !access("/usr/bin/ssh", X_OK), "sshd or ssh");
    char dir[] = "/tmp/peerd-ssh-XXXXXX";
    cr_assert(mkdtemp(dir));
    cr_assert_eq(sh("ssh-keygen -q -t ed25519 -N '' -f %s/host_key && ssh-keygen -q -t ed25519 -N '' -f %s/client_key && "
                    "cp %s/client_key.pub %s/authorized_keys && mkdir -p /run/sshd", dir, dir, dir, dir), 0);
    int port = free_port();
    char conf[512];
    snprintf(conf, sizeof conf, "%s/sshd_config", dir);
    FILE *f = fopen(conf, "w");
    fprintf(f, "Port %d\nListenAddress 127.0.0.1\nHostKey %s/host_key\nAuthorizedKeysFile %s/authorized_keys\n"
               "StrictModes no\nPermitRootLogin yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
               "UsePAM no\nPidFile %s/sshd.pid\n", port, dir, dir, dir);
    fclose(f);
    pid_t sshd = fork();
    if (sshd == 0) {
        execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-e", "-f", conf, (char *)NULL);
        _exit(127);
    }
    /* Until sshd answers. */
    bool up = false;
    for (int i = 0; i < 100 && !up; i++) {
        up = sh("ssh -p %d -i %s/client_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                "-o BatchMode=yes -o LogLevel=ERROR localhost true 2>/dev/null", port, dir) == 0;
        if (!up) usleep(100000);
    }
    cr_assert(up, "sshd on port %d accepts our key", port);

    peerd *d = peerd_start(NULL);
    char opts[1024], key[300], portstr[16];
    snprintf(key, sizeof key, "%s/client_key", dir);
    snprintf(portstr, sizeof portstr, "%d", port);
    const char *name = unique_name("ssh");
    snprintf(opts, sizeof opts,
             "{\"name\":\"%s\",\"host\":\"localhost\",\"connection\":\"standard_io\",\"exec\":[\"ssh\",\"-p\",\"%s\",\"-i\",\"%s\","
             "\"-o\",\"StrictHostKeyChecking=no\",\"-o\",\"UserKnownHostsFile=/dev/null\",\"-o\",\"BatchMode=yes\","
             "\"-o\",\"LogLevel=ERROR\",\"localhost\",\"erl\"]}", name, portstr, key);
    char *id = start_peer(d, opts);
    resp *r = call(d, id, "erlang", "node", "[]");
    char want[128];
    snprintf(want, sizeof want, "'%s@localhost'", name);
    cr_expect_str_eq(jstr(r, "result"), want, "the ssh-ed node is NAME@localhost: %s", r->body);
    resp_free(r);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    r = http(d, "GET", path, NULL);
    pid_t node = (pid_t)jnum(r, "os_pid");
    cr_expect_str_eq(jstr(r, "exec"), "ssh");
    resp_free(r);
    r = http(d, "DELETE", path, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    cr_expect(process_gone(node, 10000), "the node behind ssh halted when its stdin closed");
    free(id);
    peerd_stop(d);
    kill(sshd, SIGTERM);
    child_wait(sshd, 5000);
    sh("rm -rf %s", dir);
}

Test(remote, another_host_in_a_network_namespace, .timeout = 90)
{
    needs(sh("command -v ip >/dev/null") == 0, "iproute2");
    if (geteuid() != 0) cr_skip_test("a network namespace needs root");
    int k = getpid() % 200 + 20;
    char ns[32], host_if[16], ns_if[16], host_ip[32], ns_ip[32];
    snprintf(ns, sizeof ns, "peerd-t%d", (int)getpid());
    snprintf(host_if, sizeof host_if, "pdh%d", (int)getpid() % 100000);
    snprintf(ns_if, sizeof ns_if, "pdn%d", (int)getpid() % 100000);
    snprintf(host_ip, sizeof host_ip, "10.213.%d.1", k);
    snprintf(ns_ip, sizeof ns_ip, "10.213.%d.2", k);
    drop_links_in(213, k);
    if (sh("ip netns add %s 2>/dev/null", ns) != 0) cr_skip_test("this machine cannot create network namespaces");
    cr_assert_eq(sh("ip link add %s type veth peer name %s && ip link set %s netns %s && "
                    "ip addr add %s/30 dev %s && ip link set %s up && "
                    "ip -n %s addr add %s/30 dev %s && ip -n %s link set %s up && ip -n %s link set lo up",
                    host_if, ns_if, ns_if, ns, host_ip, host_if, host_if, ns, ns_ip, ns_if, ns, ns_if, ns), 0);
    peerd *d = peerd_start(NULL);
    char opts[512];
    snprintf(opts, sizeof opts, "{\"connection\":{\"ip\":\"%s\",\"port\":0},\"exec\":[\"ip\",\"netns\",\"exec\",\"%s\",\"erl\"]}", host_ip, ns);
    char *id = start_peer(d, opts);
    resp *r = call(d, id, "inet", "getifaddrs", "[]");
    int a, b, c;
    sscanf(ns_ip, "%d.%d.%d", &a, &b, &c);
    char mine[64], theirs[64];
    snprintf(mine, sizeof mine, "{%d,%d,%d,2}", a, b, c);
    snprintf(theirs, sizeof theirs, "{%d,%d,%d,1}", a, b, c);
    cr_expect(strstr(jstr(r, "result"), mine) && !strstr(jstr(r, "result"), theirs),
              "the node runs in the namespace, with its address and not peerd's: %s", jstr(r, "result"));
    resp_free(r);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    r = http(d, "DELETE", path, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    free(id);
    peerd_stop(d);
    sh("ip link del %s 2>/dev/null; ip netns del %s", host_if, ns);
}

/* A distribution node on another host (a network namespace behind a veth
 * pair), with long names: it registers in that host's epmd and connects back to
 * peerd's node at --dist-address. */
Test(remote, distribution_from_a_network_namespace, .timeout = 90)
{
    needs(sh("command -v ip >/dev/null") == 0, "iproute2");
    if (geteuid() != 0) cr_skip_test("a network namespace needs root");
    int k = (getpid() + 7) % 200 + 20;
    char ns[32], host_if[16], ns_if[16], host_ip[32], ns_ip[32];
    snprintf(ns, sizeof ns, "peerd-d%d", (int)getpid());
    snprintf(host_if, sizeof host_if, "pdd%d", (int)getpid() % 100000);
    snprintf(ns_if, sizeof ns_if, "pde%d", (int)getpid() % 100000);
    snprintf(host_ip, sizeof host_ip, "10.215.%d.1", k);
    snprintf(ns_ip, sizeof ns_ip, "10.215.%d.2", k);
    drop_links_in(215, k);
    if (sh("ip netns add %s 2>/dev/null", ns) != 0) cr_skip_test("this machine cannot create network namespaces");
    cr_assert_eq(sh("ip link add %s type veth peer name %s && ip link set %s netns %s && "
                    "ip addr add %s/30 dev %s && ip link set %s up && "
                    "ip -n %s addr add %s/30 dev %s && ip -n %s link set %s up && ip -n %s link set lo up",
                    host_if, ns_if, ns_if, ns, host_ip, host_if, host_if, ns, ns_ip, ns_if, ns, ns_if, ns), 0);
    epmd_up_in(ns);
    const char *args[] = { "--dist-address", host_ip, NULL };
    peerd *d = peerd_start(args);
    char opts[512], name[64];
    snprintf(name, sizeof name, "%s", unique_name("nsdist"));
    snprintf(opts, sizeof opts, "{\"name\":\"%s\",\"longnames\":true,\"host\":\"%s\",\"connection\":\"distribution\","
             "\"exec\":[\"ip\",\"netns\",\"exec\",\"%s\",\"erl\"]}", name, ns_ip, ns);
    char *id = start_peer(d, opts);
    resp *r = call(d, id, "erlang", "node", "[]");
    char want[128];
    snprintf(want, sizeof want, "'%s@%s'", name, ns_ip);
    cr_expect_str_eq(jstr(r, "result"), want, "%s", r->body);
    resp_free(r);
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    r = http(d, "GET", path, NULL);
    snprintf(want, sizeof want, "@%s\"", host_ip);
    cr_expect(strstr(r->body, want), "peerd's node is at --dist-address: %s", r->body);
    pid_t os_pid = (pid_t)jnum(r, "os_pid");
    resp_free(r);
    r = http(d, "DELETE", path, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    resp_free(r);
    cr_expect(process_gone(os_pid, 10000), "the node in the namespace still runs");
    free(id);
    peerd_stop(d);
    /* The namespace's epmd goes with it. */
    sh("ip netns pids %s | xargs -r kill 2>/dev/null; ip link del %s 2>/dev/null; ip netns del %s", ns, host_if, ns);
}
