#include "query_features.h"

#include <string.h>

static const char *const names[QF_COUNT] = {"bytes", "words", "sentences", "questions", "clauses",
                                            "numbers", "math", "code", "cues"};

const char *query_feature_name(int i) { return i >= 0 && i < QF_COUNT ? names[i] : "?"; }

/* Words that join clauses. */
static const char *const joiners[] = {"and", "but", "because", "then", "if", "when", "while", "although",
                                      "unless", "whereas", "so", "or", "after", "before", NULL};
/* Words that mark arithmetic. */
static const char *const math_words[] = {"total", "sum", "percent", "percentage", "per", "average", "twice", "half",
                                         "times", "plus", "minus", "divided", "multiplied", "remaining", "left",
                                         "each", "ratio", "difference", NULL};
/* Words that ask for reasoning rather than lookup. */
static const char *const cue_words[] = {"why", "explain", "compare", "comparison", "calculate", "compute", "step",
                                        "steps", "prove", "derive", "difference", "differences", "versus", "vs",
                                        "reason", "reasons", "analyze", "analyse", "evaluate", "estimate",
                                        "tradeoff", "tradeoffs", "pros", "cons", "both", "whether", NULL};

/* Words after "how" that ask for a count or an amount. */
static const char *const amount_words[] = {"many", "much", "long", "far", NULL};

static int in_list(const char *w, size_t n, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strlen(list[i]) == n && !memcmp(list[i], w, n)) return 1;
    return 0;
}

static int is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '\'' || c == '_' ||
           c >= 0x80;
}

void query_features_compute(const char *text, size_t len, query_features *out)
{
    memset(out, 0, sizeof *out);
    float *v = out->v;
    const unsigned char *s = (const unsigned char *)text;
    v[QF_BYTES] = (float)len;
    int in_sentence = 0, prev_number = 0, prev_how = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (is_word_byte(c)) {
            char w[32];
            size_t n = 0, j = i;
            int digits = 1, underscore = 0;
            while (j < len && (is_word_byte(s[j]) || ((s[j] == ',' || s[j] == '.') && digits && j + 1 < len &&
                                                      s[j + 1] >= '0' && s[j + 1] <= '9' && j > i))) {
                if (!(s[j] >= '0' && s[j] <= '9') && s[j] != ',' && s[j] != '.') digits = 0;
                underscore |= s[j] == '_';
                if (n < sizeof w) w[n++] = (char)(s[j] >= 'A' && s[j] <= 'Z' ? s[j] + 32 : s[j]);
                j++;
            }
            in_sentence = 1;
            v[QF_WORDS]++;
            if (digits) {
                v[QF_NUMBERS]++;
                prev_number = 1;
            } else {
                prev_number = 0;
                if (n < sizeof w) {
                    v[QF_CLAUSES] += in_list(w, n, joiners);
                    v[QF_MATH] += in_list(w, n, math_words);
                    v[QF_CUES] += in_list(w, n, cue_words);
                    /* "how many" and "how much" ask for a count or an amount */
                    if (prev_how && in_list(w, n, amount_words)) v[QF_CUES]++;
                    prev_how = n == 3 && !memcmp(w, "how", 3);
                }
                v[QF_CODE] += underscore;
            }
            i = j;
            continue;
        }
        switch (c) {
        case '.': case '!': case '?':
            if (in_sentence) v[QF_SENTENCES]++;
            in_sentence = 0;
            if (c == '?') v[QF_QUESTIONS]++;
            break;
        case ',': case ';': case ':':
            v[QF_CLAUSES]++;
            if (c == ';') v[QF_CODE]++;
            break;
        case '+': case '*': case '/': case '=': case '%': case '^': case '<': case '>':
            if (c == '=' && i + 1 < len && s[i + 1] == '=') v[QF_CODE]++, i++;
            else if (prev_number || (i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9') || c == '%') v[QF_MATH]++;
            break;
        case '-':
            if (i + 1 < len && s[i + 1] == '>') v[QF_CODE]++, i++;
            else if (prev_number && i + 1 < len && ((s[i + 1] >= '0' && s[i + 1] <= '9') || s[i + 1] == ' '))
                v[QF_MATH]++;
            break;
        case '{': case '}': case '[': case ']': case '`':
            v[QF_CODE]++;
            break;
        default:
            break;
        }
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') prev_number = 0;
        i++;
    }
    if (in_sentence) v[QF_SENTENCES]++;
}
