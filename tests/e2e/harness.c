/*
 * harness.c — start peerd, talk HTTP with libcurl.
 */
#include "harness.h"

#include <stdarg.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/prctl.h>
#include <unistd.h>

peerd *peerd_start(const char *const *extra)
{
    peerd *d = calloc(1, sizeof *d);
    int out[2];
    cr_assert_eq(pipe(out), 0);
    static int seq;
    snprintf(d->log, sizeof d->log, "/tmp/peerd-test-%d-%d.log", (int)getpid(), ++seq);
    d->pid = fork();
    cr_assert_neq(d->pid, -1);
    if (d->pid == 0) {
        /* A test that fails (or crashes) leaves no peerd, and so no node, behind. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        FILE *log = fopen(d->log, "a");
        if (log) dup2(fileno(log), 2);
        /* Under a sanitizer build, peerd's own leaks count (see peerd_stop). */
        setenv("ASAN_OPTIONS", "detect_leaks=1", 1);
        const char *argv[32] = { PEERD_BIN, "--listen", "127.0.0.1:0" };
        int n = 3;
        for (int i = 0; extra && extra[i] && n < 31; i++) argv[n++] = extra[i];
        argv[n] = NULL;
        execv(PEERD_BIN, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[256] = "";
    cr_assert(fgets(line, sizeof line, f), "peerd printed nothing (see %s)", d->log);
    fclose(f);
    char *colon = strrchr(line, ':');
    bool tls = !strncmp(line, "peerd listening on https://", 27);
    cr_assert((tls || !strncmp(line, "peerd listening on http://", 26)) && colon, "unexpected first line: %s", line);
    d->port = atoi(colon + 1);
    snprintf(d->base, sizeof d->base, "%s://127.0.0.1:%d", tls ? "https" : "http", d->port);
    return d;
}

int peerd_refused(const char *const *args, char *err, size_t errlen)
{
    char log[128];
    snprintf(log, sizeof log, "/tmp/peerd-refused-%d.log", (int)getpid());
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        FILE *f = fopen(log, "w");
        if (f) dup2(fileno(f), 2);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        const char *argv[32] = { PEERD_BIN };
        int n = 1;
        for (int i = 0; args && args[i] && n < 31; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(PEERD_BIN, (char *const *)argv);
        _exit(127);
    }
    int status = -1;
    for (int i = 0; i < 500; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        if (i == 499) { kill(pid, SIGKILL); waitpid(pid, &status, 0); return -1; }
        usleep(10000);
    }
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(err, 1, errlen - 1, f) : 0;
    err[n] = 0;
    if (f) fclose(f);
    unlink(log);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A sanitizer report in peerd's log fails the test that ran it. */
static void check_log(peerd *d)
{
    FILE *f = fopen(d->log, "r");
    char line[1024];
    bool clean = true;
    while (f && fgets(line, sizeof line, f)) {
        bool bad = strstr(line, "Sanitizer") || strstr(line, "runtime error");
        cr_expect(!bad, "peerd (%s, kept): %s", d->log, line);
        clean &= !bad;
    }
    if (f) fclose(f);
    if (clean) unlink(d->log);
}

int peerd_stop_with_log(peerd *d, char **log)
{
    if (!d || !d->pid) return -1;
    kill(d->pid, SIGTERM);
    int status;
    int rc = waitpid(d->pid, &status, 0) == d->pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (log) *log = slurp(d->log, NULL);
    check_log(d);
    free(d);
    return rc;
}

int peerd_stop(peerd *d) { return peerd_stop_with_log(d, NULL); }

void peerd_kill(peerd *d)
{
    if (!d || !d->pid) return;
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    unlink(d->log);
    free(d);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    resp *r = ud;
    size_t len = size * n;
    r->body = realloc(r->body, r->len + len + 1);
    memcpy(r->body + r->len, p, len);
    r->len += len;
    r->body[r->len] = 0;
    return len;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    if (len <= n + 1 || strncasecmp(line, name, n) || line[n] != ':') return;
    const char *v = line + n + 1;
    while (*v == ' ') v++;
    size_t vl = (size_t)(line + len - v);
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n')) vl--;
    if (vl >= outlen) vl = outlen - 1;
    memcpy(out, v, vl);
    out[vl] = 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    resp *r = ud;
    size_t len = size * n;
    header_value(p, len, "Allow", r->allow, sizeof r->allow);
    header_value(p, len, "X-Console-Start", r->console_start, sizeof r->console_start);
    header_value(p, len, "X-Console-End", r->console_end, sizeof r->console_end);
    return len;
}

resp *http(peerd *d, const char *method, const char *path, const char *body)
{
    return http_with(d, method, path, body, NULL);
}

resp *http_with(peerd *d, const char *method, const char *path, const char *body, const char *const *headers)
{
    return http_body(d, method, path, body, body ? strlen(body) : 0, "application/json", headers);
}

resp *http_body(peerd *d, const char *method, const char *path, const void *body, size_t len, const char *ctype,
                const char *const *headers)
{
    CURL *c = curl_easy_init();
    resp *r = calloc(1, sizeof *r);
    r->body = calloc(1, 1);
    char url[1024];
    snprintf(url, sizeof url, "%s%s", d->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);   /* no body will come */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    struct curl_slist *h = NULL;
    if (d->token[0]) {
        char auth[200];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", d->token);
        h = curl_slist_append(h, auth);
    }
    for (int i = 0; headers && headers[i]; i++) h = curl_slist_append(h, headers[i]);
    if (d->cainfo[0]) curl_easy_setopt(c, CURLOPT_CAINFO, d->cainfo);
    if (body) {
        char type[160];
        snprintf(type, sizeof type, "Content-Type: %s", ctype);
        h = curl_slist_append(h, type);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (h) curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode rc = curl_easy_perform(c);
    cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) snprintf(r->ctype, sizeof r->ctype, "%s", ct);
    if (strstr(r->ctype, "json")) r->json = cJSON_Parse(r->body);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

resp *http_until(peerd *d, const char *method, const char *path, const char *body,
                 bool (*done)(const resp *r, const void *ud), const void *ud, int ms)
{
    for (int waited = 0;; waited += 20) {
        resp *r = http(d, method, path, body);
        if (done(r, ud) || waited >= ms) return r;
        resp_free(r);
        usleep(20000);
    }
}

bool has_status(const resp *r, const void *status) { return r->status == *(const long *)status; }
bool has_text(const resp *r, const void *needle) { return strstr(r->body, needle) != NULL; }
bool has_body(const resp *r, const void *unused) { (void)unused; return r->len > 0; }

bool has_all(const resp *r, const void *needles)
{
    for (const char *const *n = needles; *n; n++)
        if (!strstr(r->body, *n)) return false;
    return true;
}

int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

void drop_links_in(int a, int b)
{
    sh("ip -br addr | awk '$3 ~ /^10\\.%d\\.%d\\./ {sub(/@.*/, \"\", $1); print $1}' | xargs -r -n1 ip link del 2>/dev/null", a, b);
}

int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

void resp_free(resp *r)
{
    if (!r) return;
    cJSON_Delete(r->json);
    free(r->body);
    free(r);
}

const char *jstr(const resp *r, const char *key)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(r->json, key);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

double jnum(const resp *r, const char *key)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(r->json, key);
    return cJSON_IsNumber(j) ? j->valuedouble : -1;
}

char *start_peer(peerd *d, const char *options)
{
    resp *r = http(d, "POST", "/peers", options);
    cr_assert_eq(r->status, 201, "POST /peers %s: %ld %s", options, r->status, r->body);
    cr_assert_str_eq(jstr(r, "state"), "running");
    char *id = strdup(jstr(r, "id"));
    resp_free(r);
    return id;
}

char *incarnation_of(peerd *d, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    resp *r = http(d, "GET", path, NULL);
    const char *inc = jstr(r, "incarnation");
    cr_assert(inc && strlen(inc) == 16, "GET %s: %s", path, r->body);
    char *s = strdup(inc);
    resp_free(r);
    return s;
}

resp *call(peerd *d, const char *id, const char *module, const char *function, const char *args_json)
{
    char path[256], body[4096];
    snprintf(path, sizeof path, "/peers/%s/call", id);
    snprintf(body, sizeof body, "{\"module\":\"%s\",\"function\":\"%s\",\"args\":%s}", module, function, args_json);
    return http(d, "POST", path, body);
}

void peer_cast(peerd *d, const char *id, const char *module, const char *function, const char *args_json)
{
    char path[256], body[4096];
    snprintf(path, sizeof path, "/peers/%s/cast", id);
    snprintf(body, sizeof body, "{\"module\":\"%s\",\"function\":\"%s\",\"args\":%s}", module, function, args_json);
    resp *r = http(d, "POST", path, body);
    cr_expect_eq(r->status, 202, "cast %s:%s: %s", module, function, r->body);
    resp_free(r);
}

void delete_peer(peerd *d, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    resp *r = http(d, "DELETE", path, NULL);
    cr_expect_eq(r->status, 200, "stop: %s", r->body);
    cr_expect_str_eq(jstr(r, "state"), "down");
    resp_free(r);
}

const char *unique_name(const char *prefix)
{
    static char name[64];
    static int n;
    snprintf(name, sizeof name, "%s-%d-%d", prefix, (int)getpid(), ++n);
    return name;
}

void epmd_up_in(const char *ns)
{
    cr_assert_eq(sh("ip netns exec %s epmd -daemon", ns), 0, "epmd -daemon in %s", ns);
    bool up = false;
    for (int i = 0; i < 200 && !up; i++) {
        up = sh("ip netns exec %s bash -c '</dev/tcp/127.0.0.1/4369' 2>/dev/null", ns) == 0;
        if (!up) usleep(50000);
    }
    cr_assert(up, "epmd in %s listens within 10 s", ns);
}

bool process_gone(pid_t pid, int ms)
{
    for (int waited = 0; waited <= ms; waited += 20) {
        char path[64], line[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f) return true;
        bool zombie = false;
        if (fgets(line, sizeof line, f)) {
            char *rp = strrchr(line, ')');
            zombie = rp && rp[1] == ' ' && rp[2] == 'Z';
        }
        fclose(f);
        if (zombie) return true;
        usleep(20000);
    }
    return false;
}

static char *value_of(const resp *r)
{
    return cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r->json, "value"));
}

/* The second element of an {ok, X, ...} value. */
static char *second_of(const resp *r)
{
    cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->json, "value"), "$tuple");
    return cJSON_PrintUnformatted(cJSON_GetArrayItem(t, 1));
}

resp *node_eval(peerd *d, const char *id, const char *code, bool cast)
{
    cJSON *args = cJSON_CreateArray();
    char *src = malloc(strlen(code) + 2);
    sprintf(src, "%s.", code);
    cJSON_AddItemToArray(args, cJSON_CreateObject());
    cJSON_AddStringToObject(cJSON_GetArrayItem(args, 0), "$charlist", src);
    free(src);
    char *a = cJSON_PrintUnformatted(args);
    cJSON_Delete(args);
    resp *r = call(d, id, "erl_scan", "string", a);
    free(a);
    cr_assert_eq(r->status, 200, "erl_scan: %s", r->body);
    char *tokens = second_of(r);
    resp_free(r);
    size_t n = strlen(tokens) + 8;
    char *targs = malloc(n);
    snprintf(targs, n, "[%s]", tokens);
    free(tokens);
    r = call(d, id, "erl_parse", "parse_exprs", targs);
    free(targs);
    cr_assert_eq(r->status, 200, "erl_parse: %s", r->body);
    char *exprs = second_of(r);
    resp_free(r);
    n = strlen(exprs) + 16;
    char *eargs = malloc(n);
    snprintf(eargs, n, "[%s, []]", exprs);
    free(exprs);
    if (cast) {
        char path[256];
        snprintf(path, sizeof path, "/peers/%s/cast", id);
        size_t bl = strlen(eargs) + 128;
        char *body = malloc(bl);
        snprintf(body, bl, "{\"module\":\"erl_eval\",\"function\":\"exprs\",\"args\":%s}", eargs);
        r = http(d, "POST", path, body);
        free(body);
        free(eargs);
        cr_assert_eq(r->status, 202, "cast erl_eval: %s", r->body);
        resp_free(r);
        return NULL;
    }
    r = call(d, id, "erl_eval", "exprs", eargs);
    free(eargs);
    (void)value_of;
    return r;
}

resp *wait_state(peerd *d, const char *id, const char *state, int timeout_ms)
{
    char path[256];
    snprintf(path, sizeof path, "/peers/%s/wait?state=%s&timeout_ms=%d", id, state, timeout_ms);
    return http(d, "GET", path, NULL);
}

pid_t curl_spawn(peerd *d, const char *path, const char *out_path, const char *const *extra_args)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", d->base, path);
    /* Emptied before this returns: what an earlier run left at the same path
     * must not be read (file_has) before curl's own open truncates it. */
    FILE *empty = fopen(out_path, "w");
    cr_assert(empty, "cannot write %s", out_path);
    fclose(empty);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        FILE *out = fopen(out_path, "w");
        if (out) dup2(fileno(out), 1);
        const char *argv[16] = { "curl", "-sN" };
        int n = 2;
        for (int i = 0; extra_args && extra_args[i] && n < 14; i++) argv[n++] = extra_args[i];
        argv[n++] = url;
        argv[n] = NULL;
        execvp("curl", (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int child_wait(pid_t pid, int ms)
{
    for (int waited = 0; waited <= ms; waited += 10) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        usleep(10000);
    }
    return -1;
}

char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f) { if (len) *len = 0; return strdup(""); }
    char *data = NULL;
    size_t n = 0, cap = 0;
    char chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (n + k + 1 > cap) { cap = (n + k + 1) * 2; data = realloc(data, cap); }
        memcpy(data + n, chunk, k);
        n += k;
    }
    fclose(f);
    if (!data) data = calloc(1, 1);
    data[n] = 0;
    if (len) *len = n;
    return data;
}

/* Waits until a file holds `needle` (the stream is attached and flowing). */
bool file_has(const char *path, const char *needle, int ms)
{
    for (int waited = 0; waited <= ms; waited += 20) {
        char *c = slurp(path, NULL);
        bool found = strstr(c, needle) != NULL;
        free(c);
        if (found) return true;
        usleep(20000);
    }
    return false;
}

pid_t os_pid_of(peerd *d, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/peers/%s", id);
    resp *r = http(d, "GET", path, NULL);
    pid_t pid = (pid_t)jnum(r, "os_pid");
    resp_free(r);
    return pid;
}

double metric(peerd *d, const char *sample)
{
    resp *r = http(d, "GET", "/metrics", NULL);
    char line[256];
    snprintf(line, sizeof line, "\n%s ", sample);     /* the sample, not its # HELP */
    const char *at = strstr(r->body, line);
    cr_assert(at, "%s not in /metrics", sample);
    double v = atof(at + strlen(line));
    resp_free(r);
    return v;
}

const char *field(const cJSON *o, const char *key)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void expect_in_order(const char *body, const char *fmt, int from, int to)
{
    const char *at = body;
    for (int n = from; n <= to; n++) {
        char want[256];
        snprintf(want, sizeof want, fmt, n);
        const char *next = strstr(at, want);
        cr_assert(next, "%s missing or out of order: %.300s", want, at);
        at = next + strlen(want);
    }
}

int peerd_connect(peerd *d, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)d->port) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    return fd;
}
