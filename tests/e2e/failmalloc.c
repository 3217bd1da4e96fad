/*
 * failmalloc.c — an allocator that fails, for end-to-end fault injection:
 * loaded into peerd with LD_PRELOAD, it makes every FAILMALLOC_EVERY-th
 * malloc, calloc and realloc fail (NULL, ENOMEM) from FAILMALLOC_AFTER_MS
 * after the process starts, for FAILMALLOC_FOR_MS. It takes itself and its
 * settings out of the environment at once, so the nodes peerd starts run
 * with the real allocator.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);

static uint64_t on_ns, off_ns;
static unsigned every;
static unsigned long seen;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((constructor)) static void init(void)
{
    const char *e = getenv("FAILMALLOC_EVERY"), *a = getenv("FAILMALLOC_AFTER_MS"), *f = getenv("FAILMALLOC_FOR_MS");
    if (e && a && f) {
        uint64_t t = now_ns();
        on_ns = t + strtoull(a, NULL, 10) * 1000000u;
        off_ns = on_ns + strtoull(f, NULL, 10) * 1000000u;
        every = (unsigned)strtoul(e, NULL, 10);
    }
    unsetenv("LD_PRELOAD");
    unsetenv("FAILMALLOC_EVERY");
    unsetenv("FAILMALLOC_AFTER_MS");
    unsetenv("FAILMALLOC_FOR_MS");
}

static bool fails(void)
{
    if (!every) return false;
    uint64_t t = now_ns();
    if (t < on_ns || t >= off_ns) return false;
    if (__atomic_add_fetch(&seen, 1, __ATOMIC_RELAXED) % every) return false;
    errno = ENOMEM;
    return true;
}

void *malloc(size_t n) { return fails() ? NULL : __libc_malloc(n); }
void *calloc(size_t n, size_t size) { return fails() ? NULL : __libc_calloc(n, size); }
void *realloc(void *p, size_t n) { return n && fails() ? NULL : __libc_realloc(p, n); }
