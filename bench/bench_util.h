/* Shared by the bench programs: a sluice allocator that counts what sluice itself
 * allocates (OpenSSL and libc allocate on their own; a size header in front of every
 * block), wall and CPU clocks, and the process RSS. Header-only: each bench is one file. */
#ifndef SLUICE_BENCH_UTIL_H
#define SLUICE_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct counter {
    size_t live, peak;
} counter;

static void *count_malloc(size_t size, void *user) {
    counter *k = user;
    size_t *p = malloc(size + 16);
    if (!p) return NULL;
    p[0] = size;
    k->live += size;
    if (k->live > k->peak) k->peak = k->live;
    return (char *)p + 16;
}

static void count_free(void *ptr, void *user) {
    if (!ptr) return;
    counter *k = user;
    size_t *p = (size_t *)(void *)((char *)ptr - 16);
    k->live -= p[0];
    free(p);
}

static void *count_realloc(void *ptr, size_t size, void *user) {
    if (!ptr) return count_malloc(size, user);
    if (size == 0) {
        count_free(ptr, user);
        return NULL;
    }
    counter *k = user;
    size_t *p = (size_t *)(void *)((char *)ptr - 16);
    size_t old = p[0];
    size_t *q = realloc(p, size + 16);
    if (!q) return NULL;
    q[0] = size;
    k->live = k->live - old + size;
    if (k->live > k->peak) k->peak = k->live;
    return (char *)q + 16;
}

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return (double)kb / 1024.0;
}

#endif
