/* Built-in tools of task files that need no model (cli/tools.c). */
#ifndef HRT_CLI_TOOLS_H
#define HRT_CLI_TOOLS_H

#include <stddef.h>
#include <time.h>

/* Evaluates an arithmetic expression: decimal numbers (1.5e3), + - * / % ^ (power,
 * right-associative), parentheses, unary signs, pi, and sqrt abs round
 * floor ceil ln log10 exp (one argument), min max pow (two). 0 and *out,
 * or -1 with err naming what was wrong and where. */
int tool_calculate(const char *expr, double *out, char *err, size_t errcap);
/* A number as a person writes it: integers without decimals. */
void tool_format_number(double v, char *buf, size_t cap);

/* Date arithmetic in UTC, on the clock now: "now", "today", "weekday
 * [DATE]", "add N days|weeks [to DATE]" ("to" optional), "days until
 * DATE", "days since DATE", "days between A B" (B - A: negative when B
 * comes first); DATE is YYYY-MM-DD or "today". 0 and out, or -1 with err. */
int tool_datetime(const char *input, time_t now, char *out, size_t cap, char *err, size_t errcap);
/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS[Z]" (UTC): 0 and *t, or -1. */
int tool_parse_time(const char *s, time_t *t);

#endif
