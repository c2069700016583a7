package controller

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	routingv1alpha1 "sglang-router.dev/operator/api/v1alpha1"
	"sglang-router.dev/operator/internal/adminpb"
)

// selfSigned returns a certificate and its key, PEM.
func selfSigned(t *testing.T) (crt, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func TestDesiredSyncFromSpecAndSecrets(t *testing.T) {
	for _, sp := range []*routingv1alpha1.SyncSpec{nil, {}, {Group: "g"}} {
		if s, err := DesiredSync(sp, nil, nil); s != nil || err != nil || SyncManaged(sp) {
			t.Fatalf("no URLs must mean not managed: %+v -> %v %v", sp, s, err)
		}
	}
	spec := &routingv1alpha1.SyncSpec{NATSURLs: []string{"nats://b:4222", "nats://a:4222"}}
	s, err := DesiredSync(spec, nil, nil)
	if err != nil || s.GetGroup() != "default" || len(s.GetNatsUrls()) != 2 || s.GetNatsUrls()[0] != "nats://b:4222" ||
		s.Token != nil || s.User != nil || s.TlsCaPem != nil {
		t.Fatalf("URLs only: %v %v", s, err)
	}

	spec.Group = "sglang"
	spec.CredentialsSecretRef = &routingv1alpha1.LocalSecretReference{Name: "nats-credentials"}
	s, err = DesiredSync(spec, map[string][]byte{"token": []byte("s3cret\n")}, nil)
	if err != nil || s.GetToken() != "s3cret" || s.GetGroup() != "sglang" || s.User != nil {
		t.Fatalf("token (trailing newline trimmed as the router trims its files): %v %v", s, err)
	}
	s, err = DesiredSync(spec, map[string][]byte{"user": []byte("router"), "password": []byte("pw")}, nil)
	if err != nil || s.GetUser() != "router" || s.GetPassword() != "pw" || s.Token != nil {
		t.Fatalf("user and password: %v %v", s, err)
	}
	for name, data := range map[string]map[string][]byte{
		"both":       {"token": []byte("VALUE"), "user": []byte("VALUE"), "password": []byte("VALUE")},
		"user only":  {"user": []byte("VALUE")},
		"empty":      {"token": []byte("\n")},
		"no secret ": nil,
	} {
		_, err := DesiredSync(spec, data, nil)
		if err == nil || !strings.Contains(err.Error(), "Secret nats-credentials") {
			t.Fatalf("%s: want an error naming the Secret, got %v", name, err)
		}
		if strings.Contains(err.Error(), "VALUE") {
			t.Fatalf("%s: an error must not show a value: %v", name, err)
		}
	}

	crt, key := selfSigned(t)
	spec.CredentialsSecretRef, spec.TLSSecretName = nil, "nats-client-tls"
	s, err = DesiredSync(spec, nil, map[string][]byte{"ca.crt": crt, "tls.crt": crt, "tls.key": key})
	if err != nil || s.GetTlsCaPem() != string(crt) || s.GetTlsCertPem() != string(crt) || s.GetTlsKeyPem() != string(key) {
		t.Fatalf("mutual TLS: %v", err)
	}
	s, err = DesiredSync(spec, nil, map[string][]byte{"ca.crt": crt})
	if err != nil || s.TlsCertPem != nil || s.TlsKeyPem != nil {
		t.Fatalf("CA only: %v %v", s, err)
	}
	for name, data := range map[string]map[string][]byte{
		"nothing":      {},
		"bad ca":       {"ca.crt": []byte("not PEM")},
		"crt, no key":  {"ca.crt": crt, "tls.crt": crt},
		"key mismatch": {"tls.crt": crt, "tls.key": []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")},
	} {
		if _, err := DesiredSync(spec, nil, data); err == nil || !strings.Contains(err.Error(), "Secret nats-client-tls") {
			t.Fatalf("%s: want an error naming the TLS Secret, got %v", name, err)
		}
	}
}

func TestSyncHashCoversCredentials(t *testing.T) {
	a := &adminpb.SyncSettings{NatsUrls: []string{"nats://n:4222"}, Group: ptr.To("g"), Token: ptr.To("one")}
	b := &adminpb.SyncSettings{NatsUrls: []string{"nats://n:4222"}, Group: ptr.To("g"), Token: ptr.To("one")}
	if SyncHash(a) == "" || SyncHash(a) != SyncHash(b) {
		t.Fatal("equal settings, equal hashes")
	}
	b.Token = ptr.To("two")
	if SyncHash(a) == SyncHash(b) {
		t.Fatal("a new token must change the hash")
	}
	if strings.Contains(SyncHash(a), "one") {
		t.Fatal("the hash shows the token")
	}
}

func TestDecideSyncPushesOnlyWhatIsMissing(t *testing.T) {
	want := &adminpb.SyncSettings{NatsUrls: []string{"nats://n2:4222", "nats://n1:4222"}, Group: ptr.To("sglang"),
		Token: ptr.To("t")}
	hash := SyncHash(want)
	status := func(id, state string, servers ...string) *adminpb.SyncStatus {
		return &adminpb.SyncStatus{ReplicaId: ptr.To(id), State: ptr.To(state), Group: ptr.To("sglang"),
			Servers: servers}
	}
	both := []string{"nats://n1:4222", "nats://n2:4222"}
	pushedTo := func(id string) syncMemory { return remember(status(id, syncConnecting, both...), hash, true) }

	cases := []struct {
		name string
		mem  syncMemory
		got  *adminpb.SyncStatus
		want syncAction
	}{
		{"a router started without sync", syncMemory{}, status("a", syncOff), syncPush},
		{"a restarted router (sync off, new id)", pushedTo("a"), status("b", syncOff), syncPush},
		{"started with the flags: adopted, in any order", syncMemory{}, status("a", syncUp, both[1], both[0]), syncAdopt},
		{"an operator restart finds it up", syncMemory{}, status("a", syncDown, both...), syncAdopt},
		{"other servers", syncMemory{}, status("a", syncUp, "nats://other:4222"), syncPush},
		{"refused with the credentials of its flags", syncMemory{}, status("a", syncRefused, both...), syncPush},
		{"in sync", pushedTo("a"), status("a", syncUp, both...), syncKeep},
		{"down: wait for the reconnection", pushedTo("a"), status("a", syncDown, both...), syncKeep},
		{"refused our credentials: no loop", pushedTo("a"), status("a", syncRefused, both...), syncKeep},
		{"changed with sglctl", pushedTo("a"), status("a", syncUp, "nats://other:4222"), syncPush},
		{"a Secret changed", remember(status("a", syncUp, both...), "old", true), status("a", syncUp, both...), syncPush},
		{"adopted, then refused", remember(status("a", syncUp, both...), hash, false), status("a", syncRefused, both...),
			syncPush},
	}
	for _, c := range cases {
		if got, why := decideSync(want, hash, c.mem, c.got); got != c.want {
			t.Errorf("%s: action %d (%s), want %d", c.name, got, why, c.want)
		}
	}
	other := status("a", syncUp, both...)
	other.Group = ptr.To("default")
	if got, _ := decideSync(want, hash, syncMemory{}, other); got != syncPush {
		t.Error("another group must be pushed")
	}
}

func TestSyncReadyCondition(t *testing.T) {
	now := time.Now()
	replica := func(name, state string, peers int32) *ReplicaState {
		return &ReplicaState{Target: RouterTarget{Pod: name, Address: name + ":30001"}, WorkersSynced: true,
			ConfigSynced: true, LastSync: now, SyncState: state, SyncPeers: ptr.To(peers)}
	}
	workers := []DesiredWorker{{URL: "http://10.0.0.1:8000", Pool: "workers", Role: "regular"}}
	obs := func(rs ...*ReplicaState) Observation {
		return Observation{Generation: 2, Workers: workers, Replicas: rs, SyncManaged: true, SyncGroup: "sglang",
			Now: now}
	}

	st := BuildStatus(routingv1alpha1.SGLangRouterStatus{}, obs(replica("r-0", "up", 2), replica("r-1", "up", 2),
		replica("r-2", "up", 2)))
	if c := condition(t, st, "SyncReady"); c.Status != metav1.ConditionTrue || c.Reason != "AllReplicasUp" ||
		!strings.Contains(c.Message, "3 of 3") || !strings.Contains(c.Message, "sglang") {
		t.Fatalf("all up: %+v", c)
	}
	if st.RouterReplicas[0].SyncState != "up" || *st.RouterReplicas[0].SyncPeers != 2 {
		t.Fatalf("replica status: %+v", st.RouterReplicas[0])
	}
	if d := condition(t, st, "Degraded"); d.Status != metav1.ConditionFalse {
		t.Fatalf("all up, degraded: %+v", d)
	}

	// NATS lost: SyncReady false, Degraded SyncDown, Ready stays true
	// (routing goes on from each replica's own view).
	st = BuildStatus(st, obs(replica("r-0", "down", 0), replica("r-1", "up", 0), replica("r-2", "connecting", 0)))
	if c := condition(t, st, "SyncReady"); c.Status != metav1.ConditionFalse || c.Reason != "ReplicasNotUp" ||
		!strings.Contains(c.Message, "r-0: down") || !strings.Contains(c.Message, "r-2: connecting") {
		t.Fatalf("down: %+v", c)
	}
	if d := condition(t, st, "Degraded"); d.Status != metav1.ConditionTrue || d.Reason != "SyncDown" ||
		!strings.Contains(d.Message, "r-0") || strings.Contains(d.Message, "r-2") {
		t.Fatalf("down, degraded: %+v", d)
	}
	if r := condition(t, st, "Ready"); r.Status != metav1.ConditionTrue {
		t.Fatalf("down, ready: %+v", r)
	}

	st = BuildStatus(st, obs(replica("r-0", "refused", 0), replica("r-1", "down", 0)))
	if c := condition(t, st, "SyncReady"); c.Reason != "SyncRefused" || !strings.Contains(c.Message, "r-0") {
		t.Fatalf("refused: %+v", c)
	}
	if d := condition(t, st, "Degraded"); d.Reason != "SyncRefused" {
		t.Fatalf("refused, degraded: %+v", d)
	}

	o := obs(replica("r-0", "", 0))
	o.SyncErr = errors.New("NATS credentials Secret nats-credentials: not found")
	st = BuildStatus(st, o)
	if c := condition(t, st, "SyncReady"); c.Reason != "SyncCredentialsUnavailable" {
		t.Fatalf("no Secret: %+v", c)
	}
	if d := condition(t, st, "Degraded"); d.Reason != "SyncCredentialsUnavailable" {
		t.Fatalf("no Secret, degraded: %+v", d)
	}

	// spec.sync removed: the condition goes away.
	o = obs(replica("r-0", "up", 0))
	o.SyncManaged = false
	if st = BuildStatus(st, o); meta.FindStatusCondition(st.Conditions, "SyncReady") != nil {
		t.Fatalf("not managed, conditions: %+v", st.Conditions)
	}
}
