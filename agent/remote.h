/* What the agent needs of a remote model beyond hrt.h (agent/remote.c). */
#ifndef HRT_AGENT_REMOTE_H
#define HRT_AGENT_REMOTE_H

#include <stdatomic.h>

#include "hrt.h"

/* "remote:MODEL@URL", borrowed from r: names the model in cache keys. */
const char *remote_name(const hrt_remote *r);

/* hrt_remote_chat that also stops (HRT_E_CANCELLED, within about a second,
 * retries and back-off included) once *cancel becomes non-zero. */
int remote_chat(hrt_remote *r, const hrt_chat_msg *msgs, size_t n, const hrt_generate_params *gp, char **text,
                hrt_usage *usage, const atomic_int *cancel);

#endif
