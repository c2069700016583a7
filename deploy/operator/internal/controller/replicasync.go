package controller

// replicasync.go: the replica sync settings every router replica should run
// (spec.sync and its Secrets, as the admin API's SyncSettings), and whether
// one replica needs them pushed. Pure functions, unit-tested.
//
// A push is not free: the router leaves NATS and joins again (and asks a
// peer for a snapshot), so the settings go to a router process only when it
// does not run them already. The router never returns
// credentials, so what a process runs is judged from what the operator
// pushed to it (a hash of the settings, credentials included, and the
// servers and group it reported back) and from its GetSync: a process with
// a new replica id is a restarted router, and sync "off" while spec.sync is
// set is one that needs the settings again.

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"k8s.io/utils/ptr"

	routingv1alpha1 "sglang-router.dev/operator/api/v1alpha1"
	"sglang-router.dev/operator/internal/adminpb"
)

// The router's sync states (SyncStatus.state).
const (
	syncOff        = "off"
	syncConnecting = "connecting"
	syncUp         = "up"
	syncDown       = "down"
	syncRefused    = "refused"
)

// defaultSyncGroup is the router's --sync-group default.
const defaultSyncGroup = "default"

// SyncManaged: spec.sync names NATS servers, so the operator pushes it.
func SyncManaged(s *routingv1alpha1.SyncSpec) bool {
	return s != nil && len(s.NATSURLs) > 0
}

// secretText is a credential from a Secret, without the trailing
// whitespace a file-made Secret may carry (the router trims its
// --sync-nats-*-file files the same way).
func secretText(data map[string][]byte, key string) string {
	return strings.TrimRight(string(data[key]), " \t\r\n")
}

// DesiredSync turns spec.sync and its Secrets' data into the admin API's
// settings: nil when the operator does not manage sync. creds and tlsData
// are the data of the Secrets spec.sync names (nil when it names none). The
// errors name the Secret and key, never a value.
func DesiredSync(spec *routingv1alpha1.SyncSpec, creds, tlsData map[string][]byte) (*adminpb.SyncSettings, error) {
	if !SyncManaged(spec) {
		return nil, nil
	}
	group := spec.Group
	if group == "" {
		group = defaultSyncGroup
	}
	s := &adminpb.SyncSettings{NatsUrls: append([]string(nil), spec.NATSURLs...), Group: ptr.To(group)}
	if ref := spec.CredentialsSecretRef; ref != nil {
		token, user, password := secretText(creds, "token"), secretText(creds, "user"), secretText(creds, "password")
		switch {
		case token != "" && (user != "" || password != ""):
			return nil, fmt.Errorf("NATS credentials Secret %s: both token and user/password: keep one", ref.Name)
		case token != "":
			s.Token = ptr.To(token)
		case user != "" && password != "":
			s.User, s.Password = ptr.To(user), ptr.To(password)
		case user != "" || password != "":
			return nil, fmt.Errorf("NATS credentials Secret %s: user and password go together", ref.Name)
		default:
			return nil, fmt.Errorf("NATS credentials Secret %s: no key token, nor user and password", ref.Name)
		}
	}
	if name := spec.TLSSecretName; name != "" {
		ca, crt, key := tlsData["ca.crt"], tlsData["tls.crt"], tlsData["tls.key"]
		if len(ca) == 0 && len(crt) == 0 && len(key) == 0 {
			return nil, fmt.Errorf("NATS TLS Secret %s: no ca.crt, tls.crt or tls.key", name)
		}
		if len(ca) > 0 {
			if !x509.NewCertPool().AppendCertsFromPEM(ca) {
				return nil, fmt.Errorf("NATS TLS Secret %s: no PEM certificate under ca.crt", name)
			}
			s.TlsCaPem = ptr.To(string(ca))
		}
		if len(crt) > 0 || len(key) > 0 {
			if _, err := tls.X509KeyPair(crt, key); err != nil {
				return nil, fmt.Errorf("NATS TLS Secret %s: tls.crt/tls.key: %w", name, err)
			}
			s.TlsCertPem, s.TlsKeyPem = ptr.To(string(crt)), ptr.To(string(key))
		}
	}
	return s, nil
}

// SyncHash identifies settings, credentials included (only by the hash).
func SyncHash(s *adminpb.SyncSettings) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(s)
	if err != nil { // a message of strings always marshals
		return ""
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// syncServers are URLs as a router reports them: without credentials,
// sorted.
func syncServers(urls []string) []string {
	out := make([]string, 0, len(urls))
	for _, u := range urls {
		if p, err := url.Parse(u); err == nil && p.User != nil {
			p.User = nil
			u = p.String()
		}
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// syncMemory is what the operator last pushed to, or adopted from, one
// router process.
type syncMemory struct {
	replicaID string   // the process (a router draws a new id at every start)
	hash      string   // SyncHash of the settings; empty: nothing known
	servers   []string // servers and group as the process reported them
	group     string
	pushed    bool // false: adopted (the process already ran these servers and group)
}

type syncAction int

const (
	syncKeep  syncAction = iota // the process runs the settings
	syncAdopt                   // it runs them already (its flags, an earlier operator): remember, do not push
	syncPush
)

// decideSync says what to do with one replica given its GetSync status,
// and why (for the log and the event).
func decideSync(want *adminpb.SyncSettings, hash string, mem syncMemory, got *adminpb.SyncStatus) (syncAction, string) {
	state := got.GetState()
	if state == syncOff || state == "" {
		return syncPush, "its sync was off (a restarted router)"
	}
	if mem.hash == "" || mem.replicaID != got.GetReplicaId() {
		if state != syncRefused && SameWorkers(syncServers(want.GetNatsUrls()), syncServers(got.GetServers())) &&
			want.GetGroup() == got.GetGroup() {
			return syncAdopt, "it already runs these servers and group"
		}
		if state == syncRefused {
			return syncPush, "the NATS server refused the credentials it started with"
		}
		return syncPush, "it runs other servers or another group"
	}
	switch {
	case mem.hash != hash:
		return syncPush, "spec.sync or its Secrets changed"
	case !SameWorkers(mem.servers, syncServers(got.GetServers())) || mem.group != got.GetGroup():
		return syncPush, "its servers or group were changed by another client"
	case state == syncRefused && !mem.pushed:
		return syncPush, "the NATS server refused the credentials it started with"
	}
	return syncKeep, ""
}

// remember is the memory after an adoption or a push whose response is st.
func remember(st *adminpb.SyncStatus, hash string, pushed bool) syncMemory {
	return syncMemory{replicaID: st.GetReplicaId(), hash: hash, servers: syncServers(st.GetServers()),
		group: st.GetGroup(), pushed: pushed}
}
