#ifndef HRT_CHAT_H
#define HRT_CHAT_H

#include <stddef.h>

#include "hrt.h"

enum { CHAT_NONE = 0, CHAT_CHATML, CHAT_LLAMA3, CHAT_GEMMA };

/* The template family recognised in a Jinja chat template (NULL: none). */
int chat_family(const char *tpl);
/* Renders msgs (see hrt_chat_render). */
int chat_render(const char *tpl, const hrt_chat_msg *msgs, size_t n, int add_gen, char *buf, size_t cap);

#endif
