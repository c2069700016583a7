/* h2_meter: a budget for frames that carry no request (see h2_meter.h). */
#include "h2_meter.h"

#include <string.h>

#define PREFACE_BYTES 24
#define CREDIT_MAX    (1u << 20)

enum { T_DATA = 0x0, T_HEADERS = 0x1, T_PRIORITY = 0x2, T_WINDOW_UPDATE = 0x8, T_LAST_KNOWN = 0x9 };
#define FLAG_END_STREAM 0x1

void sr_h2_meter_init(struct sr_h2_meter *m, uint64_t now_ms)
{
    memset(m, 0, sizeof(*m));
    m->preface_left = PREFACE_BYTES;
    m->tokens = SR_H2_METER_BURST;
    m->refilled_ms = now_ms;
}

static void add_credit(struct sr_h2_meter *m, uint64_t n)
{
    m->credit = m->credit + n > CREDIT_MAX ? CREDIT_MAX : m->credit + n;
}

void sr_h2_meter_data_sent(struct sr_h2_meter *m)
{
    add_credit(m, 2);
}

/* What a frame costs; why says what it is. */
static int cost(struct sr_h2_meter *m, const char **why)
{
    uint32_t length = (uint32_t)m->head[0] << 16 | (uint32_t)m->head[1] << 8 | m->head[2];
    uint8_t type = m->head[3], flags = m->head[4];
    switch (type) {
    case T_DATA:
        *why = "empty DATA frames";
        return length == 0 && !(flags & FLAG_END_STREAM) ? 1 : 0;
    case T_HEADERS:
        add_credit(m, 2);
        return 0;
    case T_PRIORITY:
        *why = "PRIORITY frames";
        return 1;
    case T_WINDOW_UPDATE:
        *why = "WINDOW_UPDATE frames";
        if (m->credit > 0) {
            m->credit--;
            return 0;
        }
        return 1;
    default:
        *why = "frames of unknown types";
        return type > T_LAST_KNOWN ? 1 : 0;
    }
}

int sr_h2_meter_feed(struct sr_h2_meter *m, const uint8_t *data, size_t len, uint64_t now_ms)
{
    if (m->why)
        return -1;
    if (now_ms > m->refilled_ms) {
        m->tokens += (double)(now_ms - m->refilled_ms) * SR_H2_METER_RATE / 1000.0;
        if (m->tokens > SR_H2_METER_BURST)
            m->tokens = SR_H2_METER_BURST;
        m->refilled_ms = now_ms;
    }
    size_t i = 0;
    while (i < len) {
        if (m->preface_left > 0) {
            size_t n = len - i < m->preface_left ? len - i : m->preface_left;
            m->preface_left -= n;
            i += n;
            continue;
        }
        if (m->payload_left > 0) {
            size_t n = len - i < m->payload_left ? len - i : m->payload_left;
            m->payload_left -= n;
            i += n;
            continue;
        }
        m->head[m->head_len++] = data[i++];
        if (m->head_len < sizeof(m->head))
            continue;
        m->head_len = 0;
        m->payload_left = (size_t)m->head[0] << 16 | (size_t)m->head[1] << 8 | m->head[2];
        const char *why = NULL;
        int c = cost(m, &why);
        if (c == 0)
            continue;
        if (m->tokens < c) {
            m->why = why;
            return -1;
        }
        m->tokens -= c;
    }
    return 0;
}
