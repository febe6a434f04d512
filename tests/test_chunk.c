/* The chunker (retrieval/chunk.c) with a word counter standing in for the
 * tokenizer: sizes, overlap, headings, paragraphs, long sentences, offsets
 * that cite the text exactly, and coverage of every word. */
#include "hrt.h"
#include "test.h"

#ifndef HRT_WITH_RETRIEVAL
int main(void) { test_skip("built without retrieval (FAISS or SQLite not found)"); }
#else
#include "chunk.h"

static int words(void *ud, const char *t, size_t n)
{
    (void)ud;
    int w = 0;
    for (size_t i = 0; i < n; i++)
        if ((i == 0 || t[i - 1] == ' ' || t[i - 1] == '\n') && t[i] != ' ' && t[i] != '\n') w++;
    return w;
}

static int failing(void *ud, const char *t, size_t n)
{
    (void)ud, (void)t, (void)n;
    return HRT_E_NOMEM;
}

/* Every word of the text lies in some chunk. */
static int covered(const char *t, const chunk_span *c, size_t n)
{
    size_t len = strlen(t);
    for (size_t i = 0; i < len; i++) {
        if (t[i] == ' ' || t[i] == '\n') continue;
        int in = 0;
        for (size_t k = 0; k < n && !in; k++) in = i >= c[k].start && i < c[k].end;
        if (!in) return 0;
    }
    return 1;
}

static void test_sizes_and_overlap(void)
{
    char text[8192] = "";
    for (int s = 0; s < 60; s++) {
        char sent[128];
        snprintf(sent, sizeof sent, "Sentence %d has exactly seven words here. ", s); /* 7 words */
        strcat(text, sent);
        if (s % 10 == 9) strcat(text, "\n\n");
    }
    chunk_span *c = NULL;
    size_t n = 0;
    CHECK_STATUS(chunk_text(text, strlen(text), 50, 14, words, NULL, &c, &n), 0);
    int ok = n > 5, overlap_ok = 1;
    for (size_t k = 0; k < n; k++) {
        ok &= c[k].tokens <= 50 && c[k].tokens == words(NULL, text + c[k].start, c[k].end - c[k].start);
        ok &= text[c[k].start] == 'S' && text[c[k].end - 1] == '.'; /* whole sentences */
        if (k) overlap_ok &= c[k].start < c[k - 1].end && c[k].start > c[k - 1].start; /* overlaps, advances */
    }
    CHECK(ok && overlap_ok && covered(text, c, n));
    free(c);
    /* no overlap asked: chunks tile the text */
    CHECK_STATUS(chunk_text(text, strlen(text), 50, 0, words, NULL, &c, &n), 0);
    int tiles = 1;
    for (size_t k = 1; k < n; k++) tiles &= c[k].start >= c[k - 1].end;
    CHECK(tiles && covered(text, c, n));
    free(c);
}

static void test_structure(void)
{
    const char *md = "# Title\nIntro sentence one. Intro sentence two.\n\n## Section A\nAlpha text here. More alpha.\n\n"
                     "## Section B\nBeta text here.";
    chunk_span *c = NULL;
    size_t n = 0;
    CHECK_STATUS(chunk_text(md, strlen(md), 40, 10, words, NULL, &c, &n), 0);
    /* each heading starts a chunk; no chunk runs into the next heading */
    CHECK_MSG(n == 3, "%zu chunks", n);
    if (n == 3) {
        CHECK(!strncmp(md + c[0].start, "# Title", 7) && !strncmp(md + c[1].start, "## Section A", 12) &&
              !strncmp(md + c[2].start, "## Section B", 12));
        CHECK(!memcmp(md + c[2].end - 15, "Beta text here.", 15) && c[2].end == strlen(md));
    }
    free(c);
    /* a sentence longer than a chunk is cut at word boundaries */
    char longs[4096] = "";
    for (int i = 0; i < 120; i++) strcat(longs, "word ");
    CHECK_STATUS(chunk_text(longs, strlen(longs), 32, 4, words, NULL, &c, &n), 0);
    int ok = n >= 4;
    for (size_t k = 0; k < n; k++) ok &= c[k].tokens <= 32 && longs[c[k].start] == 'w' && longs[c[k].end - 1] == 'd';
    CHECK(ok && covered(longs, c, n));
    free(c);
    CHECK_STATUS(chunk_text(" \n\n \t", 5, 32, 4, words, NULL, &c, &n), 0);
    CHECK(n == 0);
    free(c);
    CHECK_STATUS(chunk_text("a b c.", 6, 32, 40, words, NULL, &c, &n), HRT_E_INVALID);
    CHECK_STATUS(chunk_text("a b c.", 6, 32, 4, failing, NULL, &c, &n), HRT_E_NOMEM);
    CHECK(c == NULL && n == 0);
}

int main(void)
{
    test_sizes_and_overlap();
    test_structure();
    return test_finish();
}
#endif
