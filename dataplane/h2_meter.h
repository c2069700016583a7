/*
 * h2_meter: a cost budget for the HTTP/2 frames a client sends that ask the
 * router for work but carry no request: empty DATA frames, PRIORITY,
 * WINDOW_UPDATE beyond what our own DATA frames call for, and frame types
 * nobody registered (nghttp2 drops those without a callback). A client
 * that streams them (eight seconds of them kept a core busy, issue 18)
 * spends the budget and loses the connection (GOAWAY ENHANCE_YOUR_CALM),
 * as Envoy closes such connections; nghttp2 1.52 has no limit of its own
 * for these (its rate limits cover SETTINGS, PING acks, CONTINUATION and
 * stream resets, which h2.c sets).
 *
 * A token bucket of SR_H2_METER_BURST tokens refilled at SR_H2_METER_RATE a
 * second; each metered frame costs one. WINDOW_UPDATE frames are free while
 * the client has credit: two per DATA frame the router sent (stream and
 * connection windows) and two per request it started (a client may widen
 * a new stream's window).
 *
 * A codec: it reads the client's bytes beside nghttp2 (frame headers only,
 * after the 24-byte connection preface) and does no I/O; one per
 * connection, one thread.
 */
#ifndef SR_H2_METER_H
#define SR_H2_METER_H

#include <stddef.h>
#include <stdint.h>

#define SR_H2_METER_BURST 1000
#define SR_H2_METER_RATE  100 /* tokens a second */

struct sr_h2_meter {
    size_t preface_left; /* client preface bytes still to skip */
    uint8_t head[9];     /* the frame header being read */
    size_t head_len;
    size_t payload_left; /* bytes of the current frame's payload to skip */
    double tokens;
    uint64_t refilled_ms;
    uint64_t credit; /* WINDOW_UPDATE frames that cost nothing */
    const char *why; /* after a refusal: which frames spent the budget */
};

void sr_h2_meter_init(struct sr_h2_meter *m, uint64_t now_ms);

/* The client's bytes, in order, from its first. 0, or -1 once the budget
 * is spent (then m->why names the frames; the caller ends the connection). */
int sr_h2_meter_feed(struct sr_h2_meter *m, const uint8_t *data, size_t len, uint64_t now_ms);

/* The router sent a DATA frame. */
void sr_h2_meter_data_sent(struct sr_h2_meter *m);

#endif
