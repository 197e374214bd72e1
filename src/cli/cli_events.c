/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_events.c - the "kabar events" command group: publish one event.
 *
 *   kabar events publish --type batch.succeeded --data '{"id": "batch_1"}'
 *
 * sends POST /v1/events {"type": ..., "data": ...} (docs/delivery.md). The
 * data comes from --data, --data-file or standard input, and is parsed here
 * so that a typo in it is a usage error that says where, rather than the
 * server's "malformed JSON" about a body the user never wrote. Whether the
 * type is in the catalog and whether data has an "id" is left to the
 * server, as the webhooks commands leave event names to it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_client.h"
#include "cli/cli_output.h"
#include "cli/cli_print.h"

/* The server takes bodies of at most 1 MiB; data larger than that can only
 * be refused, so it is not read any further. */
#define EVENTS_DATA_MAX (1024u * 1024)
/* The server takes keys of 1 to 255 characters (docs/delivery.md). */
#define EVENTS_IDEMPOTENCY_KEY_MAX 255

enum { PUBLISH_TYPE, PUBLISH_DATA, PUBLISH_DATA_FILE, PUBLISH_DATA_STDIN,
       PUBLISH_IDEMPOTENCY_KEY };

static const struct cmd_opt events_publish_opts[] = {
    [PUBLISH_TYPE] = {"type", true},
    [PUBLISH_DATA] = {"data", true},
    [PUBLISH_DATA_FILE] = {"data-file", true},
    [PUBLISH_DATA_STDIN] = {"data-stdin", false},
    [PUBLISH_IDEMPOTENCY_KEY] = {"idempotency-key", true},
    {NULL, false},
};

/*
 * Read all of f into a new buffer of at most EVENTS_DATA_MAX bytes. Returns
 * 0 with *out and *len set (*out is the caller's to free()), or an exit code
 * after printing why; what names the source in messages.
 */
static int
events_read_all(const struct cmd_entry *entry, FILE *f, const char *what,
                char **out, size_t *len)
{
    char *buf = malloc(EVENTS_DATA_MAX + 1);
    size_t n;

    *out = NULL;
    if (buf == NULL) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    /* One byte more than the cap tells "exactly the cap" from "more". */
    n = fread(buf, 1, EVENTS_DATA_MAX + 1, f);
    if (ferror(f)) {
        free(buf);
        return cli_usage_error(entry, "cannot read %s: %s", what,
                               strerror(errno));
    }
    if (n > EVENTS_DATA_MAX) {
        free(buf);
        return cli_usage_error(entry, "%s is larger than %u KiB", what,
                               EVENTS_DATA_MAX / 1024);
    }
    *out = buf;
    *len = n;
    return 0;
}

/*
 * Parse text as the event's data: a JSON object. Returns 0 with *out set
 * (the caller's to json_decref()), or CLI_EXIT_USAGE after saying where the
 * text goes wrong; what names the source ("--data", "FILE").
 */
static int
events_parse_data(const struct cmd_entry *entry, const char *text, size_t len,
                  const char *what, json_t **out)
{
    json_error_t err;
    json_t *data;

    /* Duplicate keys would be refused by the server; say so here, with
     * the position, like any other mistake in the text. */
    data = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (data == NULL)
        return cli_usage_error(entry, "%s is not valid JSON: %s (line %d, "
                               "column %d)", what, err.text, err.line,
                               err.column);
    if (!json_is_object(data)) {
        json_decref(data);
        return cli_usage_error(entry, "%s must be a JSON object, e.g. "
                               "'{\"id\": \"batch_123\"}'", what);
    }
    *out = data;
    return 0;
}

/* Load the data from whichever one of --data, --data-file and --data-stdin
 * was given. Returns 0 with *out set (the caller's), or an exit code. */
static int
events_load_data(const struct cmd_entry *entry, const struct cmd_args *args,
                 json_t **out)
{
    const char *file = args->opt[PUBLISH_DATA_FILE];
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    int given, rc;

    given = (args->opt[PUBLISH_DATA] != NULL) + (file != NULL) +
            (args->opt[PUBLISH_DATA_STDIN] != NULL);
    if (given == 0)
        return cli_usage_error(entry, "missing --data, --data-file or "
                               "--data-stdin");
    if (given > 1)
        return cli_usage_error(entry, "give only one of --data, --data-file "
                               "and --data-stdin");

    if (args->opt[PUBLISH_DATA] != NULL)
        return events_parse_data(entry, args->opt[PUBLISH_DATA],
                                 strlen(args->opt[PUBLISH_DATA]), "--data",
                                 out);
    if (file != NULL) {
        if ((f = fopen(file, "rb")) == NULL)
            return cli_usage_error(entry, "cannot open %s: %s", file,
                                   strerror(errno));
        rc = events_read_all(entry, f, file, &text, &len);
        fclose(f);
    } else {
        rc = events_read_all(entry, stdin, "standard input", &text, &len);
        file = "standard input";
    }
    if (rc == 0)
        rc = events_parse_data(entry, text, len, file, out);
    free(text);
    return rc;
}

/*
 * Write the "Idempotency-Key: K" header line into out. The key becomes part
 * of a header, so a control character in it (a CR or LF would start another
 * header) is a usage error, as is a length the server would refuse. Returns
 * 0 or CLI_EXIT_USAGE after printing why.
 */
static int
events_idempotency_header(const struct cmd_entry *entry, const char *key,
                          char *out, size_t cap)
{
    const unsigned char *p;
    size_t len = strlen(key);
    int n;

    if (len == 0 || len > EVENTS_IDEMPOTENCY_KEY_MAX)
        return cli_usage_error(entry, "--idempotency-key must be 1 to %d "
                               "characters", EVENTS_IDEMPOTENCY_KEY_MAX);
    for (p = (const unsigned char *)key; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return cli_usage_error(entry, "--idempotency-key contains a "
                                   "control character");
    }
    n = snprintf(out, cap, "Idempotency-Key: %s", key);
    /* The buffer is sized for the longest key; this cannot be cut. */
    if (n < 0 || (size_t)n >= cap)
        return cli_usage_error(entry, "--idempotency-key is too long");
    return 0;
}

/* "Published msg_… (type) to N webhook(s)." or, for a repeat of an earlier
 * request, the id that request made. */
static void
events_print_published(const json_t *resp)
{
    const json_t *n = json_object_get(resp, "deliveries");

    if (json_is_true(json_object_get(resp, "duplicate"))) {
        fputs("Already published as ", stdout);
        cli_print_safe(cli_output_str(resp, "id"), stdout);
        fputs(" (same idempotency key).\n", stdout);
        return;
    }
    fputs("Published ", stdout);
    cli_print_safe(cli_output_str(resp, "id"), stdout);
    fputs(" (", stdout);
    cli_print_safe(cli_output_str(resp, "type"), stdout);
    printf(") to %" JSON_INTEGER_FORMAT " webhook(s).\n",
           json_is_integer(n) ? json_integer_value(n) : 0);
}

static int
events_publish(struct cli_ctx *ctx, const struct cmd_entry *entry,
               const struct cmd_args *args)
{
    const char *key = args->opt[PUBLISH_IDEMPOTENCY_KEY];
    char header[sizeof("Idempotency-Key: ") + EVENTS_IDEMPOTENCY_KEY_MAX];
    json_t *body = NULL, *type = NULL, *data = NULL, *resp = NULL;
    int rc;

    if (args->opt[PUBLISH_TYPE] == NULL)
        return cli_usage_error(entry, "missing --type");
    if (key != NULL &&
        (rc = events_idempotency_header(entry, key, header,
                                        sizeof(header))) != 0)
        return rc;
    /* jansson refuses strings that are not UTF-8; say so rather than
     * reporting it as a lack of memory. */
    if ((type = json_string(args->opt[PUBLISH_TYPE])) == NULL)
        return cli_usage_error(entry, "--type is not valid UTF-8");
    if ((rc = events_load_data(entry, args, &data)) != 0)
        goto out;
    if ((body = json_object()) == NULL)
        goto nomem;
    /* json_object_set_new() takes the value whether or not it succeeds. */
    rc = json_object_set_new(body, "type", type);
    type = NULL;
    rc |= json_object_set_new(body, "data", data);
    data = NULL;
    if (rc != 0)
        goto nomem;
    rc = cli_call_header(ctx, "POST", "/v1/events", body,
                         key != NULL ? header : NULL, &resp);
    if (rc == 0 && ctx->json)
        rc = cli_print_json(resp);
    else if (rc == 0)
        events_print_published(resp);
    goto out;

nomem:
    fprintf(stderr, "kabar: out of memory\n");
    rc = CLI_EXIT_FAIL;
out:
    json_decref(resp);
    json_decref(body);
    json_decref(data);
    json_decref(type);
    return rc;
}

const struct cmd_entry cmd_events_publish_entry = {
    .group = "events",
    .name = "publish",
    .usage = "--type TYPE (--data JSON | --data-file PATH | --data-stdin) "
             "[--idempotency-key KEY]",
    .help = "Publish an event to every enabled webhook subscribed to its "
            "type. The data is a JSON object with the \"id\" of the job. A "
            "repeat with the same --idempotency-key within 24 hours "
            "publishes nothing.",
    .opts = events_publish_opts,
    .arg_name = "",
    .min_args = 0,
    .max_args = 0,
    .exec = events_publish,
};
