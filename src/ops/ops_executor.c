/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops_executor.c - the table of executors, looked up by KABAR_EXECUTOR.
 */
#include <string.h>

#include "ops/ops_executor.h"

static const struct ops_executor *const ops_executors[] = {
    &ops_executor_sim,
    &ops_executor_external,
};

const struct ops_executor *ops_executor_lookup(const char *name)
{
    for (size_t i = 0; name && i < sizeof ops_executors / sizeof ops_executors[0]; i++)
        if (strcmp(ops_executors[i]->name, name) == 0)
            return ops_executors[i];
    return NULL;
}
