/*
 * sluice/sender.h — the SLP sender as an engine that an outside event loop
 * drives: many documents at once over one socket, no I/O of its own.
 *
 * One struct sl_sender is one document: the protocol state machine of
 * docs/protocol.md ("The sender", "Resuming after a restart"), the same
 * code sl_send_document() runs (it is a loop over one engine and a
 * socket). The caller owns the socket and the clock:
 *
 *   for (;;) {
 *       n = sl_sender_poll(s, now, frames, max);   send the n frames
 *       ... wait until sl_sender_next_deadline(s) or a datagram arrives
 *       sl_sender_input(s, dgram, len, now);       for each datagram whose
 *                                                   header session is
 *                                                   sl_sender_session(s)
 *       if (sl_sender_done(s, &res)) break;
 *   }
 *
 * Demultiplexing. Replies carry the session of the frame they answer
 * (bytes 12..15 of the header, big-endian). The session CHANGES when the
 * appliance loses the stream and the engine resumes (and on each retried
 * resume OPEN): read sl_sender_session() again after every poll and every
 * input, and route by the current value. Replies to an old session are
 * stale by design and may be dropped (or fed: the engine ignores them).
 *
 * Open pacing. With opts.available set, the engine sends no DATA beyond
 * the bytes it returns, and FIN only once every byte is available and
 * confirmed. The engine cannot know when more becomes available: the
 * caller polls again when its schedule releases bytes (next_deadline does
 * not include that). Nothing in flight and nothing available is idleness,
 * not loss: no RTO or tail-loss probe fires, and the no-answer timeout
 * does not run. So that a paced line need not wait for a whole frame to
 * fill, a paced sender sends what is available of the frame at the
 * frontier, then each newly available part of it as a DATA of its own
 * (at an offset inside the frame); a repair resends the frame's whole
 * prefix. These frames overlap and are not cut at the fixed offsets of
 * docs/protocol.md: sluiced takes the bytes it lacks from a frame that
 * overlaps its position, and positions inside a frame are accepted.
 * Without opts.available the frames are exactly those of sl_send_document.
 *
 * Times are nanoseconds on one monotonic clock the caller chooses
 * (CLOCK_MONOTONIC in sl_send_document); the engine only compares them.
 *
 * Not thread-safe per engine: one thread drives one engine (different
 * engines may live in different threads).
 */
#ifndef SLUICE_SENDER_H
#define SLUICE_SENDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "sluice/send.h"

struct sl_sender;

/*
 * A sender for len bytes of doc under *o (copied; the strings it points to
 * and doc itself must stay valid and unchanged until sl_sender_free). The
 * whole document must be in memory now (its CRC32C goes in FIN), even
 * when opts.available releases it little by little. o->host and o->port
 * are used only in messages. NULL on a bad option or no memory, with the
 * reason in err.
 */
struct sl_sender *sl_sender_new(const struct sl_send_opts *o, const void *doc, size_t len,
				char *err, size_t errlen);

/*
 * Frames due now: fills up to max iovecs with frames to send, one per UDP
 * datagram, and returns how many. They point into the engine's own
 * buffers, valid until the next call on this engine. The first call
 * starts the clock (OPEN goes out). Returns 0 once done.
 */
unsigned sl_sender_poll(struct sl_sender *s, uint64_t now_ns, struct iovec *frames, unsigned max);

/*
 * One datagram from the appliance (any datagram: one for another session
 * is ignored). Returns 0 while running, 1 once finished (see
 * sl_sender_done). Frames it makes due (NAK repairs) come out of the next
 * poll, so poll again soon (next_deadline then says "now").
 */
int sl_sender_input(struct sl_sender *s, const uint8_t *dgram, size_t len, uint64_t now_ns);

/* The session replies for this engine carry now (changes on resume). */
uint32_t sl_sender_session(const struct sl_sender *s);

/* When poll has something to do next (0 = at once; UINT64_MAX = done). */
uint64_t sl_sender_next_deadline(const struct sl_sender *s);

/*
 * 0 while running; 1 once finished, with *res filled (res may be NULL):
 * res->code 0 = confirmed. (Not sl_send_document's return value, whose 0
 * means confirmed: that one is sl_sender_rc.)
 */
int sl_sender_done(const struct sl_sender *s, struct sl_send_result *res);

/* Once finished: what sl_send_document would return (0 confirmed, 1 refused
 * or failed by the appliance, -1 local or network failure). */
int sl_sender_rc(const struct sl_sender *s);

/* Counters so far (datagrams, retransmits, naks_received, ...); for live stats. */
const struct sl_send_result *sl_sender_stats(const struct sl_sender *s);

/* The transport failed for good (e.g. send() said EBADF): finish with -1 and reason. */
void sl_sender_abort(struct sl_sender *s, const char *reason);

/* The kernel reported ICMP port unreachable: only sharpens the timeout message. */
void sl_sender_unreachable(struct sl_sender *s);

void sl_sender_free(struct sl_sender *s);

#endif
