/* What the agent needs of a remote model beyond hrt.h (agent/remote.c). */
#ifndef HRT_AGENT_REMOTE_H
#define HRT_AGENT_REMOTE_H

#include "hrt.h"

/* "remote:MODEL@URL", borrowed from r: names the model in cache keys. */
const char *remote_name(const hrt_remote *r);

#endif
