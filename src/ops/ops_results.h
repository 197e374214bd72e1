/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops_results.h - result files of operations (a batch's JSONL, a video)
 * under DATA_DIR/files/, written atomically and read back for download.
 *
 * A result file is named after its operation: the id without its '_'
 * ("batch_01h…" -> "batch01h…"), so the name is only [a-z0-9] - what the
 * SDK's files.download accepts in a URI - and maps back to the operation
 * (and so to its project) for the access check.
 */
#ifndef KABAR_OPS_RESULTS_H
#define KABAR_OPS_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"

#define OPS_RESULTS_NAME_MAX IDS_MAX
#define OPS_RESULTS_FILE_MAX (256 * 1024 * 1024)

/* The file name of operation op_id. Returns 0, or -1 when it does not fit. */
int ops_results_name(const char *op_id, char *out, size_t cap);
/* The operation id a file name comes from (the inverse of the above; the
 * result is not checked further). Returns 0, or -1 when name is no such
 * name. */
int ops_results_op_id(const char *name, char *out, size_t cap);

/* Write data[0..len) as file name under data_dir/files, atomically: a
 * temporary file, fsync, rename, fsync of the directory. Returns 0, or -1
 * with a message in err (nothing is left behind). */
int ops_results_write(const char *data_dir, const char *name, const void *data, size_t len,
                      char *err, size_t errlen);
/* Read file name (at most max bytes) into a malloc'd buffer *out (the
 * caller frees it; NUL-terminated for convenience) of *len bytes. Returns 0,
 * 1 when there is no such file, or -1 with a message in err. */
int ops_results_read(const char *data_dir, const char *name, size_t max, char **out,
                     size_t *len, char *err, size_t errlen);
/* Remove file name if it exists. */
void ops_results_remove(const char *data_dir, const char *name);

#endif
