// fork() while another thread runs the library's maintenance calls (malloc_trim, pas_scavenge,
// pas_malloc_verify) in a loop: every child must be able to malloc and free and exit at once.
// Run with libpasmalloc.so preloaded. Prints "ok" and exits 0 on success; a child that does not
// finish within 10 s is killed and counted as a failure (a deadlock).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FORKS 40

static volatile int stop = 0;
static size_t (*scavenge)(void);
static int (*verify)(void);

static void *maintain(void *arg) {
    (void)arg;
    unsigned n = 0;
    while (!stop) {
        void *p = malloc(100 + n % 5000);
        malloc_trim(0);
        if (scavenge && n % 2 == 0) scavenge();
        if (verify && n % 3 == 0) verify();
        free(p);
        n++;
    }
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void) {
    scavenge = (size_t (*)(void))dlsym(RTLD_DEFAULT, "pas_scavenge");
    verify = (int (*)(void))dlsym(RTLD_DEFAULT, "pas_malloc_verify");
    pthread_t t;
    if (pthread_create(&t, NULL, maintain, NULL) != 0) { printf("pthread_create failed\n"); return 1; }
    usleep(10000);
    int failed = 0;
    for (int f = 0; f < FORKS && !failed; f++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int i = 0; i < 500; i++) {
                char *p = malloc(1 + (size_t)(i * 37) % 40000);
                if (!p) _exit(2);
                p[0] = 1;
                free(p);
            }
            malloc_trim(0);
            if (verify && verify() != 0) _exit(3);
            _exit(0);
        }
        if (pid < 0) { printf("fork failed\n"); failed = 1; break; }
        int status = 0;
        double start = now();
        for (;;) {
            pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == pid) break;
            if (now() - start > 10) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                printf("child %d did not finish (deadlock)\n", f);
                failed = 1;
                break;
            }
            usleep(1000);
        }
        if (!failed && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
            printf("child %d failed (status %d)\n", f, status);
            failed = 1;
        }
    }
    stop = 1;
    pthread_join(t, NULL);
    if (failed) return 1;
    printf("ok\n");
    return 0;
}
