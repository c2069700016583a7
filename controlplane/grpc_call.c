/* grpc_call: a call's response, status, deadline and dispatch (see
 * grpc_call.h). */
#include "grpc_call.h"

#include "grpc_wire.h"

#include "common/alloc.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

struct sr_grpc_call *sr_grpc_call_new(const struct sr_grpc_call_link *link, int32_t id,
                                      size_t max_body)
{
    struct sr_grpc_call *call = sr_calloc(1, sizeof(*call));
    if (call == NULL || (call->out = evbuffer_new()) == NULL) {
        sr_free(call);
        return NULL;
    }
    sr_buf_init(&call->body, max_body);
    call->link = link;
    call->id = id;
    return call;
}

static ssize_t read_out(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length,
                        uint32_t *flags, nghttp2_data_source *source, void *user_data)
{
    (void)user_data;
    struct sr_grpc_call *call = source->ptr;
    int n = evbuffer_remove(call->out, buf, length);
    if (n < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (evbuffer_get_length(call->out) > 0)
        return n;
    if (!call->finished)
        return n > 0 ? n : NGHTTP2_ERR_DEFERRED;
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    char code[16];
    snprintf(code, sizeof(code), "%d", call->status);
    nghttp2_nv trailers[] = {
        {(uint8_t *)"grpc-status", (uint8_t *)code, 11, strlen(code), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-message", (uint8_t *)call->message, 12, strlen(call->message),
         NGHTTP2_NV_FLAG_NONE},
    };
    if (nghttp2_submit_trailer(session, id, trailers, call->message[0] ? 2 : 1) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return n;
}

static int start_response(struct sr_grpc_call *call)
{
    nghttp2_nv hdrs[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider dp = {.source.ptr = call, .read_callback = read_out};
    call->response_started = true;
    return nghttp2_submit_response(call->link->session, call->id, hdrs, 2, &dp);
}

void sr_grpc_call_refuse_http(struct sr_grpc_call *call, const char *status)
{
    nghttp2_nv hdrs[] = {
        {(uint8_t *)":status", (uint8_t *)status, 7, strlen(status), NGHTTP2_NV_FLAG_NONE},
    };
    call->response_started = call->finished = true;
    nghttp2_submit_response(call->link->session, call->id, hdrs, 1, NULL);
}

static void stop_deadline(struct sr_grpc_call *call)
{
    if (call->deadline) {
        event_free(call->deadline);
        call->deadline = NULL;
    }
}

void sr_grpc_call_finish(struct sr_grpc_call *call, int status, const char *message)
{
    if (call->finished)
        return;
    call->finished = true;
    call->cancel = NULL;
    call->status = status;
    sr_grpc_percent_encode(message ? message : "", call->message, sizeof(call->message));
    stop_deadline(call);
    if (call->response_started) {
        nghttp2_session_resume_data(call->link->session, call->id);
    } else {
        /* Trailers-only: one HEADERS frame with END_STREAM. */
        char code[16];
        snprintf(code, sizeof(code), "%d", status);
        nghttp2_nv hdrs[] = {
            {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
            {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16,
             NGHTTP2_NV_FLAG_NONE},
            {(uint8_t *)"grpc-status", (uint8_t *)code, 11, strlen(code), NGHTTP2_NV_FLAG_NONE},
            {(uint8_t *)"grpc-message", (uint8_t *)call->message, 12, strlen(call->message),
             NGHTTP2_NV_FLAG_NONE},
        };
        call->response_started = true;
        nghttp2_submit_response(call->link->session, call->id, hdrs, call->message[0] ? 4 : 3,
                                NULL);
    }
    call->link->flush(call->link->conn);
}

int sr_grpc_call_send(struct sr_grpc_call *call, const ProtobufCMessage *msg)
{
    if (call->finished)
        return -1;
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t prefix[SR_GRPC_PREFIX];
    sr_grpc_prefix(prefix, (uint32_t)len);
    struct evbuffer_iovec v;
    if (evbuffer_add(call->out, prefix, sizeof(prefix)) != 0 ||
        evbuffer_reserve_space(call->out, len ? len : 1, &v, 1) != 1) {
        sr_grpc_call_finish(call, SR_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return -1;
    }
    protobuf_c_message_pack(msg, v.iov_base);
    v.iov_len = len;
    evbuffer_commit_space(call->out, &v, 1);
    if (!call->response_started) {
        if (start_response(call) != 0) {
            sr_grpc_call_finish(call, SR_GRPC_INTERNAL, "cannot start the response");
            return -1;
        }
    } else {
        nghttp2_session_resume_data(call->link->session, call->id);
    }
    call->link->flush(call->link->conn);
    return 0;
}

void sr_grpc_call_reply(struct sr_grpc_call *call, const ProtobufCMessage *msg)
{
    if (sr_grpc_call_send(call, msg) == 0)
        sr_grpc_call_finish(call, SR_GRPC_OK, NULL);
}

void sr_grpc_call_on_cancel(struct sr_grpc_call *call, void (*fn)(void *arg), void *arg)
{
    call->cancel = fn;
    call->cancel_arg = arg;
}

size_t sr_grpc_call_backlog(const struct sr_grpc_call *call)
{
    return evbuffer_get_length(call->out);
}

struct event_base *sr_grpc_call_base(struct sr_grpc_call *call)
{
    return call->link->base;
}

void sr_grpc_call_abandon(struct sr_grpc_call *call, int status, const char *message)
{
    void (*fn)(void *) = call->cancel;
    call->cancel = NULL;
    if (fn)
        fn(call->cancel_arg);
    if (!call->finished && status >= 0)
        sr_grpc_call_finish(call, status, message);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_grpc_call *call = arg;
    sr_grpc_call_abandon(call, SR_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
}

void sr_grpc_call_dispatch(struct sr_grpc_call *call, void *ctx)
{
    const uint8_t *data = NULL;
    size_t len = 0;
    switch (sr_grpc_unframe((const uint8_t *)call->body.data, call->body.len, &data, &len)) {
    case SR_GRPC_ONE_MESSAGE:
        break;
    case SR_GRPC_NO_MESSAGE:
    case SR_GRPC_MANY:
        sr_grpc_call_finish(call, SR_GRPC_UNIMPLEMENTED, "expected exactly one request message");
        return;
    case SR_GRPC_TRUNCATED:
        sr_grpc_call_finish(call, SR_GRPC_INTERNAL, "request message cut short");
        return;
    case SR_GRPC_COMPRESSED:
        sr_grpc_call_finish(call, SR_GRPC_UNIMPLEMENTED, "compressed messages are not supported");
        return;
    }
    if (!sr_grpc_strings_without_nul(call->method->input, data, len)) {
        sr_grpc_call_finish(call, SR_GRPC_INVALID_ARGUMENT, "a string field holds a NUL byte");
        return;
    }
    ProtobufCMessage *req = protobuf_c_message_unpack(call->method->input, NULL, len, data);
    if (req == NULL) {
        sr_grpc_call_finish(call, SR_GRPC_INTERNAL, "cannot parse the request message");
        return;
    }
    call->dispatched = true;
    call->method->handle(ctx, call, req);
    protobuf_c_message_free_unpacked(req, NULL);
}

int sr_grpc_call_arm_deadline(struct sr_grpc_call *call)
{
    call->deadline = evtimer_new(call->link->base, on_deadline, call);
    struct timeval tv = {(time_t)(call->timeout_ms / 1000),
                         (suseconds_t)(call->timeout_ms % 1000) * 1000};
    if (call->deadline == NULL || evtimer_add(call->deadline, &tv) != 0) {
        sr_grpc_call_finish(call, SR_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return -1;
    }
    return 0;
}

void sr_grpc_call_free(struct sr_grpc_call *call)
{
    stop_deadline(call);
    if (call->out)
        evbuffer_free(call->out);
    sr_buf_free(&call->body);
    sr_free(call);
}
