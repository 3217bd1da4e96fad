/*
 * containers.c — containers for real, with Debian's podman (a
 * docker-compatible CLI): the image docker/Dockerfile builds, serving and
 * stopping cleanly, and nodes in containers driven over standard_io and
 * TCP, gone with their containers when peerd stops them and when peerd is
 * killed. tests/run builds the image once (tests/containers/prepare) and
 * names it in PEERD_TEST_IMAGE; without one the tests skip, saying why
 * (PEERD_TEST_IMAGE_SKIP).
 *
 * These machines need explicit rlimits (podman's defaults cannot be set
 * here). The image's test publishes its port as a user would; the node
 * containers use the host's network, the TCP one to connect back to peerd
 * on 127.0.0.1.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static const char *image(void)
{
    const char *img = getenv("PEERD_TEST_IMAGE");
    if (!img || !*img) {
        const char *why = getenv("PEERD_TEST_IMAGE_SKIP");
        cr_skip_test("no container image: %s", why && *why ? why : "tests/containers/prepare was not run (tests/run runs it)");
    }
    return img;
}

/* A command's first line of output. */
static char *out_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *out_of(const char *fmt, ...)
{
    char cmd[2048], line[512] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (p && fgets(line, sizeof line, p)) line[strcspn(line, "\n")] = 0;
    if (p) pclose(p);
    return strdup(line);
}

/* True once no container of that name exists, waiting up to ms. */
static bool container_gone(const char *name, int ms)
{
    for (int waited = 0; waited <= ms; waited += 200) {
        if (sh("podman container exists %s", name) != 0) return true;
        usleep(200000);
    }
    return false;
}

Test(containers, the_image_serves_and_stops_cleanly, .timeout = 180)
{
    const char *img = image();
    char name[64], tokfile[] = "/tmp/peerd-token-XXXXXX";
    snprintf(name, sizeof name, "peerd-image-test-%d", (int)getpid());
    int fd = mkstemp(tokfile);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "image-test-token\n", 17), 17);
    close(fd);
    chmod(tokfile, 0644);   /* the image runs peerd as its own user */
    int port = free_port();
    /* What an earlier run that failed left behind. */
    sh("podman ps -aq --filter name=peerd-image-test- | xargs -r podman rm -f >/dev/null 2>&1");
    /* As a user runs it: its port published, the token a mounted secret. */
    cr_assert_eq(sh("podman run -d --name %s -p 127.0.0.1:%d:8080 --ulimit nofile=16384:16384 --ulimit nproc=16384:16384 "
                    "-v %s:/run/secrets/peerd_token:ro %s >/dev/null 2>&1", name, port, tokfile, img), 0, "podman run");
    peerd *d = calloc(1, sizeof *d);
    d->port = port;
    snprintf(d->base, sizeof d->base, "http://127.0.0.1:%d", port);
    bool up = false;
    for (int i = 0; i < 100 && !up; i++) {
        up = sh("curl -fs %s/healthz >/dev/null", d->base) == 0;
        if (!up) usleep(100000);
    }
    cr_assert(up, "the container's peerd did not answer /healthz");
    /* Its HEALTHCHECK (kept by --format docker) says healthy. */
    cr_assert_eq(sh("podman healthcheck run %s >/dev/null 2>&1", name), 0, "HEALTHCHECK");
    char *health = out_of("podman inspect --format '{{.State.Health.Status}}' %s", name);
    cr_expect_str_eq(health, "healthy");
    free(health);
    /* The token is the secret's: without it, 401. */
    resp *r = http(d, "GET", "/peers", NULL);
    cr_assert_eq(r->status, 401, "%s", r->body);
    resp_free(r);
    snprintf(d->token, sizeof d->token, "image-test-token");
    char *id = start_peer(d, "{}");
    r = call(d, id, "erlang", "node", "[]");
    cr_assert_str_eq(jstr(r, "result"), "nonode@nohost", "%s", r->body);
    resp_free(r);
    delete_peer(d, id);
    free(id);
    /* A node left running when the container is told to stop (SIGTERM):
     * peerd stops it and exits 0. */
    id = start_peer(d, "{}");
    free(id);
    cr_assert_eq(sh("podman stop -t 20 %s >/dev/null 2>&1", name), 0);
    char *code = out_of("podman inspect --format '{{.State.ExitCode}}' %s", name);
    cr_expect_str_eq(code, "0", "peerd's exit status in the container");
    free(code);
    char *log = out_of("podman logs %s 2>&1 | grep -c 'stopped'", name);
    cr_expect(atoi(log) >= 2, "the node and peerd stopped: %s", log);
    free(log);
    sh("podman rm -f %s >/dev/null 2>&1", name);
    unlink(tokfile);
    free(d);
}

/* exec for a node in a container named `name`, as README writes it. */
static void container_exec(char *out, size_t n, const char *name, const char *img)
{
    snprintf(out, n, "[\"podman\",\"run\",\"-i\",\"--rm\",\"--network\",\"host\",\"--ulimit\",\"nofile=16384:16384\","
                     "\"--ulimit\",\"nproc=16384:16384\",\"--name\",\"%s\",\"--entrypoint\",\"erl\",\"%s\"]", name, img);
}

static void node_in_a_container(const char *connection)
{
    const char *img = image();
    peerd *d = peerd_start(NULL);
    char cname[64], exec[512], opts[1024];
    snprintf(cname, sizeof cname, "peerd-node-%d-1", (int)getpid());
    container_exec(exec, sizeof exec, cname, img);
    snprintf(opts, sizeof opts, "{\"exec\":%s,\"connection\":%s,\"wait_boot\":60000}", exec, connection);
    char *id = start_peer(d, opts);
    cr_assert_eq(sh("podman container exists %s", cname), 0, "the node runs in container %s", cname);
    resp *r = call(d, id, "erlang", "node", "[]");
    cr_assert_str_eq(jstr(r, "result"), "nonode@nohost", "%s", r->body);
    resp_free(r);
    /* Inside the container: its own file system (the image's user). */
    r = call(d, id, "os", "getenv", "[{\"$charlist\":\"HOME\"}]");
    cr_assert_str_eq(jstr(r, "result"), "\"/home/peerd\"", "%s", r->body);
    resp_free(r);
    delete_peer(d, id);
    free(id);
    cr_assert(container_gone(cname, 15000), "container %s is still there after the peer stopped", cname);

    /* peerd killed: the control connection closes, the node halts, and
     * podman run -i --rm removes its container. */
    snprintf(cname, sizeof cname, "peerd-node-%d-2", (int)getpid());
    container_exec(exec, sizeof exec, cname, img);
    snprintf(opts, sizeof opts, "{\"exec\":%s,\"connection\":%s,\"wait_boot\":60000}", exec, connection);
    id = start_peer(d, opts);
    free(id);
    peerd_kill(d);
    cr_assert(container_gone(cname, 20000), "container %s is still there after peerd was killed", cname);
}

Test(containers, a_node_in_a_container_over_standard_io, .timeout = 180) { node_in_a_container("\"standard_io\""); }

/* The node connects back over TCP from the container (host network);
 * detached false keeps erl in the foreground, so the container lives as
 * long as the node. */
Test(containers, a_node_in_a_container_over_tcp, .timeout = 180)
{
    node_in_a_container("{\"ip\":\"127.0.0.1\",\"port\":0},\"detached\":false");
}

/* docker/compose.yaml as README tells a user to run it, with Debian's
 * podman-compose: up, a peer started and called through it, down. It
 * publishes port 8080: skipped, saying so, when something holds it. */
Test(containers, the_compose_example, .timeout = 180)
{
    image();
    if (sh("command -v podman-compose >/dev/null") != 0) cr_skip_test("podman-compose is not installed");
    if (sh("curl -s -o /dev/null --max-time 1 http://127.0.0.1:8080/") == 0) cr_skip_test("something already listens on 127.0.0.1:8080");
    const char *dir = PEERD_SOURCE_DIR "/docker";
    char tok[512];
    snprintf(tok, sizeof tok, "%s/peerd_token", dir);
    bool made = access(tok, F_OK) != 0;
    if (made) {
        FILE *f = fopen(tok, "w");
        cr_assert(f);
        fputs("compose-test-token\n", f);
        fclose(f);
        chmod(tok, 0644);
    }
    size_t n = 0;
    char *secret = slurp(tok, &n);
    while (n && (secret[n - 1] == '\n' || secret[n - 1] == '\r')) secret[--n] = 0;
    cr_assert_eq(sh("cd %s && podman-compose -f compose.yaml up -d >/dev/null 2>&1", dir), 0, "podman-compose up");
    peerd *d = calloc(1, sizeof *d);
    snprintf(d->base, sizeof d->base, "http://127.0.0.1:8080");
    snprintf(d->token, sizeof d->token, "%s", secret);
    bool up = false;
    for (int i = 0; i < 100 && !up; i++) {
        up = sh("curl -fs %s/healthz >/dev/null", d->base) == 0;
        if (!up) usleep(100000);
    }
    cr_assert(up, "compose's peerd did not answer /healthz");
    char *id = start_peer(d, "{}");
    resp *r = call(d, id, "erlang", "node", "[]");
    cr_expect_str_eq(jstr(r, "result"), "nonode@nohost", "%s", r->body);
    resp_free(r);
    delete_peer(d, id);
    free(id);
    cr_assert_eq(sh("cd %s && podman-compose -f compose.yaml down >/dev/null 2>&1", dir), 0, "podman-compose down");
    char *left = out_of("podman ps -a --filter name=docker_peerd --format '{{.Names}}'");
    cr_expect_str_eq(left, "", "down removes the container");
    free(left);
    if (made) unlink(tok);
    free(secret);
    free(d);
}
