/*
 * sluice/send.h — send a document to a Sluice appliance over SLP (UDP).
 *
 * A small library tenants can embed; sluice-send is a thin CLI over it.
 * Kernel UDP sockets, no DPDK needed. One call sends one document and
 * returns once the appliance has confirmed it (DONE), refused it
 * (REJECT), or stopped answering. The sender is selective-repeat: it
 * resends only what the appliance NAKs, or one probe frame when nothing
 * moves for a retransmission timeout (docs/protocol.md, "The sender").
 * If the appliance restarts mid-document the sender re-opens the document
 * with the RESUME flag and goes on from the bytes the appliance made
 * durable (docs/protocol.md, "Resuming after a restart").
 *
 * Thread-safe: no global state, so threads may send documents in parallel.
 */
#ifndef SLUICE_SEND_H
#define SLUICE_SEND_H

#include <stddef.h>
#include <stdint.h>

struct sl_send_opts {
	const char *host;          /* appliance IPv4 address or name */
	uint16_t port;             /* SLP UDP port */
	const char *tenant;
	const char *token;
	const char *doc;
	uint64_t revision;
	uint32_t payload;          /* DATA payload bytes per datagram (<= 1444); 0 = default 1400 */
	uint32_t timeout_ms;       /* give up after this long without any answer; 0 = default 30000 */
	int progress;              /* print progress to stderr while sending */
	/* Added with the selective-repeat sender; zero keeps the defaults. */
	uint32_t nak_guard_us;     /* resend one frame at most once per this for NAKs;
				      0 = automatic (the smoothed RTT, at least 2 ms) */
	/* Called (from the sending thread) each time the appliance confirms
	 * more bytes, with how many more: lets a caller show one aggregate
	 * progress line for several documents. NULL = not called. */
	void (*on_confirmed)(void *arg, uint64_t more_bytes);
	void *on_confirmed_arg;
	/* Added with resuming. The FIRST OPEN carries the RESUME flag too: this
	 * revision may have been started (or even finished) by an earlier run
	 * of the sender; the appliance then answers with where to go on from,
	 * or with the DONE it already sent. Use the same revision as before.
	 * 0 = a plain OPEN. (Losing the stream mid-document always resumes,
	 * whatever this says.) */
	int resume;
	/* Added with the multiplexed engine (sluice/sender.h): open pacing, for
	 * load generators that schedule lines in advance. Returns how many
	 * leading bytes of the document may have been sent by now_ns (the
	 * engine's clock; CLOCK_MONOTONIC in sl_send_document); the sender
	 * never sends DATA beyond them, sends FIN only once all are available
	 * and confirmed, and does not count waiting for bytes as a stall.
	 * NULL = the whole document at once. See sender.h on partial frames. */
	uint64_t (*available)(void *arg, uint64_t now_ns);
	void *available_arg;
};

struct sl_send_result {
	int code;                  /* slp_code: 0 = confirmed; otherwise why it failed */
	char reason[192];          /* human-readable: from the appliance, or the local failure */
	uint64_t bytes, lines, ok, errors;
	uint64_t datagrams, retransmits;
	double seconds;
	/* Added with the selective-repeat sender. */
	uint64_t naks_received;    /* NAK frames from the appliance */
	uint64_t rto_probes;       /* frames resent because nothing moved for an RTO */
	uint64_t ignored;          /* replies dropped as implausible (corrupted in flight?) */
	/* Added with resuming. */
	uint64_t resumes;          /* times the document went on from the appliance's durable
				      offset: after losing the stream (appliance restart), or a
				      first OPEN with opts.resume accepted past byte 0 */
	uint64_t resumed_from;     /* the offset the last resume went on from */
	/* Added with SLP v2 (a CRC32C on every frame). */
	uint64_t corrupt;          /* replies that failed their CRC32C (corrupted in flight): dropped */
	uint64_t rewinds;          /* times the appliance said DATA went past its window
				      (SLP_F_BEYOND) and we sent from the window's edge again */
};

/*
 * Send len bytes as one document. Returns 0 when the appliance confirmed
 * every line (res->code == 0), 1 when it refused or failed the document
 * (res->code, res->reason), -1 on a local or network failure (res->reason).
 * The caller's buffer must stay unchanged until the call returns: after
 * an appliance restart any byte past what it made durable may be sent again.
 */
int sl_send_document(const struct sl_send_opts *o, const void *doc, size_t len,
		     struct sl_send_result *res);

#endif
