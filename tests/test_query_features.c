/* The controller's query features (agent/query_features.c): exact counts on
 * hand-made queries (a lookup, a word problem, a multi-part reasoning
 * question, code), the ordering a router relies on (a GSM8K-style problem
 * scores above a one-line support question on math and cues), and odd
 * input: empty, invalid UTF-8, no terminal punctuation. */
#include "query_features.h"
#include "test.h"

static query_features f(const char *q)
{
    query_features out;
    query_features_compute(q, strlen(q), &out);
    return out;
}

#define V(x, k) ((int)(x).v[QF_##k])

int main(void)
{
    query_features a = f("How do I reset my password?");
    CHECK(V(a, BYTES) == 27 && V(a, WORDS) == 6 && V(a, SENTENCES) == 1 && V(a, QUESTIONS) == 1);
    CHECK(V(a, NUMBERS) == 0 && V(a, MATH) == 0 && V(a, CODE) == 0 && V(a, CUES) == 0 && V(a, CLAUSES) == 0);

    query_features m = f("Tom has 1,250 apples and sells 3 per day for 12 days. How many apples are left? "
                         "Give the total in percent.");
    CHECK_MSG(V(m, NUMBERS) == 3, "numbers %d", V(m, NUMBERS)); /* 1,250 is one number */
    CHECK_MSG(V(m, MATH) == 4, "math %d", V(m, MATH));          /* per, left, total, percent */
    CHECK_MSG(V(m, CUES) == 1, "cues %d", V(m, CUES));          /* how many */
    CHECK(V(m, SENTENCES) == 3 && V(m, QUESTIONS) == 1 && V(m, CLAUSES) == 1); /* "and" */

    query_features e = f("12 * 7 = 84; 5+3");
    CHECK_MSG(V(e, MATH) == 3 && V(e, NUMBERS) == 5, "math %d numbers %d", V(e, MATH), V(e, NUMBERS));

    query_features r = f("Why does express shipping cost more, and how does it compare with standard shipping "
                         "if I order twice?");
    CHECK_MSG(V(r, CUES) == 2, "cues %d", V(r, CUES));                  /* why, compare */
    CHECK_MSG(V(r, CLAUSES) == 3, "clauses %d", V(r, CLAUSES));         /* ",", and, if */

    query_features c = f("Why does `my_var->next == NULL` crash in {loop}?");
    CHECK_MSG(V(c, CODE) == 7, "code %d", V(c, CODE)); /* two backticks, my_var, ->, ==, { and } */

    /* the ordering a router relies on */
    CHECK(m.v[QF_MATH] + m.v[QF_CUES] > a.v[QF_MATH] + a.v[QF_CUES]);

    query_features z = f("");
    int zero = 1;
    for (int i = 0; i < QF_COUNT; i++) zero &= z.v[i] == 0;
    CHECK(zero);
    query_features u = f("caf\xe9 \xff\xfe ol\xc3\xa9");
    CHECK(V(u, WORDS) == 3 && V(u, SENTENCES) == 1); /* bytes past ASCII are word bytes, valid or not */
    query_features n = f("refund policy");
    CHECK(V(n, SENTENCES) == 1 && V(n, QUESTIONS) == 0);
    CHECK(!strcmp(query_feature_name(QF_CUES), "cues") && !strcmp(query_feature_name(QF_COUNT), "?"));
    return test_finish();
}
