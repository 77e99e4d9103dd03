// Threads that pass blocks to each other (cross-thread frees), short-lived threads, realloc
// chains and a fork while other threads allocate; run with libpasmalloc.so preloaded.
// Prints "ok" and exits 0 on success.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 4
#define ROUNDS 20000
#define SLOTS 256

typedef struct { unsigned char *p; size_t size; } block;
static block mailbox[THREADS][SLOTS];
static pthread_mutex_t locks[THREADS];
static volatile int failed = 0;
static volatile int stop_churn = 0;

static size_t pick(uint64_t *seed) {
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t r = *seed >> 33;
    switch (r % 16) {
    case 0: return 20000 + r % 200000;      // bitfit
    case 1: return r % 8 == 0 ? 700000 + r % 1000000 : 3000 + r % 13000;  // large or medium
    default: return 1 + r % 1024;           // small
    }
}

static void fill(block b) { memset(b.p, (int)(b.size & 0xFF), b.size); }
static int intact(block b) {
    for (size_t i = 0; i < b.size; i += 61) if (b.p[i] != (unsigned char)(b.size & 0xFF)) return 0;
    return b.p[b.size - 1] == (unsigned char)(b.size & 0xFF);
}

static void *worker(void *arg) {
    int me = (int)(intptr_t)arg;
    uint64_t seed = 12345 + (uint64_t)me;
    for (int round = 0; round < ROUNDS && !failed; round++) {
        block b = { NULL, pick(&seed) };
        b.p = malloc(b.size);
        if (!b.p) { failed = 1; break; }
        fill(b);
        if (round % 7 == 0) {
            size_t grown = b.size + pick(&seed);
            unsigned char *q = realloc(b.p, grown);
            if (!q) { failed = 1; break; }
            b.p = q;
            if (b.p[0] != (unsigned char)(b.size & 0xFF)) { failed = 2; break; }
            b.size = grown;
            fill(b);
        }
        // Put it in another thread's mailbox; free whatever was there (allocated elsewhere).
        int to = (me + 1 + round % (THREADS - 1)) % THREADS;
        int slot = (int)(seed >> 40) % SLOTS;
        pthread_mutex_lock(&locks[to]);
        block old = mailbox[to][slot];
        mailbox[to][slot] = b;
        pthread_mutex_unlock(&locks[to]);
        if (old.p) {
            if (!intact(old)) { failed = 3; break; }
            free(old.p);
        }
    }
    return NULL;
}

static void *short_lived(void *arg) {
    void **out = arg;
    for (int i = 0; i < 100; i++) free(malloc(16 + i * 8));
    *out = malloc(200);   // freed later by the main thread
    memset(*out, 7, 200);
    return NULL;
}

static void *churn(void *arg) {
    (void)arg;
    uint64_t seed = 99;
    while (!stop_churn) { size_t n = pick(&seed); void *p = malloc(n); memset(p, 1, n); free(p); }
    return NULL;
}

int main(void) {
    int (*verify)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "pas_malloc_verify");
    if (!verify || !dlsym(RTLD_DEFAULT, "pas_scavenge")) { printf("libpasmalloc.so is not preloaded\n"); return 1; }
    for (int i = 0; i < THREADS; i++) pthread_mutex_init(&locks[i], NULL);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    if (failed) { printf("worker check %d failed\n", failed); return 1; }
    for (int i = 0; i < THREADS; i++)
        for (int s = 0; s < SLOTS; s++)
            if (mailbox[i][s].p) {
                if (!intact(mailbox[i][s])) { printf("mailbox block damaged\n"); return 1; }
                free(mailbox[i][s].p);
            }

    // Short-lived threads: their caches go back at exit; main frees their last blocks.
    for (int round = 0; round < 10; round++) {
        void *left[20];
        pthread_t s[20];
        for (int i = 0; i < 20; i++) pthread_create(&s[i], NULL, short_lived, &left[i]);
        for (int i = 0; i < 20; i++) pthread_join(s[i], NULL);
        for (int i = 0; i < 20; i++) {
            if (((unsigned char *)left[i])[199] != 7) { printf("block of an exited thread damaged\n"); return 1; }
            free(left[i]);
        }
    }

    // Fork while two threads allocate: the child must be able to allocate and free.
    pthread_t c[2];
    for (int i = 0; i < 2; i++) pthread_create(&c[i], NULL, churn, NULL);
    for (int f = 0; f < 20; f++) {
        pid_t pid = fork();
        if (pid == 0) {
            uint64_t seed = 7;
            for (int i = 0; i < 2000; i++) { size_t n = pick(&seed); char *p = malloc(n); p[n - 1] = 1; free(p); }
            _exit(verify() == 0 ? 0 : 3);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            printf("forked child failed (status %d)\n", status);
            return 1;
        }
    }
    stop_churn = 1;
    for (int i = 0; i < 2; i++) pthread_join(c[i], NULL);
    if (verify() != 0) { printf("verify failed\n"); return 1; }
    printf("ok\n");
    return 0;
}
