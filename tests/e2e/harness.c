/*
 * harness.c — start peerd, talk HTTP with libcurl.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
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
    cr_assert(strstr(line, "peerd listening on http://127.0.0.1:") && colon, "unexpected first line: %s", line);
    d->port = atoi(colon + 1);
    snprintf(d->base, sizeof d->base, "http://127.0.0.1:%d", d->port);
    return d;
}

/* A sanitizer report in peerd's log fails the test that ran it. */
static void check_log(peerd *d)
{
    FILE *f = fopen(d->log, "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f))
        cr_expect(!strstr(line, "Sanitizer") && !strstr(line, "runtime error"), "peerd (%s): %s", d->log, line);
    if (f) fclose(f);
    unlink(d->log);
}

int peerd_stop(peerd *d)
{
    if (!d || !d->pid) return -1;
    kill(d->pid, SIGTERM);
    int status;
    int rc = waitpid(d->pid, &status, 0) == d->pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    check_log(d);
    free(d);
    return rc;
}

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
    CURL *c = curl_easy_init();
    resp *r = calloc(1, sizeof *r);
    r->body = calloc(1, 1);
    char url[1024];
    snprintf(url, sizeof url, "%s%s", d->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    struct curl_slist *h = NULL;
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
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

resp *call(peerd *d, const char *id, const char *module, const char *function, const char *args_json)
{
    char path[256], body[4096];
    snprintf(path, sizeof path, "/peers/%s/call", id);
    snprintf(body, sizeof body, "{\"module\":\"%s\",\"function\":\"%s\",\"args\":%s}", module, function, args_json);
    return http(d, "POST", path, body);
}

const char *unique_name(const char *prefix)
{
    static char name[64];
    static int n;
    snprintf(name, sizeof name, "%s-%d-%d", prefix, (int)getpid(), ++n);
    return name;
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
