/* SPDX-License-Identifier: Apache-2.0 */
/*
 * envelope.h - the envelope lives in core/envelope.h (the store builds
 * kabar's own operator events with it too); this name stays for the
 * delivery layer's callers.
 */
#include "core/envelope.h"
