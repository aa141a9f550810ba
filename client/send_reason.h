/*
 * send_reason.h — inside the sender library only (send.c, sender.c): one
 * way to write a result's human-readable reason.
 */
#ifndef SLUICE_SEND_REASON_H
#define SLUICE_SEND_REASON_H

#include "sluice/send.h"

/* printf into res->reason (truncated to fit). */
void sl_send_reason(struct sl_send_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
