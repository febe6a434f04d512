/* libFuzzer: hrt run's task-file checker (cli/task.c) on arbitrary bytes:
 * never a crash, a leak or a hang; a rejected file always has a message
 * naming a JSON path. The command's sources are compiled in whole. */
#include "../../cli/stack.c"
#include "../../cli/task.c"
#include "../../cli/tools.c"
#include "../../cli/util.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    task t;
    perr e = {0};
    task_init(&t, "fuzz.json", &e);
    if (task_parse("fuzz.json", (const char *)data, size, &t, &e) && !strstr(e.msg, "fuzz.json: $")) abort();
    task_free(&t);
    return 0;
}
