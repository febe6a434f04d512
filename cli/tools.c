/* The built-in tools of task files that need no model: an arithmetic
 * calculator and date arithmetic. No shell, no files, no network. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "tools.h"

/* ---- calculator: + - * / % ^, parentheses, unary signs, a few functions ---- */
typedef struct {
    const char *s, *p;
    int depth;
    char *err;
    size_t errcap;
} calc;

#define CALC_MAX_DEPTH 64

static double calc_expr(calc *c);

static void calc_fail(calc *c, const char *what)
{
    if (c->err[0]) return;
    if (*c->p) snprintf(c->err, c->errcap, "calculator: %s at offset %d ('%.8s')", what, (int)(c->p - c->s), c->p);
    else snprintf(c->err, c->errcap, "calculator: %s at the end of the expression", what);
}

static void skip(calc *c)
{
    while (isspace((unsigned char)*c->p)) c->p++;
}

static int eat(calc *c, char ch)
{
    skip(c);
    if (*c->p != ch) return 0;
    c->p++;
    return 1;
}

static double calc_call(calc *c, const char *name, size_t n)
{
    static const struct {
        const char *name;
        int args;
    } fns[] = {{"sqrt", 1}, {"abs", 1}, {"round", 1}, {"floor", 1}, {"ceil", 1}, {"ln", 1}, {"log10", 1},
               {"exp", 1}, {"min", 2}, {"max", 2}, {"pow", 2}};
    int f = -1;
    for (int i = 0; i < (int)(sizeof fns / sizeof *fns); i++)
        if (strlen(fns[i].name) == n && !strncasecmp(name, fns[i].name, n)) f = i;
    if (f < 0) {
        c->p = name;
        calc_fail(c, "unknown name");
        return NAN;
    }
    if (!eat(c, '(')) {
        calc_fail(c, "expected '(' after a function name");
        return NAN;
    }
    double x = calc_expr(c), y = 0;
    if (fns[f].args == 2) {
        if (!eat(c, ',')) {
            calc_fail(c, "expected ',' (this function takes two arguments)");
            return NAN;
        }
        y = calc_expr(c);
    }
    if (!eat(c, ')')) {
        calc_fail(c, "expected ')'");
        return NAN;
    }
    switch (f) {
    case 0: return sqrt(x);
    case 1: return fabs(x);
    case 2: return round(x);
    case 3: return floor(x);
    case 4: return ceil(x);
    case 5: return log(x);
    case 6: return log10(x);
    case 7: return exp(x);
    case 8: return x < y ? x : y;
    case 9: return x > y ? x : y;
    default: return pow(x, y);
    }
}

static double calc_primary(calc *c)
{
    skip(c);
    if (eat(c, '(')) {
        double v = calc_expr(c);
        if (!eat(c, ')')) calc_fail(c, "expected ')'");
        return v;
    }
    if (isdigit((unsigned char)*c->p) || (*c->p == '.' && isdigit((unsigned char)c->p[1]))) {
        /* decimal only: digits, a point, an exponent (strtod would also take hex) */
        const char *q = c->p;
        while (isdigit((unsigned char)*q) || *q == '.') q++;
        if ((*q == 'e' || *q == 'E') &&
            (isdigit((unsigned char)q[1]) || ((q[1] == '+' || q[1] == '-') && isdigit((unsigned char)q[2])))) {
            q += 2;
            while (isdigit((unsigned char)*q)) q++;
        }
        char num[64];
        size_t n = (size_t)(q - c->p);
        if (n >= sizeof num) {
            calc_fail(c, "a number too long");
            return NAN;
        }
        memcpy(num, c->p, n), num[n] = 0;
        char *end;
        double v = strtod(num, &end);
        if (*end) {
            calc_fail(c, "a malformed number");
            return NAN;
        }
        c->p = q;
        return v;
    }
    if (isalpha((unsigned char)*c->p)) {
        const char *name = c->p;
        while (isalnum((unsigned char)*c->p)) c->p++;
        size_t n = (size_t)(c->p - name);
        if (n == 2 && !strncasecmp(name, "pi", 2)) return M_PI;
        return calc_call(c, name, n);
    }
    calc_fail(c, "expected a number, '(' or a function");
    return NAN;
}

static double calc_unary(calc *c)
{
    if (++c->depth > CALC_MAX_DEPTH) {
        calc_fail(c, "nested too deeply");
        return NAN;
    }
    double v;
    if (eat(c, '-')) v = -calc_unary(c);
    else if (eat(c, '+')) v = calc_unary(c);
    else {
        v = calc_primary(c);
        if (eat(c, '^')) v = pow(v, calc_unary(c)); /* right-associative, binds tighter than a sign */
    }
    c->depth--;
    return v;
}

static double calc_term(calc *c)
{
    double v = calc_unary(c);
    for (;;) {
        if (eat(c, '*')) v *= calc_unary(c);
        else if (eat(c, '/')) {
            double d = calc_unary(c);
            if (d == 0 && !c->err[0]) calc_fail(c, "division by zero");
            v /= d;
        } else if (eat(c, '%')) {
            double d = calc_unary(c);
            if (d == 0 && !c->err[0]) calc_fail(c, "division by zero");
            v = fmod(v, d);
        } else return v;
    }
}

static double calc_expr(calc *c)
{
    if (++c->depth > CALC_MAX_DEPTH) {
        calc_fail(c, "nested too deeply");
        return NAN;
    }
    double v = calc_term(c);
    for (;;) {
        if (eat(c, '+')) v += calc_term(c);
        else if (eat(c, '-')) v -= calc_term(c);
        else break;
    }
    c->depth--;
    return v;
}

int tool_calculate(const char *expr, double *out, char *err, size_t errcap)
{
    err[0] = 0;
    calc c = {expr, expr, 0, err, errcap};
    double v = calc_expr(&c);
    skip(&c);
    if (!err[0] && *c.p) calc_fail(&c, "unexpected character");
    if (!err[0] && !isfinite(v)) snprintf(err, errcap, "calculator: the result is not a finite number");
    if (err[0]) return -1;
    *out = v == 0 ? 0 : v; /* no "-0" */
    return 0;
}

void tool_format_number(double v, char *buf, size_t cap)
{
    /* integers exactly (up to 2^53) */
    if (fabs(v) <= 9007199254740992.0 && v == floor(v)) {
        snprintf(buf, cap, "%.0f", v);
        return;
    }
    /* the shortest of 15, 16, 17 significant digits that reads back as v */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* ---- dates ---------------------------------------------------------------------------- */
/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS[Z]" (UTC) at s: 0 and *t, or -1. */
int tool_parse_time(const char *s, time_t *t)
{
    struct tm tm = {0};
    /* the digits where the pattern has them, nothing else (sscanf would take spaces and signs) */
    static const char date_pat[] = "dddd-dd-dd", time_pat[] = "dd:dd:dd";
    for (int i = 0; date_pat[i]; i++)
        if (date_pat[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != date_pat[i]) return -1;
    tm.tm_year = atoi(s), tm.tm_mon = atoi(s + 5), tm.tm_mday = atoi(s + 8);
    const char *r = s + 10;
    if (*r == 'T' || *r == ' ') {
        r++;
        for (int i = 0; time_pat[i]; i++)
            if (time_pat[i] == 'd' ? !isdigit((unsigned char)r[i]) : r[i] != time_pat[i]) return -1;
        tm.tm_hour = atoi(r), tm.tm_min = atoi(r + 3), tm.tm_sec = atoi(r + 6);
        r += 8;
        if (*r == 'Z') r++;
    }
    if (*r) return -1;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    int mday = tm.tm_mday, mon = tm.tm_mon;
    tm.tm_year -= 1900, tm.tm_mon -= 1;
    *t = timegm(&tm);
    struct tm back;
    gmtime_r(t, &back);
    return back.tm_mday == mday && back.tm_mon == mon - 1 ? 0 : -1; /* 2026-02-30 is refused */
}

static void fmt_date(time_t t, char *buf, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%d", &tm);
}

/* The next word of *s (letters, digits, '-', ':' and 'T'), lower-cased into w. */
static int word(const char **s, char *w, size_t cap)
{
    const char *p = *s;
    while (isspace((unsigned char)*p)) p++;
    size_t n = 0;
    while (*p && !isspace((unsigned char)*p) && n + 1 < cap) w[n++] = (char)tolower((unsigned char)*p++);
    w[n] = 0;
    *s = p;
    return n > 0;
}

/* A date argument: "today", "now" or an ISO date. */
static int date_arg(const char *w, time_t now, time_t *t)
{
    if (!strcmp(w, "today") || !strcmp(w, "now")) {
        *t = now;
        return 0;
    }
    char up[40];
    snprintf(up, sizeof up, "%s", w);
    for (char *q = up; *q; q++) *q = (char)toupper((unsigned char)*q);
    return tool_parse_time(up, t);
}

int tool_datetime(const char *input, time_t now, char *out, size_t cap, char *err, size_t errcap)
{
    static const char *const days[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
    const char *p = input;
    char w[5][40], extra[40];
    int n = 0;
    while (n < 5 && word(&p, w[n], sizeof w[n])) n++;
    if (n == 0 || word(&p, extra, sizeof extra)) goto bad;
    if (n == 5 && !strcmp(w[0], "add") && !strcmp(w[3], "to")) memmove(w[3], w[4], sizeof w[3]), n = 4;
    time_t a, b;
    if (n == 1 && !strcmp(w[0], "now")) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return 0;
    }
    if (n == 1 && !strcmp(w[0], "today")) {
        fmt_date(now, out, cap);
        return 0;
    }
    if (!strcmp(w[0], "weekday") && n <= 2) {
        if (date_arg(n == 2 ? w[1] : "today", now, &a)) goto bad;
        struct tm tm;
        gmtime_r(&a, &tm);
        snprintf(out, cap, "%s", days[tm.tm_wday]);
        return 0;
    }
    if (!strcmp(w[0], "add") && (n == 3 || n == 4)) {
        char *end;
        long k = strtol(w[1], &end, 10);
        if (*end || k < -1000000 || k > 1000000) goto bad;
        long mult = !strcmp(w[2], "day") || !strcmp(w[2], "days")     ? 1
                    : !strcmp(w[2], "week") || !strcmp(w[2], "weeks") ? 7
                                                                       : 0;
        if (!mult) goto bad;
        a = now;
        if (n == 4 && date_arg(w[3], now, &a)) goto bad;
        fmt_date(a + k * mult * 86400, out, cap);
        return 0;
    }
    if (!strcmp(w[0], "days") && n == 3 && !strcmp(w[1], "until")) {
        if (date_arg(w[2], now, &b)) goto bad;
        a = now;
    } else if (!strcmp(w[0], "days") && n == 3 && !strcmp(w[1], "since")) {
        if (date_arg(w[2], now, &a)) goto bad;
        b = now;
    } else if (!strcmp(w[0], "days") && n == 4 && !strcmp(w[1], "between")) {
        if (date_arg(w[2], now, &a) || date_arg(w[3], now, &b)) goto bad;
    } else {
        goto bad;
    }
    /* whole calendar days between the two dates */
    snprintf(out, cap, "%lld", (long long)(floor((double)b / 86400) - floor((double)a / 86400)));
    return 0;
bad:
    snprintf(err, errcap,
             "datetime: '%s' is not one of: now | today | weekday [DATE] | add N days|weeks [to DATE] | "
             "days until DATE | days since DATE | days between DATE DATE (DATE: YYYY-MM-DD, today)",
             input);
    return -1;
}
