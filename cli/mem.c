/* hrt mem: the memory tiers from the command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hrt.h"

static const char *HELP_MEM =
    "usage: hrt mem SUBCOMMAND [options]\n"
    "The tiered memory in a directory (hot in this process, warm SQLite, cold segments).\n\n"
    "subcommands:\n"
    "  stats              entries and bytes per tier; hits, misses and latency\n"
    "                     percentiles count this process's operations only\n"
    "  get KEY            print the value of KEY (exit 1 when absent)\n"
    "  put KEY [VALUE]    store VALUE, or standard input when VALUE is absent or '-'\n"
    "  del KEY            delete KEY from every tier\n"
    "  compact            run maintenance: expiry, demotion, full cold compaction\n"
    "  turns SESSION      print the last turns of a conversation session\n\n"
    "options:\n"
    "  --dir DIR          the memory directory ($HRT_MEMORY_DIR, else ./hrt-memory)\n"
    "  --json             machine-readable output\n"
    "  --ttl SECONDS      put: the record expires after this long\n"
    "  -n N               turns: how many (default 20)\n"
    "  --hot-mb N, --warm-mb N, --max-age-days N   tier budgets (defaults 64, 1024, 7)\n";

typedef struct {
    const char *dir;
    int json, n;
    long ttl;
    hrt_memory_params p;
    char *args[3];
    int n_args;
} mem_opts;

static int parse(int argc, char **argv, mem_opts *o)
{
    o->dir = getenv("HRT_MEMORY_DIR");
    if (!o->dir || !*o->dir) o->dir = "hrt-memory";
    o->n = 20;
    o->p = hrt_memory_default_params();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        else if (!strcmp(a, "--dir")) o->dir = need_arg("mem", argc, argv, &i);
        else if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "--ttl")) o->ttl = parse_int("mem", a, need_arg("mem", argc, argv, &i));
        else if (!strcmp(a, "-n")) o->n = (int)parse_int("mem", a, need_arg("mem", argc, argv, &i));
        else if (!strcmp(a, "--hot-mb")) o->p.hot_bytes = (size_t)parse_int("mem", a, need_arg("mem", argc, argv, &i)) << 20;
        else if (!strcmp(a, "--warm-mb")) o->p.warm_bytes = (uint64_t)parse_int("mem", a, need_arg("mem", argc, argv, &i)) << 20;
        else if (!strcmp(a, "--max-age-days"))
            o->p.warm_max_age_s = (int64_t)(parse_num("mem", a, need_arg("mem", argc, argv, &i)) * 86400);
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) continue;
        else if (a[0] == '-' && a[1]) die_usage("mem", "unknown option '%s'", a);
        else if (o->n_args == 3) die_usage("mem", "too many arguments");
        else o->args[o->n_args++] = argv[i];
    }
    if (o->ttl < 0 || o->n < 0) die_usage("mem", "--ttl and -n must be >= 0");
    o->p.hot_max_value = o->p.hot_bytes / 64;
    return 0;
}

static const char *TIER_NAMES[] = {"none", "hot", "warm", "cold"};

static void print_stats(const hrt_memory_stats *s, int json)
{
    if (json) {
        printf("{\"tiers\": {");
        for (int t = 1; t <= 3; t++) {
            const hrt_memory_tier_stats *x = &s->tier[t];
            printf("%s\"%s\": {\"entries\": %llu, \"bytes\": %llu, \"budget\": %llu, \"hits\": %llu, \"misses\": %llu, "
                   "\"promotions\": %llu, \"demotions\": %llu, \"get_p50_us\": %.3f, \"get_p99_us\": %.3f}",
                   t > 1 ? ", " : "", TIER_NAMES[t], (unsigned long long)x->entries, (unsigned long long)x->bytes,
                   (unsigned long long)x->budget, (unsigned long long)x->hits, (unsigned long long)x->misses,
                   (unsigned long long)x->promotions, (unsigned long long)x->demotions, x->p50_us, x->p99_us);
        }
        printf("}, \"misses\": %llu, \"puts\": %llu, \"vectors\": %llu, \"cold_segments\": %llu, "
               "\"cold_corrupt_blocks\": %llu}\n",
               (unsigned long long)s->tier[0].misses, (unsigned long long)s->puts, (unsigned long long)s->vectors,
               (unsigned long long)s->cold_segments, (unsigned long long)s->cold_corrupt_blocks);
        return;
    }
    printf("%-5s %10s %14s %14s %8s %8s %10s %10s\n", "tier", "entries", "bytes", "budget", "hits", "misses",
           "p50 us", "p99 us");
    for (int t = 1; t <= 3; t++) {
        const hrt_memory_tier_stats *x = &s->tier[t];
        printf("%-5s %10llu %14llu %14llu %8llu %8llu %10.2f %10.2f\n", TIER_NAMES[t], (unsigned long long)x->entries,
               (unsigned long long)x->bytes, (unsigned long long)x->budget, (unsigned long long)x->hits,
               (unsigned long long)x->misses, x->p50_us, x->p99_us);
    }
    printf("vectors %llu, cold segments %llu, corrupt cold blocks skipped %llu\n", (unsigned long long)s->vectors,
           (unsigned long long)s->cold_segments, (unsigned long long)s->cold_corrupt_blocks);
}

static int fail(const char *what)
{
    fprintf(stderr, "hrt mem %s: %s\n", what, hrt_last_error());
    return EXIT_FAIL;
}

int cmd_mem(int argc, char **argv)
{
    mem_opts o = {0};
    if (parse(argc, argv, &o)) {
        fputs(HELP_MEM, stdout);
        return EXIT_OK;
    }
    if (!o.n_args) die_usage("mem", "a subcommand is needed: stats, get, put, del, compact or turns");
    const char *sub = o.args[0];
    int want = !strcmp(sub, "stats") || !strcmp(sub, "compact") ? 1 : !strcmp(sub, "put") ? -1 : 2;
    if (strcmp(sub, "stats") && strcmp(sub, "get") && strcmp(sub, "put") && strcmp(sub, "del") &&
        strcmp(sub, "compact") && strcmp(sub, "turns"))
        die_usage("mem", "unknown subcommand '%s'", sub);
    if (want > 0 ? o.n_args != want : o.n_args < 2) die_usage("mem", "%s: wrong number of arguments", sub);
    hrt_memory *m = NULL;
    if (hrt_memory_open(o.dir, &o.p, &m)) return fail("open");
    int rc = EXIT_OK;
    if (!strcmp(sub, "stats")) {
        hrt_memory_stats s;
        if (hrt_memory_stats_get(m, &s)) rc = fail(sub);
        else print_stats(&s, o.json);
    } else if (!strcmp(sub, "get")) {
        void *v = NULL;
        size_t n = 0;
        int tier = 0, st = hrt_memory_get(m, o.args[1], strlen(o.args[1]), &v, &n, &tier);
        if (st == HRT_E_RANGE) {
            fprintf(stderr, "hrt mem get: '%s' is not in %s\n", o.args[1], o.dir);
            rc = EXIT_FAIL;
        } else if (st) {
            rc = fail(sub);
        } else if (o.json) {
            printf("{\"key\": ");
            json_str(stdout, o.args[1], strlen(o.args[1]));
            printf(", \"tier\": \"%s\", \"value\": ", TIER_NAMES[tier]);
            json_str(stdout, v, n);
            printf("}\n");
        } else {
            fwrite(v, 1, n, stdout);
            if (isatty(1) && n && ((char *)v)[n - 1] != '\n') putchar('\n');
        }
        hrt_free(v);
    } else if (!strcmp(sub, "put")) {
        size_t n = 0;
        char *v = o.n_args == 3 && strcmp(o.args[2], "-") ? strdup(o.args[2]) : read_all(stdin, &n);
        if (!v) {
            fprintf(stderr, "hrt mem put: out of memory\n");
            rc = EXIT_FAIL;
        } else {
            hrt_memory_record r = {o.args[1], strlen(o.args[1]), v, strlen(v), NULL, 0, o.ttl};
            if (o.n_args < 3 || !strcmp(o.args[2], "-")) r.value_len = n;
            if (hrt_memory_put(m, &r, 1)) rc = fail(sub);
            else if (o.json) printf("{\"stored\": true, \"bytes\": %zu}\n", r.value_len);
        }
        free(v);
    } else if (!strcmp(sub, "del")) {
        int st = hrt_memory_delete(m, o.args[1], strlen(o.args[1]));
        if (st == HRT_E_RANGE) {
            fprintf(stderr, "hrt mem del: '%s' is not in %s\n", o.args[1], o.dir);
            rc = EXIT_FAIL;
        } else if (st) {
            rc = fail(sub);
        }
    } else if (!strcmp(sub, "compact")) {
        hrt_memory_report r;
        if (hrt_memory_maintain(m, 1, &r)) {
            rc = fail(sub);
        } else {
            printf(o.json ? "{\"expired\": %llu, \"demoted_age\": %llu, \"demoted_budget\": %llu, "
                            "\"cold_segments_compacted\": %llu, \"cold_dropped\": %llu}\n"
                          : "expired %llu, moved to cold by age %llu and by budget %llu, cold segments compacted "
                            "%llu, records dropped by compaction %llu\n",
                   (unsigned long long)r.expired, (unsigned long long)r.demoted_age,
                   (unsigned long long)r.demoted_budget, (unsigned long long)r.cold_segments_compacted,
                   (unsigned long long)r.cold_dropped);
        }
    } else { /* turns */
        hrt_chat_msg *msgs = NULL;
        size_t n = 0;
        if (hrt_memory_turns(m, o.args[1], (size_t)o.n, &msgs, &n)) {
            rc = fail(sub);
        } else {
            if (o.json) printf("[");
            for (size_t i = 0; i < n; i++) {
                if (o.json) {
                    printf("%s{\"role\": ", i ? ", " : "");
                    json_str(stdout, msgs[i].role, strlen(msgs[i].role));
                    printf(", \"content\": ");
                    json_str(stdout, msgs[i].content, strlen(msgs[i].content));
                    printf("}");
                } else {
                    printf("%s: %s\n", msgs[i].role, msgs[i].content);
                }
            }
            if (o.json) printf("]\n");
        }
        hrt_memory_turns_free(msgs, n);
    }
    hrt_memory_free(m);
    return rc;
}
