/* Prompt templates: the text files of a prompts/ directory, loaded at run
 * time. A template is a file NAME.txt; its text is used as written except
 * for two things:
 *   - {{variable}} (a name of [a-z0-9_], starting with a letter or _) is
 *     replaced by the variable's value at rendering; a variable the caller
 *     does not supply is an error, one it supplies and the text does not
 *     use is ignored;
 *   - lines at the top of the file that start with "#:" are comments (what
 *     the template is for, which variables it takes) and are not rendered;
 *   - newlines at the end of the file are not rendered.
 * The set's version is a hash of every template's name and bytes, so any
 * edit changes it; the agent records it with cached answers, so that a
 * prompt change invalidates them.
 *
 * Loading checks everything rendering relies on: valid UTF-8, well-formed
 * {{...}}, the templates a caller requires present; each error names the
 * file and line. A loaded set is read-only: threads may render at once. */
#ifndef HRT_AGENT_PROMPT_H
#define HRT_AGENT_PROMPT_H

#include <stddef.h>
#include <stdint.h>

typedef struct prompt_set prompt_set;

/* Loads every *.txt in dir (at most PROMPT_MAX_TEMPLATES of at most
 * PROMPT_MAX_BYTES each). required: NULL-terminated template names that
 * must be there (NULL: none). 0, or HRT_E_IO (dir or a file unreadable),
 * HRT_E_FORMAT (bad UTF-8, a malformed {{, too large, a required template
 * missing), HRT_E_NOMEM; *out NULL on failure. */
#define PROMPT_MAX_TEMPLATES 64
#define PROMPT_MAX_BYTES (64 * 1024)
int prompt_set_load(const char *dir, const char *const *required, prompt_set **out);
void prompt_set_free(prompt_set *ps);

/* 16 hex digits naming the set's contents. Borrowed. */
const char *prompt_set_version(const prompt_set *ps);
/* 1 when the set has a template of that name. */
int prompt_set_has(const prompt_set *ps, const char *name);

/* Renders template name with n variables (names[i] = values[i], values
 * UTF-8 of values_len[i] bytes, or NUL-terminated when values_len is
 * NULL). *out: a NUL-terminated string the caller frees; *out_len its
 * length. HRT_E_RANGE: no such template; HRT_E_INVALID: a variable the
 * template uses is not supplied (named in the message); HRT_E_NOMEM. */
int prompt_render(const prompt_set *ps, const char *name, const char *const *names, const char *const *values,
                  const size_t *values_len, size_t n, char **out, size_t *out_len);

#endif
