/* Unit tests for controlplane/sync_pb: SyncSettings as sync settings, the
 * check's messages naming SyncSettings fields, and the status as a
 * SyncStatus message that never carries a credential. */
#include "common/err.h"
#include "common/log.h"
#include "common/registry.h"
#include "common/settings.h"
#include "controlplane/sync_pb.h"

#include <event2/thread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define PB(name)      Sglang__Router__Admin__V1__##name
#define PB_INIT(name) SGLANG__ROUTER__ADMIN__V1__##name##__INIT

static void test_settings_cross_field_by_field(void **state)
{
    (void)state;
    char *urls[] = {"nats://a:4222", "tls://b:4222"};
    PB(SyncSettings) in = PB_INIT(SYNC_SETTINGS);
    in.n_nats_urls = 2;
    in.nats_urls = urls;
    in.group = "g1";
    in.token = "t";
    in.user = "u";
    in.password = "p";
    in.tls_ca_pem = "ca";
    in.tls_cert_pem = "cert";
    in.tls_key_pem = "key";
    struct sr_sync_settings set;
    sr_sync_pb_settings(&in, &set);
    assert_int_equal(set.nurls, 2);
    assert_string_equal(set.urls[1], "tls://b:4222");
    assert_string_equal(set.group, "g1");
    assert_string_equal(set.token, "t");
    assert_string_equal(set.user, "u");
    assert_string_equal(set.password, "p");
    assert_string_equal(set.tls_ca_pem, "ca");
    assert_string_equal(set.tls_cert_pem, "cert");
    assert_string_equal(set.tls_key_pem, "key");
    /* No settings at all: no URL, which is off. */
    sr_sync_pb_settings(NULL, &set);
    assert_int_equal(set.nurls, 0);
    assert_null(set.group);
    assert_null(set.token);
}

/* Every refusal of the check names the field it is about. */
static void test_check_messages_name_the_field(void **state)
{
    (void)state;
    const char *bad_url[] = {"http://127.0.0.1:4222"};
    const char *good_url[] = {"nats://127.0.0.1:4222"};
    const struct {
        struct sr_sync_settings set;
        const char *field;
    } cases[] = {
        {{.urls = bad_url, .nurls = 1}, "nats_urls: --sync-nats-url: "},
        {{.urls = good_url, .nurls = 1, .group = "a b"}, "group: --sync-group: "},
        {{.urls = good_url, .nurls = 1, .token = "t", .user = "u", .password = "p"}, "token: "},
        {{.urls = good_url, .nurls = 1, .user = "u"}, "user: "},
        {{.urls = good_url, .nurls = 1, .password = "p"}, "user: "},
        {{.urls = good_url, .nurls = 1, .tls_cert_pem = "c"}, "tls_cert_pem: "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[300], msg[400];
        assert_int_equal(sr_sync_check(&cases[i].set, err, sizeof(err)), SR_ERR_INVALID);
        sr_sync_pb_error(err, msg, sizeof(msg));
        if (strncmp(msg, cases[i].field, strlen(cases[i].field)) != 0)
            fail_msg("case %zu: '%s' does not start with '%s'", i, msg, cases[i].field);
    }
    char msg[100];
    sr_sync_pb_error("something else", msg, sizeof(msg));
    assert_string_equal(msg, "settings: something else");
}

static void test_no_sync_is_off(void **state)
{
    (void)state;
    struct sr_sync_pb_status s;
    assert_int_equal(sr_sync_pb_status_fill(NULL, &s), 0);
    assert_string_equal(s.msg.state, "off");
    assert_int_equal(s.msg.n_peers, 0);
    sr_sync_pb_status_clear(&s);
}

struct fixture {
    struct sr_config cfg;
    struct sr_settings *settings;
    struct sr_registry *registry;
    struct sr_sync *sync;
};

static int setup(void **state)
{
    static struct fixture f;
    int err = 0;
    assert_int_equal(sr_config_init(&f.cfg), 0);
    f.settings = sr_settings_new(&f.cfg, &err);
    f.registry = sr_registry_new();
    assert_non_null(f.settings);
    assert_non_null(f.registry);
    f.sync = sr_sync_new(f.registry, f.settings, &err);
    assert_non_null(f.sync);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sr_sync_free(f->sync);
    sr_registry_free(f->registry);
    sr_settings_free(f->settings);
    sr_config_clear(&f->cfg);
    return 0;
}

static bool contains(const uint8_t *data, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(data + i, needle, n) == 0)
            return true;
    return false;
}

/* Right after the settings change, the status describes them: the new
 * servers (without user information), the group, "connecting"; every
 * counter is set; and no credential is anywhere in the packed message. */
static void test_status_after_apply_has_no_credentials(void **state)
{
    struct fixture *f = *state;
    struct sr_sync_pb_status s;
    assert_int_equal(sr_sync_pb_status_fill(f->sync, &s), 0);
    assert_string_equal(s.msg.state, "off");
    assert_null(s.msg.group);
    assert_int_equal(strlen(s.msg.replica_id), 16);
    assert_true(s.msg.has_dropped && s.msg.has_messages_sent && s.msg.has_lag_seconds);
    sr_sync_pb_status_clear(&s);

    /* Port 1 on loopback refuses: the link stays connecting or down. */
    const char *urls[] = {"nats://alice:hunter2-secret@127.0.0.1:1"};
    struct sr_sync_settings set = {.urls = urls, .nurls = 1, .group = "g-1"};
    char err[300];
    assert_int_equal(sr_sync_apply(f->sync, &set, err, sizeof(err)), 0);
    assert_int_equal(sr_sync_pb_status_fill(f->sync, &s), 0);
    assert_true(strcmp(s.msg.state, "connecting") == 0 || strcmp(s.msg.state, "down") == 0);
    assert_string_equal(s.msg.group, "g-1");
    assert_int_equal(s.msg.n_servers, 1);
    assert_null(strstr(s.msg.servers[0], "hunter2"));
    assert_non_null(strstr(s.msg.servers[0], "127.0.0.1:1"));
    size_t len = protobuf_c_message_get_packed_size(&s.msg.base);
    uint8_t *packed = malloc(len);
    assert_non_null(packed);
    protobuf_c_message_pack(&s.msg.base, packed);
    assert_false(contains(packed, len, "hunter2"));
    free(packed);
    sr_sync_pb_status_clear(&s);

    /* The refusal is reported, without the credentials either. */
    for (int i = 0; i < 500; i++) {
        assert_int_equal(sr_sync_pb_status_fill(f->sync, &s), 0);
        if (strcmp(s.msg.state, "down") == 0 && s.msg.last_error != NULL)
            break;
        sr_sync_pb_status_clear(&s);
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    assert_string_equal(s.msg.state, "down");
    assert_non_null(s.msg.last_error);
    assert_null(strstr(s.msg.last_error, "hunter2"));
    sr_sync_pb_status_clear(&s);

    /* Off again: the answer says so at once, not the link left behind. */
    struct sr_sync_settings off = {0};
    assert_int_equal(sr_sync_apply(f->sync, &off, err, sizeof(err)), 0);
    assert_int_equal(sr_sync_pb_status_fill(f->sync, &s), 0);
    assert_string_equal(s.msg.state, "off");
    assert_int_equal(s.msg.n_servers, 0);
    assert_null(s.msg.last_error);
    sr_sync_pb_status_clear(&s);
}

int main(void)
{
    sr_log_set_level(SR_LOG_OFF);
    evthread_use_pthreads(); /* as the router does: the sync's loop is woken from others */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings_cross_field_by_field),
        cmocka_unit_test(test_check_messages_name_the_field),
        cmocka_unit_test(test_no_sync_is_off),
        cmocka_unit_test_setup_teardown(test_status_after_apply_has_no_credentials, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
