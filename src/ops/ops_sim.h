/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops_sim.h - the simulator's output helpers, shared with the API (a
 * synchronous answer uses the same echo) and the tests.
 */
#ifndef KABAR_OPS_SIM_H
#define KABAR_OPS_SIM_H

#include <stddef.h>

#include <jansson.h>

/* "echo: " and the text found in v (a string, or every "text"/"prompt"
 * member under it), cut to a bounded length, into out. */
void ops_sim_echo(json_t *v, char *out, size_t cap);

/* A GenerateContentResponse echoing request's contents. New reference, or
 * NULL when out of memory. */
json_t *ops_sim_generate_response(const char *model, json_t *request);

/* The simulated video: an MP4 'ftyp' box and a 'free' box holding text.
 * Returns 0 with its length in *len, or -1 when cap is too small. */
int ops_sim_video_bytes(const char *text, char *out, size_t cap, size_t *len);

#endif
