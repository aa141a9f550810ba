/*
 * msg.h — small control messages between the rx lcores, the session
 * manager (main lcore), persistence and the websocket thread.
 *
 * They travel by value in rte_ring elem rings (rte_ring_*_elem), never on
 * a per-line path: one OPEN, one END, one DONE per document.
 */
#ifndef SLUICE_MSG_H
#define SLUICE_MSG_H

#include <stdint.h>

#include "slp.h"

enum sl_msg_type {
	SL_MSG_OPEN_REQ = 1,   /* rx -> manager: a new stream asks to be accepted */
	SL_MSG_OPEN_REPLY,     /* manager -> rx: accepted (doc slot) or rejected (code, reason) */
	SL_MSG_END,            /* rx|ws -> manager -> persist: no more lines; total count known */
	SL_MSG_DONE,           /* fan-out -> manager -> rx: summary sent; tell the sender, free the slot */
};

/* sl_msg.flags */
#define SL_MSG_F_RESUME 0x1u       /* OPEN_REQ: the sender asked to resume (SLP_F_RESUME) */
#define SL_MSG_F_COMPLETE 0x2u     /* OPEN_REPLY: that revision is already complete; lines/ok/errors say how */

struct sl_msg {
	uint16_t type;
	uint16_t flags;            /* SL_MSG_F_* */
	uint16_t rx;               /* rx lcore index */
	uint32_t stream;           /* stream id on that rx lcore */
	uint32_t session;
	uint32_t doc;              /* document slot */
	uint32_t doc_gen;
	uint16_t tenant;
	uint16_t code;             /* slp_code */
	uint64_t revision;
	uint64_t lines;            /* END: total lines; DONE: lines */
	uint64_t ok, errors;       /* DONE */
	uint64_t bytes;            /* END: total bytes */
	uint8_t tenant_len, token_len, doc_len, reason_len;
	char tenant_name[SLP_NAME_MAX];
	char token[SLP_TOKEN_MAX];
	char doc_name[SLP_NAME_MAX];
	char reason[SLP_REASON_MAX];
};

#endif
