/* Durability under kill -9, shared by the store tests: each trial forks a
 * writer that puts records "tNNN-IIIIII" one by one and acknowledges record
 * i on a pipe after its put returned; the parent kills it with SIGKILL after
 * a random 0-20 ms, then reopens the store and checks every record that any
 * trial so far acknowledged: present, and with its value. */
#ifndef HRT_TEST_KILL9_H
#define HRT_TEST_KILL9_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hrt.h"

typedef struct {
    /* In the child: put records of this trial forever, writing i to ack_fd
     * after record i is acknowledged; exit (_exit) only on a failure. */
    void (*writer)(int trial, int ack_fd);
    void *(*open)(void); /* NULL when the store does not open */
    int (*get)(void *store, const char *key, size_t key_len, void **value, size_t *value_len);
    void (*close)(void *store);
    void (*value_of)(char *buf, size_t cap, int trial, int i);
} kill9_ops;

typedef struct {
    long acknowledged; /* records acknowledged, over all trials */
    int lost, wrong;   /* absent, or present with another value (summed over the checks) */
    int opened;        /* trials after which the store opened */
} kill9_result;

static inline int kill9_key(char *buf, size_t cap, int trial, int i)
{
    return snprintf(buf, cap, "t%03d-%06d", trial, i);
}

static inline kill9_result kill9_run(const kill9_ops *ops, int trials)
{
    kill9_result r = {0};
    int *acked = calloc((size_t)trials, sizeof *acked);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int t = 0; acked && t < trials; t++) {
        int pfd[2];
        if (pipe(pfd)) break;
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            ops->writer(t, pfd[1]);
            _exit(6);
        }
        close(pfd[1]);
        usleep((useconds_t)(rand() % 20000));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        int i, last = -1;
        while (read(pfd[0], &i, sizeof i) == sizeof i) last = i;
        close(pfd[0]);
        acked[t] = last;
        r.acknowledged += last + 1;
        void *store = ops->open();
        if (!store) continue;
        r.opened++;
        for (int u = 0; u <= t; u++)
            for (int k = 0; k <= acked[u]; k++) {
                char key[32], want[160];
                kill9_key(key, sizeof key, u, k);
                ops->value_of(want, sizeof want, u, k);
                void *v = NULL;
                size_t n = 0;
                int st = ops->get(store, key, strlen(key), &v, &n);
                if (st == HRT_E_RANGE) r.lost++;
                else if (st || n != strlen(want) || memcmp(v, want, n)) r.wrong++;
                free(v);
            }
        ops->close(store);
    }
    free(acked);
    return r;
}

#endif
